// The built-in feedback models (FeedbackModel, densefb/feedback_model.h), by the representation
// they refine:
//   dense vector:      AveragePrf ("avg"), RocchioPrf ("rocchio"), TextPrf ("text_prf")
//   weighted terms:    Rm3 ("rm3")
//   token embeddings:  ColbertPrfFeedback ("colbert_prf", densefb/multivector.h)
// Each holds what it reads (index, encoder, corpus) with shared ownership, and a Config whose
// parameters are written once, in Params().
//
// Vector PRF as Pyserini's `--prf-method avg|rocchio` (pyserini/search/faiss/_prf.py): new
// query vectors from the vectors stored in the index (VectorIndex::Reconstruct, exactly as
// added: for a cosine index the raw vectors) of the first-pass list, best first.
//   AveragePrf:  q' = (q + d_1 + ... + d_k') / (k' + 1),   k' = min(k, list length)
//   RocchioPrf:  q' = alpha q + beta mean(first topk' of L) - gamma mean(last bottomk' of L)
// where L is the list cut to its first `depth` entries (depth 0 = the whole list) and the gamma
// term applies only if bottomk > 0; negatives are the tail of that first-pass list, as in
// Pyserini (positives and negatives overlap when |L| < topk + bottomk). A query with an empty
// list keeps its vector. Neither re-normalises q' (as Pyserini) unless `normalize`.
// Pyserini's "Average PRF 3" is avg(k=3); its "Rocchio PRF 5 A0.4 B0.6" is
// rocchio(alpha=0.4,beta=0.6,topk=5); PR #1108's negatives: topk 5, bottomk 5, gamma 0.6,
// depth 1000. Then `dense >> avg(k=3) >> dense` retrieves again with q' (Pyserini's flow) and
// `dense >> avg(k=3) >> rescore` re-scores the first pass (the "ranking" setting of the
// Vector-PRF paper).
#ifndef DENSEFB_FEEDBACK_H_
#define DENSEFB_FEEDBACK_H_

#include <cstdint>
#include <memory>
#include <string>

#include "densefb/bm25.h"
#include "densefb/data.h"
#include "densefb/encoder.h"
#include "densefb/feedback_model.h"
#include "densefb/index.h"
#include "densefb/params.h"

namespace densefb {

struct AveragePrfConfig {
  int k = 3;               // feedback documents
  bool normalize = false;  // L2-normalise q'
};

// Resources: "dense_index" (VectorIndex), "encoder" (to encode queries that come without vectors).
class AveragePrf final : public FeedbackModel {
 public:
  using Config = AveragePrfConfig;
  static const ParamTable<Config>& Params();

  AveragePrf(std::shared_ptr<const VectorIndex> index, Config config = {},
             std::shared_ptr<const Encoder> encoder = nullptr);

  absl::Status Refine(QueryState& queries, const BatchRanking& ranking) const override;
  std::string ToString() const override { return Params().Print(config_); }
  std::int64_t DepthRead() const override { return config_.k; }
  absl::Status Prepare(QueryState& queries) const override;
  bool bound() const override { return index_ != nullptr; }
  const Config& config() const { return config_; }

 private:
  std::shared_ptr<const VectorIndex> index_;
  std::shared_ptr<const Encoder> encoder_;
  Config config_;
};

struct RocchioPrfConfig {
  double alpha = 0.9;      // weight of the query vector
  double beta = 0.1;       // weight of the mean of the positives
  double gamma = 0.1;      // weight of the mean of the negatives (only if bottomk > 0)
  int topk = 3;            // positives: the first topk of the list
  int bottomk = 0;         // negatives: the last bottomk of the depth-`depth` list
  int depth = 0;           // the first-pass list the negatives come from; 0 = all of it
  bool normalize = false;  // L2-normalise q'
};

// Resources as AveragePrf. Defaults are Pyserini's CLI defaults.
class RocchioPrf final : public FeedbackModel {
 public:
  using Config = RocchioPrfConfig;
  static const ParamTable<Config>& Params();

  RocchioPrf(std::shared_ptr<const VectorIndex> index, Config config = {},
             std::shared_ptr<const Encoder> encoder = nullptr);

  absl::Status Refine(QueryState& queries, const BatchRanking& ranking) const override;
  std::string ToString() const override { return Params().Print(config_); }
  // depth if set, else topk; the whole list when negatives come from its tail (depth 0).
  std::int64_t DepthRead() const override;
  absl::Status Prepare(QueryState& queries) const override;
  bool bound() const override { return index_ != nullptr; }
  const Config& config() const { return config_; }

 private:
  std::shared_ptr<const VectorIndex> index_;
  std::shared_ptr<const Encoder> encoder_;
  Config config_;
};

struct TextPrfConfig {
  std::int64_t k = 3;        // feedback passages (ANCE-PRF's released checkpoint: 3)
  std::string sep = "[SEP]";
};

// Text PRF in the ANCE-PRF input style: the query text and the texts of the first k documents
// joined by " sep " (q [SEP] p_1 [SEP] ... p_k; the encoder adds [CLS] and the final [SEP]),
// encoded as a query; the next dense retriever searches with the new vector. Document texts
// are the corpus's "title text". Resources: "corpus" (Corpus), "encoder" (Encoder).
class TextPrf final : public FeedbackModel {
 public:
  using Config = TextPrfConfig;
  static const ParamTable<Config>& Params();

  TextPrf(std::shared_ptr<const Corpus> corpus, std::shared_ptr<const Encoder> encoder,
          Config config = {});

  absl::Status Refine(QueryState& queries, const BatchRanking& ranking) const override;
  std::string ToString() const override { return Params().Print(config_); }
  std::int64_t DepthRead() const override { return config_.k; }
  bool bound() const override { return corpus_ != nullptr && encoder_ != nullptr; }

 private:
  std::shared_ptr<const Corpus> corpus_;
  std::shared_ptr<const Encoder> encoder_;
  Config config_;
};

// fb_docs, fb_terms, original_query_weight, filter_terms: Rm3Options (densefb/bm25.h).
struct Rm3Config : Rm3Options {
  // What weights each feedback document: "ranking" (the ranking's scores: BM25 scores after a
  // bm25 retriever, as in Pyserini) or "bm25" (their BM25 scores for the query, for RM3 after
  // a dense or fused ranking).
  std::string scores = "ranking";
};

// RM3 expansion of the weighted BM25 query (Rm3ExpandQuery, Pyserini's / Anserini's formula)
// from the top fb_docs of the ranking; the next bm25 retriever searches with it:
// `bm25 >> rm3 >> bm25` is Pyserini's BM25+RM3. Resource: "bm25" (a Bm25Collection: Bm25Index, or a sharded one).
class Rm3 final : public FeedbackModel {
 public:
  using Config = Rm3Config;
  static const ParamTable<Config>& Params();

  explicit Rm3(std::shared_ptr<const Bm25Collection> index, Config config = {});

  absl::Status Refine(QueryState& queries, const BatchRanking& ranking) const override;
  std::string ToString() const override { return Params().Print(config_); }
  std::int64_t DepthRead() const override { return config_.fb_docs; }
  absl::Status Prepare(QueryState& queries) const override;
  bool bound() const override { return index_ != nullptr; }

 private:
  std::shared_ptr<const Bm25Collection> index_;
  Config config_;
};

}  // namespace densefb

#endif  // DENSEFB_FEEDBACK_H_
