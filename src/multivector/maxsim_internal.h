// Internal: the MaxSim kernel and query checks shared by the multi-vector sources.
#ifndef DENSEFB_SRC_MULTIVECTOR_MAXSIM_INTERNAL_H_
#define DENSEFB_SRC_MULTIVECTOR_MAXSIM_INTERNAL_H_

#include <cstdint>
#include <functional>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "densefb/multivector.h"

namespace densefb::mv_internal {

// InvalidArgument naming query `index` when its dimension, weights or values are bad.
absl::Status CheckTokenQuery(const TokenQuery& q, int dim, std::int64_t index);

// sum_i w_i * max_j <q_i, d_j> (0 for a document or query without rows); `scratch` is reused
// between calls. The result depends only on the two inputs (never on threads or call order).
float WeightedMaxSim(const TokenQuery& q, ConstMatrixView doc, std::vector<float>* scratch);

// The token neighbours of a search of a collection's token index (ids = token rows): the
// documents and token ids of the rows, from per-row tables of `num_rows` entries; a row out of
// range, or whose document is negative (garbage), gives -1 for both.
template <typename DocInt>
TokenNeighbours NeighboursOfRows(SearchResult hits, std::int64_t num_rows, const DocInt* token_doc,
                                 const std::int32_t* token_ids) {
  TokenNeighbours out;
  out.scores = std::move(hits.scores);
  out.rows = std::move(hits.ids);
  out.docs.resize(out.rows.rows(), out.rows.cols());
  out.token_ids.resize(out.rows.rows(), out.rows.cols());
  for (std::int64_t i = 0; i < out.rows.size(); ++i) {
    const std::int64_t row = out.rows.data()[i];
    const bool valid = row >= 0 && row < num_rows && token_doc[row] >= 0;
    out.docs.data()[i] = valid ? static_cast<std::int64_t>(token_doc[row]) : kNoId;
    out.token_ids.data()[i] = valid ? token_ids[row] : -1;
  }
  return out;
}

// Exact weighted MaxSim of every (query, candidate) pair, with document embeddings from
// `document(id, buffer)`: a view it borrows from elsewhere, or of `buffer` after writing the
// embeddings there (a decoding source; the buffer is the calling worker's own and is reused for
// its next document). A repeated id is scored once; each list sorted by SortRanking and cut to
// k (k <= 0: all). Bit-identical for any num_threads. Queries and ids are not checked here.
using DocumentFn = std::function<ConstMatrixView(std::int64_t id, RowMatrix* buffer)>;
absl::StatusOr<BatchRanking> RerankWith(absl::Span<const TokenQuery> queries, const BatchRanking& candidates,
                                        int k, int num_threads, const DocumentFn& document);

// The token embeddings of a set of documents from a DocumentTokenSource: given ones, copies
// fetched from the index in one call, and documents that must be encoded, encoded once, in one
// call, in id order.
class DocumentCache {
 public:
  absl::Status Prepare(const DocumentTokenSource& source, std::vector<std::int64_t> ids, int dim);
  ConstMatrixView Get(std::int64_t id) const;  // id must have been prepared

 private:
  absl::flat_hash_map<std::int64_t, ConstMatrixView> given_;
  absl::flat_hash_map<std::int64_t, RowMatrix> encoded_;  // fetched from the index or encoded
};

}  // namespace densefb::mv_internal

#endif  // DENSEFB_SRC_MULTIVECTOR_MAXSIM_INTERNAL_H_
