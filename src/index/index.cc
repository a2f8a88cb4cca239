#include "densefb/index.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace densefb {

absl::StatusOr<SearchResult> VectorIndex::Search(ConstMatrixView queries,
                                                 const SearchOptions& options) const {
  if (options.k < 0) {
    return absl::InvalidArgumentError(absl::StrCat("k = ", options.k, " is negative"));
  }
  // Capped by what exists before anything is allocated: k larger than the index returns every
  // vector, in min(k, size()) columns.
  SearchOptions capped = options;
  capped.k = static_cast<int>(std::min<std::int64_t>(options.k, size()));
  SearchResult result;
  result.scores.resize(queries.rows, capped.k);
  result.ids.resize(queries.rows, capped.k);
  DENSEFB_RETURN_IF_ERROR(Search(queries, capped, result.scores.data(), result.ids.data()));
  return result;
}

absl::Status VectorIndex::Delete(absl::Span<const std::int64_t>) {
  return absl::UnimplementedError("this index does not support Delete");
}

absl::Status VectorIndex::Update(ConstMatrixView, absl::Span<const std::int64_t>) {
  return absl::UnimplementedError("this index does not support Update");
}

absl::Status VectorIndex::NegativeReserve(std::int64_t n) {
  return absl::InvalidArgumentError(absl::StrCat("cannot reserve ", n, " vectors (negative)"));
}

}  // namespace densefb
