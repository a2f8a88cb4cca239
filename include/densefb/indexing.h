// Building an index from text: encode in chunks and add, so memory stays bounded by one
// chunk of vectors whatever the corpus size.
#ifndef DENSEFB_INDEXING_H_
#define DENSEFB_INDEXING_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/types/span.h"
#include "densefb/encoder.h"
#include "densefb/index.h"
#include "densefb/status.h"

namespace densefb {

struct IndexingOptions {
  int batch_size = 32;            // texts per encoder forward pass
  std::int64_t chunk_size = 4096; // texts encoded before each Add (bounds memory)
  // (texts added, total) after each chunk and encoder batch; false cancels (Cancelled).
  std::function<bool(std::int64_t, std::int64_t)> progress;
};

// Encodes `texts` as documents and adds them to `index` with `ids` (empty: continuing from
// index->size()). The encoder's dimension must equal the index's. On an error part of the
// texts may have been added; the error says how many.
absl::Status EncodeAndAdd(const Encoder& encoder, absl::Span<const std::string> texts,
                          VectorIndex* index, absl::Span<const std::int64_t> ids = {},
                          const IndexingOptions& options = {});

}  // namespace densefb

#endif  // DENSEFB_INDEXING_H_
