// Internal: input validation shared by the vector indexes.
#ifndef DENSEFB_SRC_INDEX_CHECKS_H_
#define DENSEFB_SRC_INDEX_CHECKS_H_

#include "densefb/index.h"

namespace densefb {

// k >= 0, num_threads >= 0, queries.cols == dim (unless there are no queries), finite values.
absl::Status CheckQueries(ConstMatrixView queries, int dim, const SearchOptions& options);
// vectors.cols == dim (unless there are none), finite values.
absl::Status CheckVectors(ConstMatrixView vectors, int dim);

}  // namespace densefb

#endif  // DENSEFB_SRC_INDEX_CHECKS_H_
