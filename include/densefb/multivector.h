// Multi-vector (ColBERT late-interaction) retrieval and ColBERT-PRF.
//
// MultiVectorIndex keeps every document's token embeddings in one row-major float32 matrix
// (documents back to back) with per-document offsets and the vocabulary (WordPiece) id of every
// token row. It scores documents exactly by weighted MaxSim,
//
//     score(q, d) = sum_i w_i * max_j <q_i, d_j>      (w_i = 1 for an original query token),
//
// generates candidates end to end from an approximate or exact nearest-neighbour index over ALL
// document token embeddings (a FlatIndex or HnswIndex whose ids are token rows; the token k'
// nearest rows of every query token, mapped to their documents, united), and answers the token
// statistics ColBERT-PRF needs: document frequency and IDF of a token id, and the nearest token
// embeddings of a vector.
//
// Files: Save() writes the token matrix and tables in the densefb container (file_format.h, kind
// "MVEC"): a versioned header and checksums, written atomically. Load() verifies the checksums,
// then memory-maps the token matrix (read-only) instead of copying it. The token index, when
// there is one, is saved beside it at `path + ".tokens"` (a FLAT or HNSW file) and loaded with it.
//
// Live updates: Add, Delete, Update and Compact keep the token statistics (df, IDF's N) and
// the token index exact, so scores and rankings equal those of a fresh index built from the live
// documents (with the same ids). Document ids are positions and never change: a deleted id
// stays a tombstone (never returned, NotFound when read); an updated document's rows are
// appended and its old rows left as garbage until Compact rewrites the matrix.
//
// Thread safety: every method may run concurrently with every other; each takes the index's
// reader-writer lock (Add, Delete, Update, Compact, BuildTokenIndex, SetTokenIndex and
// SetExcludedTokenIds exclusively), so each call sees the index before or after an update, never
// in between. A search of several calls (MaxSimSearch, ColBERT-PRF) is not one snapshot: an
// update between its calls shows in the later ones (a candidate deleted meanwhile is dropped by
// Rerank). Views returned by Document, DocumentTokenIds and token_ids are invalidated by updates.
// Every batched method gives bit-identical results for any num_threads.
#ifndef DENSEFB_MULTIVECTOR_H_
#define DENSEFB_MULTIVECTOR_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include "absl/types/span.h"
#include "densefb/data.h"
#include "densefb/encoder.h"
#include "densefb/feedback_model.h"
#include "densefb/params.h"
#include "densefb/reranker.h"
#include "densefb/hnsw_index.h"
#include "densefb/filter.h"
#include "densefb/index.h"
#include "densefb/ranking.h"
#include "densefb/status.h"
#include "densefb/types.h"

namespace densefb {

// A (possibly expanded) late-interaction query: token embeddings and one weight per row.
struct TokenQuery {
  RowMatrix vectors;            // (tokens, dim)
  std::vector<float> weights;   // empty = every row weighs 1; else one finite weight per row
  // Token ids of the rows appended by feedback (ColBERT-PRF), for inspection; may be empty.
  std::vector<std::int32_t> expansion_token_ids;
};

// Builds TokenQuery objects with weight 1 from encoder output.
std::vector<TokenQuery> MakeTokenQueries(std::vector<RowMatrix> vectors);

// How to build the token index used for candidate generation and nearest-token lookups.
struct TokenIndexConfig {
  enum class Kind : std::uint8_t { kFlat, kHnsw };
  Kind kind = Kind::kFlat;  // exact (FlatIndex) or approximate (HnswIndex)
  HnswConfig hnsw;          // used when kind == kHnsw
  std::int64_t chunk_rows = 1 << 16;  // token rows added per Add call
};

// Default k' of candidate generation: nearest document tokens fetched per query token,
// pyterrier_colbert's faiss_depth (1000). The one place this default is written.
inline constexpr int kDefaultTokenK = 1000;

struct MultiVectorSearchOptions {
  int k = 1000;             // documents returned per query (after exact MaxSim)
  int token_k = kDefaultTokenK;  // k': nearest document tokens fetched per query token
  int ef_search = 0;        // HNSW token index: ef (0 = its default; hnswlib uses max(ef, token_k))
  int num_threads = 0;      // 0 = all hardware threads
  // Allowed documents per query (densefb/filter.h), not owned; null = all. Candidates outside
  // it are dropped; a query allowing few documents (under 1/16 of them) has all of them scored.
  const Filter* filter = nullptr;
};

// ---- what the multi-vector stages read ------------------------------------------------------

// The nearest token embeddings of n vectors, best first (score descending, ties to the smaller
// token row): (n, k') scores, collection-wide token rows, the documents of those rows and their
// token (vocabulary) ids. Empty slots hold -inf and -1.
struct TokenNeighbours {
  RowMatrix scores;
  IdMatrix rows;
  IdMatrix docs;
  IdMatrix token_ids;
};

// A collection of documents' token embeddings, as the multi-vector stages (maxsim,
// rerank_maxsim, colbert_prf) read it. MultiVectorIndex is the in-memory one; the sharded
// collection of densefb.distributed, spread over Ray actors, is written in Python through the
// bindings (densefb.TokenCollection). Candidate generation (TokenCandidates), end-to-end search
// (MaxSimSearch) and ColBERT-PRF are written once, over this interface, so two collections that
// answer alike give the same rankings. Documents are 0..size()-1; token rows 0..num_tokens()-1,
// in document order.
class TokenCollection {
 public:
  virtual ~TokenCollection() = default;
  virtual int dim() const = 0;
  virtual std::int64_t size() const = 0;        // documents (ids 0..size()-1)
  // Documents present (IDF's N): size() less the deleted ones.
  virtual std::int64_t num_documents() const { return size(); }
  virtual std::int64_t num_tokens() const = 0;  // token rows over all documents
  virtual bool has_token_index() const = 0;     // whether Neighbours can answer

  // The k nearest token embeddings (inner product) of each row of `vectors`.
  virtual absl::StatusOr<TokenNeighbours> Neighbours(ConstMatrixView vectors, int k, int ef_search,
                                                     int num_threads) const = 0;
  // Exact weighted MaxSim of every candidate (ids < size(); a repeated id is scored once), the
  // best k of each list (k <= 0: all), sorted by SortRanking.
  virtual absl::StatusOr<BatchRanking> Rerank(absl::Span<const TokenQuery> queries,
                                              const BatchRanking& candidates, int k = 0,
                                              int num_threads = 0) const = 0;
  // Copies of the token embeddings of documents `ids`, in that order.
  virtual absl::StatusOr<std::vector<RowMatrix>> Documents(absl::Span<const std::int64_t> ids) const = 0;
  // Number of documents containing each token id (0 for an unseen one).
  virtual absl::StatusOr<std::vector<std::int64_t>> DocumentFrequencies(
      absl::Span<const std::int32_t> token_ids) const = 0;
  // Token ids never chosen as a ColBERT-PRF expansion token, sorted.
  virtual absl::StatusOr<std::vector<std::int32_t>> ExcludedTokenIds() const = 0;
};

// IDF as ColBERT-PRF defines it: log((1 + N) / (df + 1)), N documents.
double TokenIdf(std::int64_t df, std::int64_t num_documents);

// Candidate documents of each query: the documents of the token_k nearest token rows of each
// query token (weights ignored), united, sorted by id; scores are 0.
absl::StatusOr<BatchRanking> TokenCandidates(const TokenCollection& collection,
                                             absl::Span<const TokenQuery> queries,
                                             const MultiVectorSearchOptions& options);
// End-to-end retrieval: TokenCandidates, then the collection's exact MaxSim, top options.k.
absl::StatusOr<BatchRanking> MaxSimSearch(const TokenCollection& collection,
                                          absl::Span<const TokenQuery> queries,
                                          const MultiVectorSearchOptions& options);

class MultiVectorIndex final : public TokenCollection {
 public:
  // Version 1 payload: dim, counts, document offsets, token ids, excluded token ids, padding
  // to a 64-byte boundary, then the float32 token matrix. Version 2, written once documents are
  // deleted or updated, stores each document's first row, row count and deleted flag instead
  // of the offsets (see multivector_index.cc).
  static constexpr std::uint32_t kFormatVersion = 2;

  static absl::StatusOr<std::unique_ptr<MultiVectorIndex>> Create(int dim);
  // Reads a file written by Save() (and `path + ".tokens"` when present). Fails cleanly,
  // naming the file, on a missing, truncated, corrupt, wrong-kind or newer-version file.
  static absl::StatusOr<std::unique_ptr<MultiVectorIndex>> Load(const std::string& path);
  ~MultiVectorIndex() override;
  MultiVectorIndex(const MultiVectorIndex&) = delete;
  MultiVectorIndex& operator=(const MultiVectorIndex&) = delete;

  int dim() const override { return dim_; }
  std::int64_t size() const override;
  std::int64_t num_documents() const override;
  std::int64_t num_deleted() const;
  // Token rows in the matrix, including garbage rows (of deleted or replaced documents).
  std::int64_t num_tokens() const override;
  std::int64_t num_garbage_tokens() const;
  bool has_token_index() const override;
  bool memory_mapped() const;

  // Appends documents (ids continue from size()): docs[i] is (tokens_i, dim), finite, and
  // token_ids[i] has tokens_i non-negative ids. A document may have no tokens (it scores 0).
  // The new token rows go into the token index too, when there is one (a token index that
  // cannot take them, one written in Python, is dropped: build it again).
  absl::Status Add(absl::Span<const ConstMatrixView> docs,
                   absl::Span<const absl::Span<const std::int32_t>> token_ids);
  absl::Status Add(absl::Span<const TokenEmbeddings> docs);
  // Deletes documents (distinct ids of present documents: OutOfRange / NotFound name the first
  // bad one, nothing changes). Their token rows leave the token index and the statistics.
  absl::Status Delete(absl::Span<const std::int64_t> ids);
  // Replaces the token embeddings of present documents ids[i] by docs[i] / token_ids[i] (any
  // number of tokens; checked as for Add).
  absl::Status Update(absl::Span<const std::int64_t> ids, absl::Span<const ConstMatrixView> docs,
                      absl::Span<const absl::Span<const std::int32_t>> token_ids);
  // Rewrites the token matrix without garbage rows (document ids stay) and rebuilds the token
  // index over it (the same kind and settings; a token index written in Python is dropped).
  absl::Status Compact();

  // Document `doc`'s token embeddings and ids (borrowed from the index).
  absl::StatusOr<ConstMatrixView> Document(std::int64_t doc) const;
  absl::StatusOr<absl::Span<const std::int32_t>> DocumentTokenIds(std::int64_t doc) const;
  // The document that token row `row` belongs to.
  absl::StatusOr<std::int64_t> DocumentOfToken(std::int64_t row) const;
  // The token id of every token row (num_tokens()).
  absl::Span<const std::int32_t> token_ids() const;

  // ---- token statistics ------------------------------------------------------------------
  // Number of documents containing `token_id` at least once (0 for an unseen id).
  std::int64_t DocumentFrequency(std::int32_t token_id) const;
  // TokenIdf of `token_id` in this index.
  double Idf(std::int32_t token_id) const;
  // Token ids never chosen as a ColBERT-PRF expansion token ([CLS], [SEP], [PAD], [MASK],
  // [UNK], [unused*], ...); saved with the index.
  absl::Span<const std::int32_t> excluded_token_ids() const;
  absl::Status SetExcludedTokenIds(std::vector<std::int32_t> ids);
  bool IsExcludedToken(std::int32_t token_id) const;

  // ---- token index -----------------------------------------------------------------------
  absl::Status BuildTokenIndex(const TokenIndexConfig& config = {});
  // Attaches an index built elsewhere: inner product, dim(), num_tokens() vectors with ids
  // 0..num_tokens()-1 (token rows).
  absl::Status SetTokenIndex(std::unique_ptr<VectorIndex> index);
  const VectorIndex* token_index() const { return token_index_.get(); }

  // The k nearest token rows of each vector (inner product) from the token index:
  // (vectors.rows x k) scores and token rows, best first; -1 / -inf padding.
  absl::StatusOr<SearchResult> NearestTokens(ConstMatrixView vectors, int k, int ef_search = 0,
                                             int num_threads = 0) const;

  // ---- scoring and retrieval -------------------------------------------------------------
  // Exact weighted MaxSim of `query` against documents `docs` into out[i].
  absl::Status Score(const TokenQuery& query, absl::Span<const std::int64_t> docs,
                     absl::Span<float> out) const;
  // Re-scores candidates[q] of every query by exact MaxSim; keeps the best k (k <= 0: all).
  absl::StatusOr<BatchRanking> Rerank(absl::Span<const TokenQuery> queries,
                                      const BatchRanking& candidates, int k = 0,
                                      int num_threads = 0) const override;
  // TokenCandidates and MaxSimSearch over this index.
  absl::StatusOr<BatchRanking> Candidates(absl::Span<const TokenQuery> queries,
                                          const MultiVectorSearchOptions& options) const;
  absl::StatusOr<BatchRanking> Search(absl::Span<const TokenQuery> queries,
                                      const MultiVectorSearchOptions& options) const;

  // ---- TokenCollection -------------------------------------------------------------------
  absl::StatusOr<TokenNeighbours> Neighbours(ConstMatrixView vectors, int k, int ef_search,
                                             int num_threads) const override;
  absl::StatusOr<std::vector<RowMatrix>> Documents(absl::Span<const std::int64_t> ids) const override;
  absl::StatusOr<std::vector<std::int64_t>> DocumentFrequencies(
      absl::Span<const std::int32_t> token_ids) const override;
  absl::StatusOr<std::vector<std::int32_t>> ExcludedTokenIds() const override;

  // Writes `path` atomically, and `path + ".tokens"` when there is a token index.
  absl::Status Save(const std::string& path) const;

 private:
  struct Mapping;
  explicit MultiVectorIndex(int dim);
  absl::Status CheckQuery(const TokenQuery& q, std::int64_t index) const;
  const float* TokenRow(std::int64_t row) const;
  void RebuildStats();
  // Unlocked parts of the public methods (the caller holds the lock).
  absl::StatusOr<ConstMatrixView> DocumentLocked(std::int64_t doc) const;
  absl::Status CheckDocs(absl::Span<const ConstMatrixView> docs,
                         absl::Span<const absl::Span<const std::int32_t>> token_ids, std::int64_t* rows) const;
  absl::Status AppendRows(const ConstMatrixView& doc, absl::Span<const std::int32_t> token_ids, std::int64_t owner);
  void CountTokens(std::int64_t doc, int sign);
  absl::Status TokenIndexAddRows(std::int64_t first, std::int64_t rows);
  void TokenIndexDeleteRows(std::int64_t first, std::int64_t rows);
  absl::Status BuildTokenIndexLocked(const TokenIndexConfig& config);
  bool Plain() const;  // no deleted document and rows in document order: a version-1 file

  int dim_;
  std::vector<std::int64_t> starts_;        // per document: its first token row
  std::vector<std::int64_t> counts_;        // per document: its token rows (0 once deleted)
  std::vector<std::uint8_t> deleted_;       // per document
  std::int64_t num_deleted_ = 0;
  std::int64_t rows_ = 0;                   // token rows in the matrix
  std::int64_t garbage_ = 0;                // rows of no live document
  std::vector<std::int32_t> token_ids_;     // per token row
  std::vector<std::int32_t> token_doc_;     // per token row: its document (-1: garbage)
  std::vector<float> owned_;                // token matrix when built in memory
  std::unique_ptr<Mapping> mapping_;        // token matrix when loaded (read-only mmap)
  const float* matrix_ = nullptr;           // owned_.data() or the mapped matrix
  std::vector<std::int64_t> df_;            // document frequency by token id
  std::vector<std::int32_t> excluded_;      // sorted
  std::unique_ptr<VectorIndex> token_index_;
  // Add, Delete, Update, Compact and the setters hold mutex_ exclusively, every other method
  // shares it (a waiting writer holds turnstile_, so readers cannot starve it).
  mutable std::shared_mutex mutex_;
  mutable std::mutex turnstile_;
};

// ---- MaxSim reranking over any first stage ------------------------------------------------

// Where documents' token embeddings come from, in this order: `given` (extra_ids[i] ->
// extra_docs[i], e.g. encoded by the caller), the index for ids it holds, else the token
// encoder applied to texts[id] on the fly.
struct DocumentTokenSource {
  const TokenCollection* index = nullptr;
  const TokenEncoder* encoder = nullptr;
  absl::Span<const std::string> texts;  // corpus texts by document id (for on-the-fly encoding)
  const Corpus* corpus = nullptr;       // used instead of `texts` when set: Corpus::FullText(id)
  int encode_batch_size = 32;
  absl::Span<const std::int64_t> extra_ids;
  absl::Span<const ConstMatrixView> extra_docs;
};

// Re-scores candidates[q] by exact weighted MaxSim with the token embeddings from `source`;
// keeps the best k (k <= 0: all). Documents the index holds are scored by the index
// (TokenCollection::Rerank: by the shard that owns them when it is sharded); each distinct
// document not in the index is encoded once per call.
absl::StatusOr<BatchRanking> MaxSimRerank(const DocumentTokenSource& source,
                                          absl::Span<const TokenQuery> queries,
                                          const BatchRanking& candidates, int k = 0,
                                          int num_threads = 0);

// Weighted MaxSim of one query against one document (rows x dim each).
float MaxSim(const TokenQuery& query, ConstMatrixView doc);

// ---- ColBERT-PRF --------------------------------------------------------------------------

// ColBERT-PRF (Wang, Macdonald, Tonellotto, Ounis, ICTIR 2021) as pyterrier_colbert's
// ColbertPRF.transform_query computes it:
//   1. the token embeddings of the top fb_docs documents of the first-pass ranking,
//      concatenated;
//   2. k-means into `clusters` centroids (KMeans below);
//   3. each centroid's token: the most frequent token id among its 10 (`neighbours`) nearest
//      token embeddings in the index, excluded ids dropped (ties: the id met first, nearest
//      first); a centroid with no valid token is skipped;
//   4. each centroid weighted by its token's IDF, log((1 + N) / (df + 1));
//   5. centroids ranked by IDF descending (stable: ties keep cluster order), the top fb_embs
//      appended to the query with weight beta * idf (original rows keep their weights).
// Ranking with the expanded query is the next stage's: ColbertPrfFeedback below is the
// algorithm in pipelines. pyterrier_colbert's reranker, `dense_e2e >> ColbertPRF >>
// index_scorer % 1000`, re-scores every document of the original query's FAISS candidates
// (dense_e2e is NOT cut; faiss_depth = 1000 nearest tokens per query token): here
// `maxsim(k=0) >> colbert_prf >> rerank_maxsim`. Its ranker (new candidate generation with the
// expanded query) is `maxsim >> colbert_prf >> maxsim`.
struct ColbertPrfConfig {
  int fb_docs = 3;
  int clusters = 24;      // K of k-means; pyterrier_colbert asserts K > fb_embs
  int fb_embs = 10;
  float beta = 1.0f;
  int neighbours = 10;    // nearest token embeddings voting for a centroid's token
  std::uint64_t seed = 42;
  int max_iter = 300;     // k-means Lloyd iterations
  double tol = 1e-4;      // k-means: stop when the centre shift <= tol * mean variance
  absl::Status Validate() const;
};

// k-means with a fixed seed, following scikit-learn's KMeans(n_clusters, random_state) with
// its defaults (init="k-means++" greedy with 2 + floor(ln K) local trials, one init, Lloyd,
// max_iter, tol relative to the mean per-feature variance, strict convergence when the labels
// stop changing, empty clusters relocated to the points farthest from their centres), in
// float64. The random stream is densefb's own (SplitMix64, uniform = top 53 bits / 2^53), so
// the centroids are reproducible on every platform but are not numpy's:
//   first centre  = point floor(u * n);
//   each next one = for t in trials: r = u * potential; candidate = first i with
//                   cumsum(closest_dist_sq)[i] >= r (clipped to n-1); keep the candidate with the
//                   smallest new potential (first on ties).
// Distances in Lloyd are |x|^2 - 2 x.c + |c|^2; labels go to the smallest distance (first
// centre on ties). K larger than the number of points is reduced to the number of points.
struct KMeansResult {
  RowMatrix centroids;             // (K, dim), cast to float32
  std::vector<std::int32_t> labels;
  int iterations = 0;
};
absl::StatusOr<KMeansResult> KMeans(ConstMatrixView points, int clusters, std::uint64_t seed = 42,
                                    int max_iter = 300, double tol = 1e-4);

// What ColBERT-PRF chose for one query (for inspection and tests).
struct PrfExpansion {
  RowMatrix centroids;                    // all K centroids
  std::vector<std::int32_t> centroid_tokens;  // token per centroid (-1 = none valid)
  std::vector<double> centroid_idf;           // idf per centroid (0 when no token)
  std::vector<int> selected;                  // chosen centroid indices, by IDF
};

class ColbertPrf {
 public:
  static absl::StatusOr<ColbertPrf> Create(const ColbertPrfConfig& config);
  const ColbertPrfConfig& config() const { return config_; }

  // Expanded queries from the first-pass rankings (each sorted best first).
  absl::StatusOr<std::vector<TokenQuery>> Expand(const DocumentTokenSource& source,
                                                 absl::Span<const TokenQuery> queries,
                                                 const BatchRanking& first_pass, int num_threads = 0,
                                                 std::vector<PrfExpansion>* details = nullptr) const;

 private:
  explicit ColbertPrf(ColbertPrfConfig config) : config_(config) {}
  ColbertPrfConfig config_;
};

// ---- the multi-vector stages of pipelines ----------------------------------------------------
// (MaxSimRetriever, "maxsim", is in densefb/retrievers.h.)

struct MaxSimRerankerConfig {
  std::int64_t depth = 0;
};

// Re-scores the ranking (its top `depth`; 0 = all of it) by exact weighted MaxSim of the
// current token queries (after colbert_prf: the expanded ones). Documents come from the
// multi-vector index, else are encoded with the token encoder from the corpus texts.
// Registered as "rerank_maxsim"; resources "multivector", "token_encoder", "corpus".
class MaxSimReranker final : public Reranker {
 public:
  using Config = MaxSimRerankerConfig;
  static const ParamTable<Config>& Params();

  MaxSimReranker(std::shared_ptr<const TokenCollection> index, std::shared_ptr<const TokenEncoder> encoder,
                 std::shared_ptr<const Corpus> corpus, Config config = {});

  absl::StatusOr<BatchRanking> Rerank(QueryState& queries, BatchRanking ranking) const override;
  std::string ToString() const override { return Params().Print(config_); }
  absl::Status Prepare(QueryState& queries) const override;
  bool bound() const override { return index_ != nullptr || (encoder_ != nullptr && corpus_ != nullptr); }

 private:
  std::shared_ptr<const TokenCollection> index_;
  std::shared_ptr<const TokenEncoder> encoder_;
  std::shared_ptr<const Corpus> corpus_;
  Config config_;
};

// ColBERT-PRF's query expansion (ColbertPrf::Expand) as a feedback model: the token queries
// get the chosen centroids appended with weight beta * idf. The next stage scores with them:
// `maxsim(k=0) >> colbert_prf >> rerank_maxsim` is pyterrier_colbert's reranker (it re-scores
// the whole first-pass candidate set), `maxsim >> colbert_prf >> maxsim` its ranker. Registered as
// "colbert_prf"; resources "multivector" (token statistics and nearest tokens),
// "token_encoder", "corpus" (feedback documents not in the index).
class ColbertPrfFeedback final : public FeedbackModel {
 public:
  // fb_docs, clusters ("k" in specs), fb_embs, beta, seed; the k-means settings keep their
  // defaults.
  using Config = ColbertPrfConfig;
  static const ParamTable<Config>& Params();

  ColbertPrfFeedback(std::shared_ptr<const TokenCollection> index,
                     std::shared_ptr<const TokenEncoder> encoder, std::shared_ptr<const Corpus> corpus,
                     Config config = {});

  absl::Status Refine(QueryState& queries, const BatchRanking& ranking) const override;
  std::string ToString() const override { return Params().Print(config_); }
  std::int64_t DepthRead() const override { return config_.fb_docs; }
  absl::Status Prepare(QueryState& queries) const override;
  bool bound() const override { return index_ != nullptr; }

 private:
  std::shared_ptr<const TokenCollection> index_;
  std::shared_ptr<const TokenEncoder> encoder_;
  std::shared_ptr<const Corpus> corpus_;
  Config config_;
};

}  // namespace densefb

#endif  // DENSEFB_MULTIVECTOR_H_
