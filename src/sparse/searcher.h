// Internal: the query evaluation of src/sparse/bm25_index.cc.
#ifndef DENSEFB_SRC_SPARSE_SEARCHER_H_
#define DENSEFB_SRC_SPARSE_SEARCHER_H_

#include <cstdint>
#include <utility>
#include <vector>

#include "densefb/bm25.h"
#include "densefb/filter.h"

namespace densefb {

namespace sparse {

// A query resolved against the vocabulary: (term id, weight), term ids distinct.
using TermWeights = std::vector<std::pair<std::int32_t, float>>;

// Per-thread accumulators of term-at-a-time evaluation.
struct Workspace {
  std::vector<float> acc;           // num_docs, all zero between queries
  std::vector<std::uint8_t> seen;   // num_docs, all zero between queries
  std::vector<std::int32_t> touched;
  std::vector<std::string> terms;   // analysis scratch
};

}  // namespace sparse

class Bm25Searcher {
 public:
  // Drops terms absent from the index and zero weights, sums repeated terms; keeps the order
  // of first occurrence.
  static sparse::TermWeights Resolve(const Bm25Index& index, const WeightedQuery& query);
  // The analysed query (weights = counts) into `out`.
  static void AnalyzeQuery(const Bm25Index& index, absl::string_view text,
                           std::vector<std::string>* scratch, WeightedQuery* out);
  // Top-k by term-at-a-time accumulation; k >= 0. With a filter, only the documents it allows
  // for `filter_row`; when they are few, each is scored alone (ScoreDoc's arithmetic).
  static void TopK(const Bm25Index& index, const sparse::TermWeights& query, std::int64_t k,
                   sparse::Workspace* ws, Ranking* out, const Filter* filter = nullptr,
                   std::int64_t filter_row = 0);
  // TopK without a filter by MaxScore (Bm25Index::set_dynamic_pruning): the same ranking and
  // scores. False (out unspecified) for a query it does not handle (a weight <= 0).
  static bool TopKMaxScore(const Bm25Index& index, const sparse::TermWeights& query, std::int64_t k,
                           Ranking* out);
  // Score of one document (same arithmetic, and so the same float, as TopK); `matched`, if
  // given, is set when the document holds a query term.
  static float ScoreDoc(const Bm25Index& index, const sparse::TermWeights& query, std::int64_t doc,
                        bool* matched = nullptr);
};

}  // namespace densefb

#endif  // DENSEFB_SRC_SPARSE_SEARCHER_H_
