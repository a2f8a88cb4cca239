// Resources, QueryState and Pipeline (include/densefb/pipeline.h).
#include <algorithm>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "densefb/encoder.h"
#include "densefb/index.h"
#include "densefb/pipeline.h"

namespace densefb {

// ---- Resources ------------------------------------------------------------------------------

const std::vector<std::string>& Resources::Names() {
  static const auto* names = new std::vector<std::string>{
      "corpus", "encoder", "dense_index", "bm25", "token_encoder", "multivector", "cross_encoder"};
  return *names;
}

bool Resources::Has(absl::string_view name) const {
  if (name == "corpus") return corpus != nullptr;
  if (name == "encoder") return encoder != nullptr;
  if (name == "dense_index") return dense_index != nullptr;
  if (name == "bm25") return bm25 != nullptr;
  if (name == "token_encoder") return token_encoder != nullptr;
  if (name == "multivector") return multivector != nullptr;
  if (name == "cross_encoder") return cross_encoder != nullptr;
  return false;
}

namespace {

const char* ResourceDescription(absl::string_view name) {
  if (name == "corpus") return "a corpus";
  if (name == "encoder") return "a query encoder";
  if (name == "dense_index") return "a dense vector index";
  if (name == "bm25") return "a BM25 index";
  if (name == "token_encoder") return "a multi-vector (token) encoder";
  if (name == "multivector") return "a multi-vector index";
  if (name == "cross_encoder") return "a cross-encoder";
  return "an unknown resource";
}

}  // namespace

absl::Status RequireResource(const Resources& resources, absl::string_view name,
                             absl::string_view stage) {
  if (resources.Has(name)) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat("stage '", stage, "' needs ",
                                                    ResourceDescription(name), " (resource '",
                                                    name, "')"));
}

// ---- QueryState -----------------------------------------------------------------------------

QueryState QueryState::FromQueries(const Queries& queries, const PipelineOptions& options) {
  QueryState state;
  state.query_ids.reserve(queries.size());
  state.query_texts.reserve(queries.size());
  for (const Query& q : queries.queries()) {
    state.query_ids.push_back(q.id);
    state.query_texts.push_back(q.text);
  }
  state.options = options;
  return state;
}

absl::Status QueryState::EnsureQueryVectors(const Resources& resources, absl::string_view stage) {
  if (has_query_vectors()) return absl::OkStatus();
  if (size() == 0) {
    query_vectors.resize(0, resources.encoder != nullptr ? resources.encoder->Dimension() : 0);
    return absl::OkStatus();
  }
  DENSEFB_RETURN_IF_ERROR(RequireResource(resources, "encoder", stage));
  RowMatrix vectors(static_cast<std::int64_t>(size()), resources.encoder->Dimension());
  DENSEFB_RETURN_IF_ERROR(resources.encoder->EncodeQueries(query_texts, MutableView(vectors),
                                                           MakeEncodeOptions(options.encode_batch_size)));
  query_vectors = std::move(vectors);
  return absl::OkStatus();
}

absl::Status QueryState::EnsureBm25Queries(const Resources& resources, absl::string_view stage) {
  if (bm25_queries.size() == size() && size() > 0) return absl::OkStatus();
  DENSEFB_RETURN_IF_ERROR(RequireResource(resources, "bm25", stage));
  bm25_queries.clear();
  bm25_queries.reserve(size());
  for (const std::string& text : query_texts) bm25_queries.push_back(resources.bm25->AnalyzeQuery(text));
  return absl::OkStatus();
}

absl::Status QueryState::EnsureTokenQueries(const Resources& resources, absl::string_view stage) {
  if (token_queries.size() == size() && token_weights.size() == size() && size() > 0) {
    return absl::OkStatus();
  }
  DENSEFB_RETURN_IF_ERROR(RequireResource(resources, "token_encoder", stage));
  DENSEFB_ASSIGN_OR_RETURN(token_queries, resources.token_encoder->EncodeQueries(
                                               query_texts, MakeEncodeOptions(options.encode_batch_size)));
  if (token_queries.size() != size()) {
    return absl::InternalError(absl::StrCat("the token encoder returned ", token_queries.size(),
                                            " matrices for ", size(), " queries"));
  }
  token_weights.clear();
  for (const RowMatrix& m : token_queries) token_weights.emplace_back(m.rows(), 1.0f);
  return absl::OkStatus();
}

absl::Status QueryState::CheckInterrupted() const {
  if (options.interrupted && options.interrupted()) return absl::CancelledError("pipeline run interrupted");
  return absl::OkStatus();
}

EncodeOptions QueryState::MakeEncodeOptions(int batch_size) const {
  EncodeOptions encode;
  encode.batch_size = batch_size;
  if (options.interrupted) {
    const std::function<bool()> interrupted = options.interrupted;
    encode.progress = [interrupted](std::int64_t, std::int64_t) { return !interrupted(); };
  }
  return encode;
}

absl::Status QueryState::RequireRanking(absl::string_view stage) const {
  if (has_ranking && ranking.size() == size()) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat("stage '", stage, "' needs a ranking from an earlier stage"));
}

// ---- Pipeline -------------------------------------------------------------------------------

Pipeline::Pipeline(std::vector<std::shared_ptr<const Stage>> stages) : stages_(std::move(stages)) {}

std::string Pipeline::ToString() const {
  std::vector<std::string> parts;
  parts.reserve(stages_.size());
  for (const auto& s : stages_) parts.push_back(s->ToString());
  return absl::StrJoin(parts, " >> ");
}

const Stage* Pipeline::Planned(std::size_t i, const Resources& resources, std::unique_ptr<Stage>& holder) const {
  if (i + 2 < stages_.size() && stages_[i]->ReplacesRanking() && stages_[i + 2]->ReplacesRanking()) {
    const std::int64_t depth = stages_[i + 1]->RankingDepthRead();
    if (depth > 0) holder = stages_[i]->Shallow(depth, resources);
    if (holder != nullptr) return holder.get();
  }
  return stages_[i].get();
}

std::string Pipeline::Explain(const Resources& resources) const {
  std::vector<std::string> parts;
  for (std::size_t i = 0; i < stages_.size(); ++i) {
    std::unique_ptr<Stage> holder;
    parts.push_back(Planned(i, resources, holder)->ToString());
  }
  return absl::StrJoin(parts, " >> ");
}

std::vector<std::string> Pipeline::Requires() const {
  std::set<std::string> names;
  for (const auto& s : stages_) {
    for (std::string& r : s->Requires()) names.insert(std::move(r));
  }
  return std::vector<std::string>(names.begin(), names.end());
}

absl::Status Pipeline::Run(const Resources& resources, QueryState& state) const {
  if (state.query_texts.size() != state.query_ids.size()) {
    return absl::InvalidArgumentError(absl::StrCat("query state has ", state.query_ids.size(),
                                                   " ids and ", state.query_texts.size(), " texts"));
  }
  if (state.options.k < 0 || state.options.num_threads < 0 || state.options.encode_batch_size < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "pipeline options: k = ", state.options.k, " and num_threads = ", state.options.num_threads,
        " must be >= 0, encode_batch_size = ", state.options.encode_batch_size, " must be >= 1"));
  }
  if (stages_.empty()) return absl::InvalidArgumentError("the pipeline has no stage");
  for (std::size_t i = 0; i < stages_.size(); ++i) {
    DENSEFB_RETURN_IF_ERROR(state.CheckInterrupted());
    std::unique_ptr<Stage> shallow;
    const Stage* stage = Planned(i, resources, shallow);
    const absl::Status status = stage->Run(resources, state);
    if (!status.ok()) {
      return absl::Status(status.code(), absl::StrCat("pipeline stage ", stages_[i]->ToString(), ": ",
                                                      status.message()));
    }
  }
  if (!state.has_ranking || state.ranking.size() != state.size()) {
    return absl::FailedPreconditionError(
        absl::StrCat("pipeline '", ToString(), "' ends without a ranking"));
  }
  if (state.options.k > 0) {
    for (Ranking& list : state.ranking.lists) {
      if (static_cast<std::int64_t>(list.size()) > state.options.k) list.resize(state.options.k);
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<BatchRanking> Pipeline::Run(const Resources& resources, const Queries& queries,
                                           const PipelineOptions& options,
                                           const RowMatrix* query_vectors) const {
  QueryState state = QueryState::FromQueries(queries, options);
  if (query_vectors != nullptr) {
    if (static_cast<std::size_t>(query_vectors->rows()) != queries.size()) {
      return absl::InvalidArgumentError(absl::StrCat("query_vectors has ", query_vectors->rows(),
                                                     " rows for ", queries.size(), " queries"));
    }
    DENSEFB_RETURN_IF_ERROR(CheckFinite(View(*query_vectors), "query vectors"));
    state.query_vectors = *query_vectors;
  }
  DENSEFB_RETURN_IF_ERROR(Run(resources, state));
  return std::move(state.ranking);
}

absl::StatusOr<densefb::Run> Pipeline::Search(const Resources& resources, const Queries& queries,
                                              const PipelineOptions& options,
                                              const RowMatrix* query_vectors) const {
  const std::vector<std::string>* names = nullptr;
  if (resources.corpus != nullptr) {
    names = &resources.corpus->ids().names();
  } else if (resources.bm25 != nullptr) {
    names = &resources.bm25->doc_names();
  } else {
    return absl::FailedPreconditionError(
        "document names come from the corpus or the BM25 index; neither resource is set");
  }
  DENSEFB_ASSIGN_OR_RETURN(BatchRanking ranking, Run(resources, queries, options, query_vectors));
  std::vector<std::string> query_ids;
  query_ids.reserve(queries.size());
  for (const Query& q : queries.queries()) query_ids.push_back(q.id);
  // The canonical spec without spaces (a run tag is one whitespace-free word in TREC files).
  return ToRun(ranking, query_ids, *names, absl::StrReplaceAll(ToString(), {{" ", ""}}));
}

}  // namespace densefb
