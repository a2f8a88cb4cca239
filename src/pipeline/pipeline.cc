// Resources, QueryState and Pipeline (include/densefb/pipeline.h).
#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "densefb/encoder.h"
#include "densefb/pipeline.h"
#include "pipeline/internal.h"

namespace densefb {

// ---- Resources ------------------------------------------------------------------------------

std::vector<std::string> Resources::Names() const {
  std::vector<std::string> out;
  for (const auto& kv : entries_) out.push_back(kv.first);
  return out;
}

absl::Status Resources::Missing(absl::string_view name, absl::string_view stage,
                                absl::string_view what, const char* wanted_type) const {
  auto it = entries_.find(std::string(name));
  if (it != entries_.end()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "stage '", stage, "' needs ", what, " (resource '", name, "'), but the resource was set as ",
        it->second.type.name(), ", not ", wanted_type, " (set it as the interface type, e.g. Set<VectorIndex>)"));
  }
  return MissingResource(stage, what, name);
}

absl::Status MissingResource(absl::string_view stage, absl::string_view what, absl::string_view name) {
  return absl::FailedPreconditionError(
      absl::StrCat("stage '", stage, "' needs ", what, " (resource '", name, "')"));
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
  state.original_texts = state.query_texts;
  state.options = options;
  return state;
}

absl::Status QueryState::EnsureQueryVectors(const Encoder* encoder, absl::string_view stage) {
  if (has_query_vectors()) return absl::OkStatus();
  if (size() == 0) {
    query_vectors.resize(0, encoder != nullptr ? encoder->Dimension() : 0);
    return absl::OkStatus();
  }
  if (encoder == nullptr) return MissingResource(stage, "a query encoder", "encoder");
  RowMatrix vectors(static_cast<std::int64_t>(size()), encoder->Dimension());
  DENSEFB_RETURN_IF_ERROR(encoder->EncodeQueries(query_texts, MutableView(vectors),
                                                 MakeEncodeOptions(options.encode_batch_size)));
  query_vectors = std::move(vectors);
  return absl::OkStatus();
}

absl::Status QueryState::EnsureBm25Queries(const Bm25Collection* bm25, absl::string_view stage) {
  if (has_bm25_queries() || size() == 0) return absl::OkStatus();
  if (bm25 == nullptr) return MissingResource(stage, "a BM25 index", "bm25");
  DENSEFB_ASSIGN_OR_RETURN(std::vector<WeightedQuery> analyzed, bm25->AnalyzeQueries(query_texts));
  if (analyzed.size() != size()) {
    return absl::InternalError(absl::StrCat("the BM25 collection analysed ", analyzed.size(), " of ", size(),
                                            " queries"));
  }
  bm25_queries = std::move(analyzed);
  return absl::OkStatus();
}

absl::Status QueryState::EnsureTokenQueries(const TokenEncoder* encoder, absl::string_view stage) {
  if (has_token_queries() || size() == 0) return absl::OkStatus();
  if (encoder == nullptr) return MissingResource(stage, "a multi-vector (token) encoder", "token_encoder");
  DENSEFB_ASSIGN_OR_RETURN(token_queries,
                           encoder->EncodeQueries(query_texts, MakeEncodeOptions(options.encode_batch_size)));
  if (token_queries.size() != size()) {
    return absl::InternalError(absl::StrCat("the token encoder returned ", token_queries.size(),
                                            " matrices for ", size(), " queries"));
  }
  token_weights.clear();
  for (const RowMatrix& m : token_queries) token_weights.emplace_back(m.rows(), 1.0f);
  return absl::OkStatus();
}

absl::Status QueryState::ReplaceTexts(std::vector<std::string> texts) {
  if (texts.size() != size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("new query texts: got ", texts.size(), " for ", size(), " queries"));
  }
  query_texts = std::move(texts);
  query_vectors.resize(0, query_vectors.cols());
  bm25_queries.clear();
  token_queries.clear();
  token_weights.clear();
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

absl::Status QueryState::CheckQueryDim(std::int64_t dim, absl::string_view stage) const {
  if (query_vectors.cols() != dim) {
    return absl::InvalidArgumentError(absl::StrCat("stage '", stage, "': query vectors have dimension ",
                                                   query_vectors.cols(), ", the dense index has dimension ",
                                                   dim));
  }
  return absl::OkStatus();
}

// ---- PipelineStep ---------------------------------------------------------------------------

std::string PipelineStep::ToString() const {
  switch (role) {
    case StageRole::kRetriever: return retriever->ToString();
    case StageRole::kFeedbackModel: return feedback->ToString();
    case StageRole::kReranker: return reranker->ToString();
    case StageRole::kFusion: {
      std::vector<std::string> parts{fusion->ToString(branches.size())};
      for (const Pipeline& p : branches) parts.push_back(p.ToString());
      return absl::StrCat("fuse(", absl::StrJoin(parts, ","), ")");
    }
  }
  return "";
}

namespace pipeline_internal {

bool NeedsRanking(const PipelineStep& step) {
  if (step.ReadsRanking()) return true;
  if (step.role != StageRole::kFusion) return false;
  for (const Pipeline& branch : step.branches) {
    if (!branch.empty() && NeedsRanking(branch.steps().front())) return true;
  }
  return false;
}

}  // namespace pipeline_internal

namespace {

absl::Status Prepare(const PipelineStep& step, QueryState& state) {
  switch (step.role) {
    case StageRole::kRetriever: return step.retriever->Prepare(state);
    case StageRole::kFeedbackModel: return step.feedback->Prepare(state);
    case StageRole::kReranker: return step.reranker->Prepare(state);
    case StageRole::kFusion:
      for (const Pipeline& b : step.branches) {
        for (const PipelineStep& s : b.steps()) DENSEFB_RETURN_IF_ERROR(Prepare(s, state));
      }
      return absl::OkStatus();
  }
  return absl::OkStatus();
}

bool Bound(const PipelineStep& step) {
  switch (step.role) {
    case StageRole::kRetriever: return step.retriever->bound();
    case StageRole::kFeedbackModel: return step.feedback->bound();
    case StageRole::kReranker: return step.reranker->bound();
    case StageRole::kFusion: return true;
  }
  return true;
}

}  // namespace

// ---- Pipeline -------------------------------------------------------------------------------

absl::StatusOr<Pipeline> Pipeline::Fuse(std::shared_ptr<const Fusion> method,
                                        std::vector<Pipeline> branches) {
  if (method == nullptr) return absl::InvalidArgumentError("fuse: the fusion method is null");
  if (branches.size() < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("fuse needs at least two pipelines, got ", branches.size()));
  }
  for (std::size_t b = 0; b < branches.size(); ++b) {
    if (branches[b].empty()) {
      return absl::InvalidArgumentError(absl::StrCat("fuse: pipeline ", b + 1, " is empty"));
    }
  }
  DENSEFB_RETURN_IF_ERROR(method->CheckInputs(branches.size()));
  PipelineStep step;
  step.role = StageRole::kFusion;
  step.fusion = std::move(method);
  step.branches = std::move(branches);
  return Pipeline(std::vector<PipelineStep>{std::move(step)});
}

Pipeline Pipeline::Then(const Pipeline& next) const {
  std::vector<PipelineStep> steps = steps_;
  steps.insert(steps.end(), next.steps_.begin(), next.steps_.end());
  return Pipeline(std::move(steps));
}

Pipeline operator>>(const Pipeline& a, const Pipeline& b) { return a.Then(b); }

absl::Status Pipeline::Validate() const {
  bool has_ranking = false;
  for (const PipelineStep& step : steps_) {
    if (!has_ranking && pipeline_internal::NeedsRanking(step)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "stage '", step.ToString(), "' needs a ranking from an earlier stage"));
    }
    has_ranking = has_ranking || step.role != StageRole::kFeedbackModel;  // feedback passes it on
  }
  return absl::OkStatus();
}

absl::StatusOr<Pipeline> Pipeline::Bind(const Resources& resources) const {
  std::vector<PipelineStep> steps;
  steps.reserve(steps_.size());
  for (const PipelineStep& step : steps_) {
    if (step.role == StageRole::kFusion) {
      PipelineStep node = step;
      for (Pipeline& b : node.branches) {
        DENSEFB_ASSIGN_OR_RETURN(b, b.Bind(resources));
      }
      steps.push_back(std::move(node));
    } else if (Bound(step)) {
      steps.push_back(step);
    } else {
      // A built-in made without a resource: the same stage from its spec, with the resources.
      DENSEFB_ASSIGN_OR_RETURN(Pipeline rebuilt, ParseFragment(step.ToString(), resources));
      if (rebuilt.steps_.size() != 1 || rebuilt.steps_[0].role != step.role) {
        return absl::InternalError(absl::StrCat("stage '", step.ToString(), "' does not parse back to itself"));
      }
      steps.push_back(std::move(rebuilt.steps_[0]));
    }
  }
  return Pipeline(std::move(steps));
}

std::string Pipeline::ToString() const {
  std::vector<std::string> parts;
  parts.reserve(steps_.size());
  for (const PipelineStep& s : steps_) parts.push_back(s.ToString());
  return absl::StrJoin(parts, " >> ");
}

std::shared_ptr<const Retriever> Pipeline::Planned(std::size_t i) const {
  const PipelineStep& step = steps_[i];
  if (i + 2 < steps_.size() && steps_[i + 1].role == StageRole::kFeedbackModel &&
      steps_[i + 2].role == StageRole::kRetriever) {
    const std::int64_t depth = steps_[i + 1].feedback->DepthRead();
    if (depth > 0) {
      std::shared_ptr<const Retriever> shallow = step.retriever->WithDepth(depth);
      if (shallow != nullptr) return shallow;
    }
  }
  return step.retriever;
}

std::string Pipeline::Explain() const {
  std::vector<std::string> parts;
  for (std::size_t i = 0; i < steps_.size(); ++i) {
    const PipelineStep& step = steps_[i];
    if (step.role == StageRole::kRetriever) {
      parts.push_back(Planned(i)->ToString());
    } else if (step.role == StageRole::kFusion) {
      std::vector<std::string> inner{step.fusion->ToString(step.branches.size())};
      for (const Pipeline& b : step.branches) inner.push_back(b.Explain());
      parts.push_back(absl::StrCat("fuse(", absl::StrJoin(inner, ","), ")"));
    } else {
      parts.push_back(step.ToString());
    }
  }
  return absl::StrJoin(parts, " >> ");
}

std::vector<std::string> Pipeline::Requires() const {
  std::set<std::string> names;
  for (const PipelineStep& s : steps_) {
    names.insert(s.resources.begin(), s.resources.end());
    for (const Pipeline& b : s.branches) {
      for (std::string& n : b.Requires()) names.insert(std::move(n));
    }
  }
  return std::vector<std::string>(names.begin(), names.end());
}

namespace {

void CollectCounters(const std::vector<PipelineStep>& steps, const std::string& prefix,
                     std::vector<Pipeline::StageCounters>* out) {
  for (std::size_t i = 0; i < steps.size(); ++i) {
    const PipelineStep& step = steps[i];
    const std::string path = absl::StrCat(prefix, i + 1);
    std::map<std::string, std::int64_t> counts;
    if (step.feedback != nullptr) counts = step.feedback->Counters();
    if (step.reranker != nullptr) counts = step.reranker->Counters();
    if (!counts.empty()) out->push_back({absl::StrCat(path, " ", step.ToString()), std::move(counts)});
    for (std::size_t b = 0; b < step.branches.size(); ++b) {
      CollectCounters(step.branches[b].steps(), absl::StrCat(path, ".b", b + 1, "."), out);
    }
  }
}

}  // namespace

std::vector<Pipeline::StageCounters> Pipeline::Counters() const {
  std::vector<StageCounters> out;
  CollectCounters(steps_, "", &out);
  return out;
}

namespace {

absl::Status InStep(const absl::Status& s, const std::string& where) {
  return absl::Status(s.code(), absl::StrCat(where, ": ", s.message()));
}

absl::Status CheckRanking(const BatchRanking& ranking, const QueryState& state, const std::string& who) {
  if (ranking.size() != state.size()) {
    return absl::InternalError(absl::StrCat(who, " returned ", ranking.size(), " lists for ",
                                            state.size(), " queries"));
  }
  return absl::OkStatus();
}

// The documents of `ranking` the state's filter allows (the built-in stages return nothing
// else; a user stage may ignore the filter).
void DropDisallowed(const QueryState& state, BatchRanking& ranking) {
  const Filter* filter = state.options.filter.get();
  if (filter == nullptr) return;
  for (std::size_t q = 0; q < ranking.lists.size(); ++q) {
    Ranking& list = ranking.lists[q];
    const auto row = static_cast<std::int64_t>(q);
    list.erase(std::remove_if(list.begin(), list.end(), [&](const ScoredDoc& d) { return !filter->Allows(row, d.id); }),
               list.end());
  }
}

}  // namespace

absl::Status Pipeline::RunSteps(QueryState& state, BatchRanking* ranking, bool* has_ranking) const {
  for (std::size_t i = 0; i < steps_.size(); ++i) {
    DENSEFB_RETURN_IF_ERROR(state.CheckInterrupted());
    const PipelineStep& step = steps_[i];
    const std::string where = absl::StrCat("pipeline stage ", step.role == StageRole::kFusion
                                                                  ? std::string("fuse(...)")
                                                                  : step.ToString());
    if (step.ReadsRanking() && !*has_ranking) {
      return absl::FailedPreconditionError(
          absl::StrCat("stage '", step.ToString(), "' needs a ranking from an earlier stage"));
    }
    switch (step.role) {
      case StageRole::kRetriever: {
        absl::StatusOr<BatchRanking> r = Planned(i)->Retrieve(state);
        if (!r.ok()) return InStep(r.status(), where);
        DENSEFB_RETURN_IF_ERROR(CheckRanking(*r, state, step.ToString()));
        DropDisallowed(state, *r);
        *ranking = *std::move(r);
        *has_ranking = true;
        break;
      }
      case StageRole::kFeedbackModel: {
        const absl::Status s = step.feedback->Refine(state, *ranking);
        if (!s.ok()) return InStep(s, where);
        break;
      }
      case StageRole::kReranker: {
        absl::StatusOr<BatchRanking> r = step.reranker->Rerank(state, std::move(*ranking));
        if (!r.ok()) return InStep(r.status(), where);
        DENSEFB_RETURN_IF_ERROR(CheckRanking(*r, state, step.ToString()));
        DropDisallowed(state, *r);
        *ranking = *std::move(r);
        break;
      }
      case StageRole::kFusion: {
        // Representations the branches use are computed once, on the incoming state, so that
        // every branch starts from the same original encoding.
        for (const Pipeline& b : step.branches) {
          for (const PipelineStep& s : b.steps_) {
            const absl::Status p = Prepare(s, state);
            if (!p.ok()) return InStep(p, where);
          }
        }
        std::vector<BatchRanking> rankings(step.branches.size());
        for (std::size_t b = 0; b < step.branches.size(); ++b) {
          QueryState branch = state;
          BatchRanking branch_ranking = *has_ranking ? *ranking : BatchRanking{};
          bool branch_has = *has_ranking;
          const Pipeline& p = step.branches[b];
          const absl::Status s = p.RunSteps(branch, &branch_ranking, &branch_has);
          if (!s.ok()) {
            return absl::Status(s.code(), absl::StrCat("fusion branch ", b + 1, " (", p.ToString(),
                                                       "), ", s.message()));
          }
          if (!branch_has || branch_ranking.size() != state.size()) {
            return absl::FailedPreconditionError(absl::StrCat(
                "fusion branch ", b + 1, " (", p.ToString(), ") ends without a ranking"));
          }
          rankings[b] = std::move(branch_ranking);
        }
        std::vector<const BatchRanking*> inputs;
        for (const BatchRanking& br : rankings) inputs.push_back(&br);
        absl::StatusOr<BatchRanking> fused = step.fusion->Fuse(inputs);
        if (!fused.ok()) return fused.status();
        DENSEFB_RETURN_IF_ERROR(CheckRanking(*fused, state, "the fusion method"));
        *ranking = *std::move(fused);
        *has_ranking = true;
        break;
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<BatchRanking> Pipeline::Run(QueryState& state) const {
  if (state.query_texts.size() != state.query_ids.size()) {
    return absl::InvalidArgumentError(absl::StrCat("query state has ", state.query_ids.size(),
                                                   " ids and ", state.query_texts.size(), " texts"));
  }
  if (state.original_texts.size() != state.query_texts.size()) state.original_texts = state.query_texts;
  if (state.options.k < 0 || state.options.num_threads < 0 || state.options.encode_batch_size < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "pipeline options: k = ", state.options.k, " and num_threads = ", state.options.num_threads,
        " must be >= 0, encode_batch_size = ", state.options.encode_batch_size, " must be >= 1"));
  }
  if (steps_.empty()) return absl::InvalidArgumentError("the pipeline has no stage");
  if (state.options.filter != nullptr) {
    DENSEFB_RETURN_IF_ERROR(state.options.filter->CheckQueries(static_cast<std::int64_t>(state.size())));
  }
  BatchRanking ranking;
  bool has_ranking = false;
  DENSEFB_RETURN_IF_ERROR(RunSteps(state, &ranking, &has_ranking));
  if (!has_ranking) {
    return absl::FailedPreconditionError(absl::StrCat("pipeline '", ToString(), "' ends without a ranking"));
  }
  if (state.options.k > 0) {
    for (Ranking& list : ranking.lists) {
      if (static_cast<std::int64_t>(list.size()) > state.options.k) list.resize(state.options.k);
    }
  }
  return ranking;
}

absl::StatusOr<BatchRanking> Pipeline::Run(const Queries& queries, const PipelineOptions& options,
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
  return Run(state);
}

absl::StatusOr<densefb::Run> Pipeline::Search(const Queries& queries, absl::Span<const std::string> doc_names,
                                              const PipelineOptions& options,
                                              const RowMatrix* query_vectors) const {
  DENSEFB_ASSIGN_OR_RETURN(BatchRanking ranking, Run(queries, options, query_vectors));
  std::vector<std::string> query_ids;
  query_ids.reserve(queries.size());
  for (const Query& q : queries.queries()) query_ids.push_back(q.id);
  // The canonical spec without spaces (a run tag is one whitespace-free word in TREC files).
  return ToRun(ranking, query_ids, doc_names, absl::StrReplaceAll(ToString(), {{" ", ""}}));
}

}  // namespace densefb
