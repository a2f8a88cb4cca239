// Multi-vector (ColBERT) retrieval on a torch device (target densefb::torch): the token
// embeddings of a MultiVectorIndex copied to a CUDA GPU (or torch's CPU device), where both
// candidate generation (the exact nearest document tokens of every query token) and exact
// weighted MaxSim scoring run. It is a TokenCollection, so the maxsim retriever, rerank_maxsim
// and colbert_prf read it as they read the host index (resource "multivector"):
//
//   auto device = densefb::TorchTokenCollection::Create(*host_index, options);  // options.device = "cuda"
//   auto maxsim = std::make_shared<densefb::MaxSimRetriever>(std::move(*device), token_encoder);
//
// The collection is a snapshot of the live documents when it is created: later updates to the
// host index are not seen (create a new one). Token rows are the live documents' tokens in
// document order, so for a host index without deleted or updated documents they are the host's
// rows. Scores are the device's float32 inner products, summed over query tokens in double as
// the host does: rankings equal the host index's (with an exact token index) except where two
// scores differ by a rounding (~1e-7).
//
// Memory: num_tokens() x dim x 4 bytes on the device (refused with ResourceExhausted naming the
// bytes when it does not fit, or beyond Options::memory_limit), plus per Rerank block the
// candidates' tokens (rerank_block documents x the longest one's tokens x dim x 4 bytes).
#ifndef DENSEFB_TORCH_MULTIVECTOR_H_
#define DENSEFB_TORCH_MULTIVECTOR_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "densefb/multivector.h"
#include "densefb/status.h"
#include "densefb/torch/flat_index.h"

namespace densefb {

struct TorchTokenCollectionOptions {
  std::string device = "cpu";        // "cpu", "cuda", "cuda:1"
  std::int64_t memory_limit = 0;     // device bytes for the token embeddings; 0 = what the device has
  std::int64_t rerank_block = 512;   // candidate documents scored per batched matmul
  absl::Status Validate() const;
};

class TorchTokenCollection final : public TokenCollection {
 public:
  using Options = TorchTokenCollectionOptions;

  static absl::StatusOr<std::unique_ptr<TorchTokenCollection>> Create(const MultiVectorIndex& index,
                                                                      Options options = {});
  ~TorchTokenCollection() override;

  int dim() const override { return dim_; }
  std::int64_t size() const override { return static_cast<std::int64_t>(starts_.size()); }
  std::int64_t num_documents() const override { return live_; }
  std::int64_t num_tokens() const override { return static_cast<std::int64_t>(token_ids_.size()); }
  bool has_token_index() const override { return true; }
  const Options& options() const { return options_; }
  // The exact index over the token rows (ids = rows) on the device.
  const TorchFlatIndex& token_index() const { return *tokens_; }

  absl::StatusOr<TokenNeighbours> Neighbours(ConstMatrixView vectors, int k, int ef_search,
                                             int num_threads) const override;
  // Weighted MaxSim of every live candidate on the device: per block of candidates, their tokens
  // gathered into a padded (block, longest, dim) tensor, one batched matmul with the query's
  // tokens, the max over each document's own tokens, and the weighted sum in double.
  absl::StatusOr<BatchRanking> Rerank(absl::Span<const TokenQuery> queries, const BatchRanking& candidates,
                                      int k = 0, int num_threads = 0) const override;
  absl::StatusOr<std::vector<RowMatrix>> Documents(absl::Span<const std::int64_t> ids) const override;
  absl::StatusOr<std::vector<std::int64_t>> DocumentFrequencies(
      absl::Span<const std::int32_t> token_ids) const override;
  absl::StatusOr<std::vector<std::int32_t>> ExcludedTokenIds() const override { return excluded_; }

 private:
  TorchTokenCollection() = default;

  int dim_ = 0;
  Options options_;
  std::unique_ptr<TorchFlatIndex> tokens_;  // every token row, ids = rows
  std::vector<std::int64_t> starts_;        // per document: first token row (-1 = deleted)
  std::vector<std::int64_t> counts_;        // per document: token rows
  std::vector<std::int64_t> token_doc_;     // per token row: its document
  std::vector<std::int32_t> token_ids_;     // per token row: its vocabulary id
  absl::flat_hash_map<std::int32_t, std::int64_t> df_;
  std::vector<std::int32_t> excluded_;
  std::int64_t live_ = 0;
};

}  // namespace densefb

#endif  // DENSEFB_TORCH_MULTIVECTOR_H_
