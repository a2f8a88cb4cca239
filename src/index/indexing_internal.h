// Internal: the argument checks of EncodeAndAdd, shared with the device index's version
// (src/torch/flat_index.cc).
#ifndef DENSEFB_SRC_INDEX_INDEXING_INTERNAL_H_
#define DENSEFB_SRC_INDEX_INDEXING_INTERNAL_H_

#include <string>

#include "absl/types/span.h"
#include "densefb/indexing.h"

namespace densefb {

// InvalidArgument for a null index, an encoder whose dimension is not the index's, ids not one
// per text, or chunk_size < 1.
absl::Status CheckEncodeAndAdd(const Encoder& encoder, absl::Span<const std::string> texts,
                               const VectorIndex* index, absl::Span<const std::int64_t> ids,
                               const IndexingOptions& options);

}  // namespace densefb

#endif  // DENSEFB_SRC_INDEX_INDEXING_INTERNAL_H_
