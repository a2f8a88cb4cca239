// Filter: which documents each query of a batch may return. A filter has one row per query
// (or one row shared by every query); a row is an allow-list of document ids.
//
//   Filter only_2024 = *Filter::FromIds(ids_of_2024);              // one list, every query
//   Filter per_user = *Filter::FromIdLists({{3, 9}, {1, 2, 3}});   // query 0, query 1
//   Filter masks = *Filter::FromMask(bytes, n_queries, n_docs);     // numpy bool (n_q, n_docs)
//
// Searches with a filter return the top k among the allowed documents only: a query with
// fewer allowed matches than k gets a shorter list, never a disallowed filler. Flat and BM25
// search are exact over the allowed set; HNSW traverses the graph skipping disallowed
// documents and, when the allowed set is small, scores it exhaustively (HnswIndex). In a
// pipeline (PipelineOptions::filter) every retriever is filtered, so feedback documents, and
// everything a later stage sees, come from the allowed set.
//
// Ids are the index's document ids (for pipelines, corpus positions). An allowed id that is not
// in an index is ignored by it. Immutable and cheap to copy (rows are shared).
#ifndef DENSEFB_FILTER_H_
#define DENSEFB_FILTER_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/types/span.h"
#include "densefb/status.h"

namespace densefb {

class Filter {
 public:
  // A query allowing fewer than 1/kFewAllowedRatio of a collection is scored over its allowed
  // documents one by one (flat, BM25, MaxSim) instead of scanning the collection.
  static constexpr std::int64_t kFewAllowedRatio = 16;

  // One allow-list for every query: ids in any order, repeats ignored. InvalidArgument for a
  // negative id (naming it).
  static absl::StatusOr<Filter> FromIds(absl::Span<const std::int64_t> ids);
  // One allow-list per query (lists.size() rows; an empty list allows nothing).
  static absl::StatusOr<Filter> FromIdLists(absl::Span<const std::vector<std::int64_t>> lists);
  // Row-major (rows x bits) mask, nonzero = allowed: row q, column id. rows 1 = every query.
  static absl::StatusOr<Filter> FromMask(const std::uint8_t* mask, std::int64_t rows, std::int64_t bits);

  // 1 when every query shares one row; otherwise the number of queries it was made for.
  std::int64_t rows() const { return static_cast<std::int64_t>(rows_.size()); }
  // InvalidArgument unless the filter has one row or `num_queries` rows.
  absl::Status CheckQueries(std::int64_t num_queries) const;
  // The rows for queries [begin, end) of a batch (a shared filter stays shared).
  Filter Slice(std::int64_t begin, std::int64_t end) const;

  bool Allows(std::int64_t query, std::int64_t id) const { return row(query).Allows(id); }
  // Number of allowed ids of `query` (some may be absent from a given index).
  std::int64_t Count(std::int64_t query) const { return row(query).count; }
  // The allowed ids of `query`, ascending.
  std::vector<std::int64_t> Ids(std::int64_t query) const;

 private:
  struct Row {
    // A bitmap over ids [0, bits.size() * 64) when that is compact, else the sorted ids.
    std::vector<std::uint64_t> bits;
    std::vector<std::int64_t> ids;
    bool bitmap = false;
    std::int64_t count = 0;
    bool Allows(std::int64_t id) const;
  };
  static std::shared_ptr<const Row> MakeRow(std::vector<std::int64_t> sorted_unique);
  const Row& row(std::int64_t query) const {
    return *rows_[rows_.size() == 1 ? 0 : static_cast<std::size_t>(query)];
  }
  std::vector<std::shared_ptr<const Row>> rows_;
};

}  // namespace densefb

#endif  // DENSEFB_FILTER_H_
