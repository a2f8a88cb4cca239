#include "densefb/indexing.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "index/indexing_internal.h"

namespace densefb {

absl::Status CheckEncodeAndAdd(const Encoder& encoder, absl::Span<const std::string> texts,
                               const VectorIndex* index, absl::Span<const std::int64_t> ids,
                               const IndexingOptions& options) {
  if (index == nullptr) return absl::InvalidArgumentError("index is null");
  if (encoder.Dimension() != index->dim()) {
    return absl::InvalidArgumentError(absl::StrCat("the encoder gives ", encoder.Dimension(),
                                                   "-dimensional vectors, the index holds ", index->dim()));
  }
  if (!ids.empty() && ids.size() != texts.size()) {
    return absl::InvalidArgumentError(absl::StrCat("got ", ids.size(), " ids for ", texts.size(), " texts"));
  }
  if (options.chunk_size < 1) {
    return absl::InvalidArgumentError(absl::StrCat("chunk_size = ", options.chunk_size, " must be >= 1"));
  }
  return absl::OkStatus();
}

absl::Status EncodeAndAdd(const Encoder& encoder, absl::Span<const std::string> texts,
                          VectorIndex* index, absl::Span<const std::int64_t> ids,
                          const IndexingOptions& options) {
  DENSEFB_RETURN_IF_ERROR(CheckEncodeAndAdd(encoder, texts, index, ids, options));
  const auto n = static_cast<std::int64_t>(texts.size());
  const int dim = encoder.Dimension();
  DENSEFB_RETURN_IF_ERROR(index->Reserve(index->size() + n));  // no growth copies while adding
  std::vector<float> buffer;
  for (std::int64_t start = 0; start < n; start += options.chunk_size) {
    const std::int64_t len = std::min(options.chunk_size, n - start);
    buffer.resize(static_cast<std::size_t>(len * dim));
    EncodeOptions eo;
    eo.batch_size = options.batch_size;
    if (options.progress) {
      eo.progress = [&](std::int64_t done, std::int64_t) { return options.progress(start + done, n); };
    }
    const absl::Status encoded =
        encoder.EncodeDocuments(texts.subspan(start, len), {buffer.data(), len, dim}, eo);
    if (!encoded.ok()) {
      return absl::Status(encoded.code(), absl::StrCat(encoded.message(), " (", start,
                                                       " texts were added before this)"));
    }
    DENSEFB_RETURN_IF_ERROR(index->Add({buffer.data(), len, dim},
                                       ids.empty() ? ids : ids.subspan(start, len)));
  }
  return absl::OkStatus();
}

}  // namespace densefb
