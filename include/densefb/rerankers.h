// The built-in rerankers (Reranker, densefb/reranker.h): rescore ("rescore"), cross-encoder
// ("rerank_cross"), MaxSim ("rerank_maxsim", densefb/multivector.h) and cut ("cut"). Each
// holds what it reads with shared ownership and a Config whose parameters are written once, in
// Params().
#ifndef DENSEFB_RERANKERS_H_
#define DENSEFB_RERANKERS_H_

#include <cstdint>
#include <memory>
#include <string>

#include "densefb/data.h"
#include "densefb/encoder.h"
#include "densefb/index.h"
#include "densefb/params.h"
#include "densefb/reranker.h"

namespace densefb {

struct RescoreConfig {
  std::int64_t k = 0;  // candidates re-scored, the first k; 0 = all
};

// Re-scores the candidates with the current dense query vector by the index metric over the
// stored vectors (float32 dot product; cosine divides by both norms) and re-sorts them; the
// candidates after the first k are dropped. After a feedback model this is the "ranking"
// setting of the Vector-PRF paper (`dense >> avg(k=3) >> rescore`); after bm25 it is dense
// re-ranking of BM25 candidates. Resources: "dense_index", "encoder" (as DenseRetriever).
class Rescore final : public Reranker {
 public:
  using Config = RescoreConfig;
  static const ParamTable<Config>& Params();

  Rescore(std::shared_ptr<const VectorIndex> index, std::shared_ptr<const Encoder> encoder,
          Config config = {});

  absl::StatusOr<BatchRanking> Rerank(QueryState& queries, BatchRanking ranking) const override;
  std::string ToString() const override { return Params().Print(config_); }
  absl::Status Prepare(QueryState& queries) const override;
  bool bound() const override { return index_ != nullptr; }

 private:
  std::shared_ptr<const VectorIndex> index_;
  std::shared_ptr<const Encoder> encoder_;
  Config config_;
};

struct CrossEncoderRerankConfig {
  std::int64_t k = 100;  // candidates re-ranked
  int batch_size = 32;   // pairs per forward pass
};

// Cross-encoder re-ranking: the first k candidates scored on (original query text, document
// "title text") pairs and re-sorted; the ranking keeps those k. All pairs of the batch go to
// the scorer in one call (it batches them). Resources: "corpus" (Corpus), "cross_encoder"
// (PairScorer).
class CrossEncoderRerank final : public Reranker {
 public:
  using Config = CrossEncoderRerankConfig;
  static const ParamTable<Config>& Params();

  CrossEncoderRerank(std::shared_ptr<const Corpus> corpus, std::shared_ptr<const PairScorer> scorer,
                     Config config = {});

  absl::StatusOr<BatchRanking> Rerank(QueryState& queries, BatchRanking ranking) const override;
  std::string ToString() const override { return Params().Print(config_); }
  bool bound() const override { return corpus_ != nullptr && scorer_ != nullptr; }

 private:
  std::shared_ptr<const Corpus> corpus_;
  std::shared_ptr<const PairScorer> scorer_;
  Config config_;
};

struct CutConfig {
  std::int64_t k = 0;  // required (a spec must give it): documents kept
};

// Keeps the first k documents of each list.
class Cut final : public Reranker {
 public:
  using Config = CutConfig;
  static const ParamTable<Config>& Params();

  explicit Cut(Config config) : config_(config) {}

  absl::StatusOr<BatchRanking> Rerank(QueryState& queries, BatchRanking ranking) const override;
  std::string ToString() const override { return Params().Print(config_); }

 private:
  Config config_;
};

}  // namespace densefb

#endif  // DENSEFB_RERANKERS_H_
