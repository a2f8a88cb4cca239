// Internal (torch target): the batch loop shared by the encoders.
#ifndef DENSEFB_SRC_TORCH_BATCHES_H_
#define DENSEFB_SRC_TORCH_BATCHES_H_

#include <ATen/ATen.h>

#include <cstdint>
#include <functional>

#include "absl/strings/string_view.h"
#include "densefb/status.h"

namespace densefb::torch_impl {

// Names for what RunBatches reports: errors read "<what>: ...", cancellation
// "<verb> cancelled after <done> of <n> <unit>".
struct BatchLabels {
  absl::string_view what;  // "ColBERT encoding"
  absl::string_view verb;  // "encoding"
  absl::string_view unit;  // "texts"
};

// Calls `batch(start, end)` for the batches [0, batch_size), [batch_size, 2 batch_size), ...
// of [0, n), in inference mode, and `progress(done, n)` after each (serialised; returning false
// cancels). A torch exception or a non-OK status from `batch` stops the work and is returned.
//
// On the CPU with T > 1 intra-op threads, up to T batches run at once, one per thread, each
// single-threaded (ops inside a parallel region run serially), taking the next batch as they
// finish. The per-batch arithmetic is the same; what is saved is the synchronisation and the
// idle time of splitting every small operator of one batch across threads (1-7%, ~4% on
// average, of MiniLM's encoding time on a 2-core machine). `batch` must therefore be safe to call concurrently on different
// batches: it writes only its own rows of the output. Elsewhere (a GPU, one thread, inside a
// parallel region already), batches run one after the other on the calling thread.
absl::Status RunBatches(std::int64_t n, std::int64_t batch_size, const at::Device& device,
                        const std::function<bool(std::int64_t, std::int64_t)>& progress,
                        const BatchLabels& labels,
                        const std::function<absl::Status(std::int64_t start, std::int64_t end)>& batch);

}  // namespace densefb::torch_impl

#endif  // DENSEFB_SRC_TORCH_BATCHES_H_
