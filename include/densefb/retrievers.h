// The built-in retrievers: dense search over any VectorIndex, BM25, and multi-vector MaxSim.
// Each holds the index and encoder it uses (shared ownership) and its Config, whose parameters
// (names, defaults, ranges, help) are written once, in Params(); the spec of each is its
// registered name with those parameters, e.g. "dense(k=1000,ef_search=0)".
//
//   auto dense = std::make_shared<DenseRetriever>(index, encoder, DenseRetriever::Config{.k = 100});
//
// A retriever built without its index (from a spec parsed without resources) is unbound:
// Retrieve fails with FailedPrecondition naming the resource, and Pipeline::Bind fills it in.
// A Config out of range makes Retrieve fail with the same InvalidArgument a spec would get
// (Params().Validate).
#ifndef DENSEFB_RETRIEVERS_H_
#define DENSEFB_RETRIEVERS_H_

#include <cstdint>
#include <memory>
#include <string>

#include "densefb/bm25.h"
#include "densefb/encoder.h"
#include "densefb/index.h"
#include "densefb/multivector.h"
#include "densefb/params.h"
#include "densefb/retriever.h"

namespace densefb {

struct DenseRetrieverConfig {
  std::int64_t k = 1000;  // documents per query (capped at the index size)
  int ef_search = 0;      // HNSW candidate list size; 0 = the index's default
};

// Top-k by the index (inner product or cosine) for the current query vector, which is the
// encoder's encoding of the query text until a feedback model replaces it. Registered as "dense"
// with resources "dense_index" (VectorIndex) and "encoder" (Encoder; needed only when the
// queries come without vectors).
class DenseRetriever final : public Retriever {
 public:
  using Config = DenseRetrieverConfig;
  static const ParamTable<Config>& Params();

  DenseRetriever(std::shared_ptr<const VectorIndex> index, std::shared_ptr<const Encoder> encoder,
                 Config config = {});

  absl::StatusOr<BatchRanking> Retrieve(QueryState& queries) const override;
  std::string ToString() const override { return Params().Print(config_); }
  absl::Status Prepare(QueryState& queries) const override;
  // Exact indexes only (VectorIndex::exact()): HNSW's ef grows with k, so a shallower search
  // could change the top.
  std::shared_ptr<const Retriever> WithDepth(std::int64_t depth) const override;
  bool bound() const override { return index_ != nullptr; }

  const Config& config() const { return config_; }
  const std::shared_ptr<const VectorIndex>& index() const { return index_; }
  const std::shared_ptr<const Encoder>& encoder() const { return encoder_; }

 private:
  std::shared_ptr<const VectorIndex> index_;
  std::shared_ptr<const Encoder> encoder_;
  Config config_;
};

struct Bm25RetrieverConfig {
  std::int64_t k = 1000;
  double k1 = -1;  // < 0 ("index" in a spec): whatever the index scores with
  double b = -1;
};

// BM25 top-k (Bm25Index) for the query text, or for the weighted query a feedback model (rm3)
// made. k1 and b are the index's; numbers given in the config must equal them (a guard for
// reproduced specs). Registered as "bm25" with resource "bm25" (a Bm25Collection).
class Bm25Retriever final : public Retriever {
 public:
  using Config = Bm25RetrieverConfig;
  static const ParamTable<Config>& Params();

  explicit Bm25Retriever(std::shared_ptr<const Bm25Collection> index, Config config = {});

  absl::StatusOr<BatchRanking> Retrieve(QueryState& queries) const override;
  std::string ToString() const override { return Params().Print(config_); }
  std::shared_ptr<const Retriever> WithDepth(std::int64_t depth) const override;
  bool bound() const override { return index_ != nullptr; }

  const Config& config() const { return config_; }

 private:
  std::shared_ptr<const Bm25Collection> index_;
  Config config_;
};

struct MaxSimRetrieverConfig {
  std::int64_t k = 1000;          // documents per query; 0 = every candidate, all scored
  int token_k = kDefaultTokenK;   // nearest document tokens per query token (pyterrier_colbert's faiss_depth)
  int ef_search = 0;
};

// End-to-end late interaction: the documents of the token_k nearest document tokens of every
// query token, scored by exact (weighted) MaxSim; k = 0 keeps every candidate (pyterrier_colbert's
// end-to-end retrieval, whose whole candidate set its ColBERT-PRF reranker re-scores:
// `maxsim(k=0) >> colbert_prf >> rerank_maxsim`). Registered as "maxsim" with resources
// "multivector" (a TokenCollection: MultiVectorIndex or a sharded one) and "token_encoder" (TokenEncoder).
class MaxSimRetriever final : public Retriever {
 public:
  using Config = MaxSimRetrieverConfig;
  static const ParamTable<Config>& Params();

  MaxSimRetriever(std::shared_ptr<const TokenCollection> index,
                  std::shared_ptr<const TokenEncoder> encoder, Config config = {});

  absl::StatusOr<BatchRanking> Retrieve(QueryState& queries) const override;
  std::string ToString() const override { return Params().Print(config_); }
  absl::Status Prepare(QueryState& queries) const override;
  bool bound() const override { return index_ != nullptr; }

 private:
  std::shared_ptr<const TokenCollection> index_;
  std::shared_ptr<const TokenEncoder> encoder_;
  Config config_;
};

}  // namespace densefb

#endif  // DENSEFB_RETRIEVERS_H_
