// A residual-compressed multi-vector collection, ColBERTv2's storage (Santhanam et al., NAACL
// 2022): every token embedding is kept as the id of its nearest centroid plus its residual
// quantized to `nbits` bits per dimension, so a 384-dimensional float32 token (1,536 bytes)
// takes 4 + 96 bytes at 2 bits (4 + 48 at 1 bit), plus its 4-byte token id.
//
// Compression, as ColBERTv2's indexer and ResidualCodec do it:
//   1. centroids: k-means (Lloyd, squared L2, `kmeans_iters` iterations from `num_centroids`
//      distinct sample tokens picked at random with `seed`; an empty cluster takes half of the
//      largest one, split along a small perturbation) over a sample of the tokens, then, with
//      `normalize`, each centroid normalised to unit length. num_centroids = 0 picks ColBERTv2's
//      2^floor(log2(16 * sqrt(tokens))); the sample is at most 256 tokens per centroid
//      (faiss's max_points_per_centroid), drawn uniformly without replacement.
//   2. every token's code: its nearest centroid by squared L2, ties to the smaller id (with unit
//      centroids, the one of largest inner product).
//   3. residual buckets: over a held-out 5% of the sample (at most 64k tokens; at least one),
//      the residuals r = x - c(x) pooled over all dimensions; the 2^nbits - 1 bucket cutoffs are
//      their quantiles at i / 2^nbits (i = 1 .. 2^nbits - 1) and the 2^nbits bucket weights their
//      quantiles at (i + 0.5) / 2^nbits (linear interpolation, as torch.quantile).
//   4. each residual value's code: the number of cutoffs strictly below it (torch.bucketize).
// Decompression: x' = c + w[code] per dimension, normalised to unit length when `normalize`
// (ColBERTv2's decompress; the default, for unit-length token embeddings such as ColBERT's).
//
// Everything the multi-vector stages read is answered over the decompressed embeddings x':
// exact weighted MaxSim (Rerank), Documents, and Neighbours, the nearest token embeddings of a
// vector, through the centroids as an inverted file (PLAID's candidate generation): the
// `nprobe` centroids of largest inner product with the vector are probed and all their tokens
// scored exactly; with nprobe = num_centroids it is exact over x'. Token ids, document
// frequencies, IDF's N and the excluded token ids are those of the source collection, so
// ColBERT-PRF (its k-means over feedback documents' tokens, its centroid-token votes, its IDF
// weights) and MaxSim run unchanged on the compressed collection.
//
// Built once from a MultiVectorIndex (documents deleted there stay deleted ids here); no live
// updates. Files: Save() writes kind "MVRC" (version 1) through the atomic, checksummed writer;
// Load() validates every field (codes below num_centroids, rows inside the matrix, ...).
// Thread safety: immutable after Build/Load; every method may run concurrently.
#ifndef DENSEFB_RESIDUAL_MULTIVECTOR_H_
#define DENSEFB_RESIDUAL_MULTIVECTOR_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "densefb/multivector.h"
#include "densefb/status.h"

namespace densefb {

struct ResidualCompressionConfig {
  int nbits = 2;                   // bits per residual dimension: 1, 2, 4 or 8 (ColBERTv2: 1 or 2)
  std::int64_t num_centroids = 0;  // 0: 2^floor(log2(16 sqrt(tokens))), at most the tokens
  int kmeans_iters = 4;            // ColBERTv2's kmeans_niters
  std::uint64_t seed = 123;        // ColBERTv2's k-means seed
  int nprobe = 4;                  // centroids probed by Neighbours (ColBERTv2's ncells for k > 100)
  bool normalize = true;           // unit-length decompressed embeddings (ColBERTv2)
  absl::Status Validate() const;
};

// Bytes held by a ResidualMultiVectorIndex, by part.
struct ResidualMemoryUsage {
  std::int64_t residuals = 0;  // tokens x dim x nbits / 8
  std::int64_t codes = 0;      // tokens x 4 (centroid ids)
  std::int64_t token_ids = 0;  // tokens x 4
  std::int64_t centroids = 0;  // num_centroids x dim x 4, and the inverted lists (tokens x 8)
  std::int64_t documents = 0;  // per document: start, count, deleted flag
  std::int64_t total() const { return residuals + codes + token_ids + centroids + documents; }
  // What the float32 token matrix of the same tokens takes (tokens x dim x 4).
  std::int64_t float32_matrix = 0;
};

class ResidualMultiVectorIndex final : public TokenCollection {
 public:
  static constexpr std::uint32_t kFormatVersion = 1;
  // Token ids index a document-frequency table (8 bytes an id up to the largest), so they are
  // bounded: ids above this (2^22 - 1, far above any tokenizer's vocabulary) are refused by
  // Build and by Load.
  static constexpr std::int32_t kMaxTokenId = (1 << 22) - 1;

  // Compresses the live documents of `source` (deleted ones stay deleted ids). Fails when the
  // config is invalid or, with normalize, when the source tokens are not unit length (then
  // compress with normalize = false).
  static absl::StatusOr<std::unique_ptr<ResidualMultiVectorIndex>> Build(const MultiVectorIndex& source,
                                                                         const ResidualCompressionConfig& config = {},
                                                                         int num_threads = 0);
  // Reads a file written by Save(), naming the file, the offset and the field on any problem.
  static absl::StatusOr<std::unique_ptr<ResidualMultiVectorIndex>> Load(const std::string& path);
  absl::Status Save(const std::string& path) const;
  ~ResidualMultiVectorIndex() override;

  int dim() const override { return dim_; }
  std::int64_t size() const override { return static_cast<std::int64_t>(starts_.size()); }
  std::int64_t num_documents() const override { return size() - num_deleted_; }
  std::int64_t num_deleted() const { return num_deleted_; }
  std::int64_t num_tokens() const override { return static_cast<std::int64_t>(codes_.size()); }
  bool has_token_index() const override { return true; }

  int nbits() const { return nbits_; }
  bool normalize() const { return normalize_; }
  std::int64_t num_centroids() const { return centroids_.rows(); }
  int nprobe() const { return nprobe_; }
  // The centroids probed by later Neighbours calls (1 .. num_centroids). Not thread-safe:
  // set it before searching.
  absl::Status set_nprobe(int nprobe);
  const RowMatrix& centroids() const { return centroids_; }
  const std::vector<float>& bucket_cutoffs() const { return cutoffs_; }  // 2^nbits - 1
  const std::vector<float>& bucket_weights() const { return weights_; }  // 2^nbits
  // Centroid id of every token row.
  absl::Span<const std::int32_t> codes() const { return codes_; }
  absl::Span<const std::int32_t> token_ids() const { return token_ids_; }
  // Packed residual buckets, num_tokens() x ceil(dim * nbits / 8) bytes: dimension j of a row
  // in byte j / (8 / nbits), at bit (j % (8 / nbits)) * nbits, low bits first.
  absl::Span<const std::uint8_t> residual_codes() const { return residuals_; }
  ResidualMemoryUsage memory_usage() const;

  // The decompressed embeddings of token rows [first, first + rows) into out (rows x dim).
  absl::Status Decompress(std::int64_t first, std::int64_t rows, MutableMatrixView out) const;
  absl::StatusOr<RowMatrix> Document(std::int64_t doc) const;

  // ---- TokenCollection -------------------------------------------------------------------
  absl::StatusOr<TokenNeighbours> Neighbours(ConstMatrixView vectors, int k, int ef_search,
                                             int num_threads) const override;
  absl::StatusOr<BatchRanking> Rerank(absl::Span<const TokenQuery> queries, const BatchRanking& candidates,
                                      int k = 0, int num_threads = 0) const override;
  absl::StatusOr<std::vector<RowMatrix>> Documents(absl::Span<const std::int64_t> ids) const override;
  absl::StatusOr<std::vector<std::int64_t>> DocumentFrequencies(
      absl::Span<const std::int32_t> token_ids) const override;
  absl::StatusOr<std::vector<std::int32_t>> ExcludedTokenIds() const override { return excluded_; }

 private:
  ResidualMultiVectorIndex() = default;
  // Decodes token row `row` into out (dim floats).
  void DecodeRow(std::int64_t row, float* out) const;
  // Per-byte decoding table, inverted lists and document frequencies from the stored fields.
  void Finish();

  int dim_ = 0;
  int nbits_ = 2;
  bool normalize_ = true;
  int nprobe_ = 4;
  int packed_bytes_ = 0;                  // residual bytes per token: dim * nbits / 8
  RowMatrix centroids_;                   // (num_centroids, dim), unit length
  std::vector<float> cutoffs_, weights_;  // bucket cutoffs and weights
  std::vector<std::int64_t> starts_, counts_;  // per document: first token row, rows
  std::vector<std::uint8_t> deleted_;     // per document
  std::int64_t num_deleted_ = 0;
  std::vector<std::int32_t> codes_;       // per token row: its centroid
  std::vector<std::int32_t> token_ids_;   // per token row: its vocabulary id
  std::vector<std::int32_t> token_doc_;   // per token row: its document
  std::vector<std::uint8_t> residuals_;   // tokens x packed_bytes_
  std::vector<std::int32_t> excluded_;    // sorted
  // Derived (Finish): decoded values of every byte, inverted lists, df by token id.
  std::vector<float> byte_table_;         // 256 x (8 / nbits)
  std::vector<std::int64_t> list_starts_; // num_centroids + 1
  std::vector<std::int64_t> list_rows_;   // token rows grouped by centroid, ascending
  std::vector<std::int64_t> df_;
};

}  // namespace densefb

#endif  // DENSEFB_RESIDUAL_MULTIVECTOR_H_
