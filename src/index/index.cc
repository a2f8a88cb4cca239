#include "densefb/index.h"

#include "absl/strings/str_cat.h"

namespace densefb {

absl::StatusOr<SearchResult> VectorIndex::Search(ConstMatrixView queries,
                                                 const SearchOptions& options) const {
  if (options.k < 0) {
    return absl::InvalidArgumentError(absl::StrCat("k = ", options.k, " is negative"));
  }
  SearchResult result;
  result.scores.resize(queries.rows, options.k);
  result.ids.resize(queries.rows, options.k);
  DENSEFB_RETURN_IF_ERROR(Search(queries, options, result.scores.data(), result.ids.data()));
  return result;
}

absl::Status VectorIndex::NegativeReserve(std::int64_t n) {
  return absl::InvalidArgumentError(absl::StrCat("cannot reserve ", n, " vectors (negative)"));
}

}  // namespace densefb
