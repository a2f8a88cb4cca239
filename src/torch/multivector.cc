// TorchTokenCollection: candidate generation and MaxSim on a torch device (see the header).
#include "densefb/torch/multivector.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"
#include "multivector/maxsim_internal.h"
#include "torch/flat_index_internal.h"
#include "torch/model_files.h"

namespace densefb {

absl::Status TorchTokenCollectionOptions::Validate() const {
  if (rerank_block < 1) return absl::InvalidArgumentError(absl::StrCat("rerank_block = ", rerank_block, " must be >= 1"));
  if (memory_limit < 0) {
    return absl::InvalidArgumentError(absl::StrCat("memory_limit = ", memory_limit, " is negative (0 = no limit)"));
  }
  return torch_impl::ParseDevice(device).status();
}

TorchTokenCollection::~TorchTokenCollection() = default;

absl::StatusOr<std::unique_ptr<TorchTokenCollection>> TorchTokenCollection::Create(const MultiVectorIndex& index,
                                                                                   Options options) {
  DENSEFB_RETURN_IF_ERROR(options.Validate());
  std::unique_ptr<TorchTokenCollection> c(new TorchTokenCollection());
  c->dim_ = index.dim();
  c->options_ = options;
  TorchFlatIndex::Options fo;
  fo.device = options.device;
  fo.memory_limit = options.memory_limit;
  DENSEFB_ASSIGN_OR_RETURN(c->tokens_, TorchFlatIndex::Create(c->dim_, Metric::kInnerProduct, fo));
  const std::int64_t n = index.size();
  c->starts_.assign(static_cast<std::size_t>(n), -1);
  c->counts_.assign(static_cast<std::size_t>(n), 0);
  // The live documents' tokens in document order, copied in chunks of about 64k rows.
  std::vector<float> chunk;
  std::int64_t chunk_rows = 0;
  auto flush = [&]() -> absl::Status {
    if (chunk_rows == 0) return absl::OkStatus();
    DENSEFB_RETURN_IF_ERROR(c->tokens_->Add({chunk.data(), chunk_rows, c->dim_}));
    chunk.clear();
    chunk_rows = 0;
    return absl::OkStatus();
  };
  std::int64_t live_rows = 0;  // the host's num_tokens() also counts deleted and replaced rows
  for (std::int64_t d = 0; d < n; ++d) {
    const absl::StatusOr<ConstMatrixView> doc = index.Document(d);
    if (doc.ok()) live_rows += doc->rows;
  }
  DENSEFB_RETURN_IF_ERROR(c->tokens_->Reserve(live_rows));
  for (std::int64_t d = 0; d < n; ++d) {
    absl::StatusOr<ConstMatrixView> doc = index.Document(d);
    if (absl::IsNotFound(doc.status())) continue;  // deleted
    DENSEFB_RETURN_IF_ERROR(doc.status());
    DENSEFB_ASSIGN_OR_RETURN(const absl::Span<const std::int32_t> ids, index.DocumentTokenIds(d));
    c->starts_[d] = static_cast<std::int64_t>(c->token_ids_.size());
    c->counts_[d] = doc->rows;
    ++c->live_;
    c->token_ids_.insert(c->token_ids_.end(), ids.begin(), ids.end());
    c->token_doc_.insert(c->token_doc_.end(), ids.size(), d);
    chunk.insert(chunk.end(), doc->data, doc->data + doc->rows * doc->cols);
    chunk_rows += doc->rows;
    if (chunk_rows >= (1 << 16)) DENSEFB_RETURN_IF_ERROR(flush());
  }
  DENSEFB_RETURN_IF_ERROR(flush());
  // Document frequencies are the host index's (of the same live documents), for the token ids
  // the snapshot holds.
  std::vector<std::int32_t> vocabulary = c->token_ids_;
  std::sort(vocabulary.begin(), vocabulary.end());
  vocabulary.erase(std::unique(vocabulary.begin(), vocabulary.end()), vocabulary.end());
  DENSEFB_ASSIGN_OR_RETURN(const std::vector<std::int64_t> df, index.DocumentFrequencies(vocabulary));
  for (std::size_t i = 0; i < vocabulary.size(); ++i) c->df_[vocabulary[i]] = df[i];
  const absl::Span<const std::int32_t> excluded = index.excluded_token_ids();
  c->excluded_.assign(excluded.begin(), excluded.end());
  return c;
}

absl::StatusOr<TokenNeighbours> TorchTokenCollection::Neighbours(ConstMatrixView vectors, int k, int /*ef_search*/,
                                                                 int num_threads) const {
  if (k < 1) return absl::InvalidArgumentError(absl::StrCat("k = ", k, " must be >= 1"));
  SearchOptions so;
  so.k = k;
  so.num_threads = num_threads;
  DENSEFB_ASSIGN_OR_RETURN(SearchResult hits, tokens_->Search(vectors, so));
  return mv_internal::NeighboursOfRows(std::move(hits), num_tokens(), token_doc_.data(), token_ids_.data());
}

absl::StatusOr<BatchRanking> TorchTokenCollection::Rerank(absl::Span<const TokenQuery> queries,
                                                          const BatchRanking& candidates, int k,
                                                          int num_threads) const {
  if (candidates.size() != queries.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat(queries.size(), " queries but ", candidates.size(), " candidate lists"));
  }
  if (num_threads < 0) return absl::InvalidArgumentError(absl::StrCat("num_threads = ", num_threads, " is negative"));
  for (std::size_t q = 0; q < queries.size(); ++q) {
    DENSEFB_RETURN_IF_ERROR(mv_internal::CheckTokenQuery(queries[q], dim_, static_cast<std::int64_t>(q)));
    for (const ScoredDoc& d : candidates.lists[q]) {
      if (d.id < 0 || d.id >= size()) {
        return absl::OutOfRangeError(
            absl::StrCat("document ", d.id, " is not in the multi-vector index (", size(), " documents)"));
      }
    }
  }
  const at::Device device = *torch_impl::ParseDevice(options_.device);
  BatchRanking out;
  out.lists.resize(queries.size());
  try {
    c10::InferenceMode guard;
    const at::Tensor stored = torch_impl::StoredRows(*tokens_);
    for (std::size_t q = 0; q < queries.size(); ++q) {
      // Live candidates, each once (deleted ones are dropped, as the host index drops them).
      std::vector<std::int64_t> ids;
      for (const ScoredDoc& d : candidates.lists[q]) {
        if (starts_[d.id] >= 0) ids.push_back(d.id);
      }
      std::sort(ids.begin(), ids.end());
      ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
      Ranking& list = out.lists[q];
      list.resize(ids.size());
      for (std::size_t i = 0; i < ids.size(); ++i) list[i] = {ids[i], 0.0f};
      const TokenQuery& query = queries[q];
      const std::int64_t m = query.vectors.rows();
      if (m > 0 && !ids.empty()) {
        const at::Tensor qv =
            at::from_blob(const_cast<float*>(query.vectors.data()), {m, dim_}, at::kFloat).to(device);
        std::vector<double> w(static_cast<std::size_t>(m), 1.0);
        for (std::size_t i = 0; i < query.weights.size(); ++i) w[i] = query.weights[i];
        const at::Tensor weights = at::tensor(w, at::kDouble).to(device);
        for (std::size_t b = 0; b < ids.size(); b += static_cast<std::size_t>(options_.rerank_block)) {
          const std::size_t e = std::min(ids.size(), b + static_cast<std::size_t>(options_.rerank_block));
          const auto bn = static_cast<std::int64_t>(e - b);
          std::int64_t longest = 0;
          for (std::size_t i = b; i < e; ++i) longest = std::max(longest, counts_[ids[i]]);
          if (longest == 0) continue;  // documents without tokens score 0
          std::vector<std::int64_t> rows(static_cast<std::size_t>(bn * longest), 0);
          std::vector<std::uint8_t> pad(static_cast<std::size_t>(bn * longest), 1);
          std::vector<std::uint8_t> empty(static_cast<std::size_t>(bn), 0);
          for (std::int64_t i = 0; i < bn; ++i) {
            const std::int64_t id = ids[b + i];
            empty[i] = counts_[id] == 0;
            for (std::int64_t j = 0; j < counts_[id]; ++j) {
              rows[i * longest + j] = starts_[id] + j;
              pad[i * longest + j] = 0;
            }
          }
          const at::Tensor tokens = stored.index_select(0, at::tensor(rows, at::kLong).to(device))
                                        .to(at::kFloat)
                                        .view({bn, longest, dim_});
          at::Tensor sims = at::matmul(tokens, qv.t());  // (bn, longest, m)
          sims.masked_fill_(at::from_blob(pad.data(), {bn, longest, 1}, at::kByte).to(device, at::kBool),
                            -std::numeric_limits<float>::infinity());
          at::Tensor best = std::get<0>(sims.max(1)).to(at::kDouble);  // (bn, m)
          best.masked_fill_(at::from_blob(empty.data(), {bn, 1}, at::kByte).to(device, at::kBool), 0.0);
          const at::Tensor totals = at::matmul(best, weights).to(at::kCPU, at::kFloat).contiguous();
          const float* t = totals.data_ptr<float>();
          for (std::int64_t i = 0; i < bn; ++i) list[b + i].score = t[i];
        }
      }
      SortRanking(list, k);
    }
  } catch (const std::exception& e) {
    return torch_impl::TorchError(e, absl::StrCat("MaxSim on ", options_.device));
  }
  return out;
}

absl::StatusOr<std::vector<RowMatrix>> TorchTokenCollection::Documents(absl::Span<const std::int64_t> ids) const {
  std::vector<RowMatrix> out;
  out.reserve(ids.size());
  try {
    c10::InferenceMode guard;
    const at::Tensor stored = torch_impl::StoredRows(*tokens_);
    for (std::int64_t id : ids) {
      if (id < 0 || id >= size()) {
        return absl::OutOfRangeError(absl::StrCat("document ", id, " is not in the index (", size(), " documents)"));
      }
      if (starts_[id] < 0) return absl::NotFoundError(absl::StrCat("document ", id, " was deleted"));
      const at::Tensor rows = stored.narrow(0, starts_[id], counts_[id]).to(at::kCPU, at::kFloat).contiguous();
      out.emplace_back(Eigen::Map<const RowMatrix>(rows.data_ptr<float>(), counts_[id], dim_));
    }
  } catch (const std::exception& e) {
    return torch_impl::TorchError(e, absl::StrCat("documents on ", options_.device));
  }
  return out;
}

absl::StatusOr<std::vector<std::int64_t>> TorchTokenCollection::DocumentFrequencies(
    absl::Span<const std::int32_t> token_ids) const {
  std::vector<std::int64_t> out;
  out.reserve(token_ids.size());
  for (std::int32_t t : token_ids) {
    const auto it = df_.find(t);
    out.push_back(it == df_.end() ? 0 : it->second);
  }
  return out;
}

}  // namespace densefb
