#include "torch/batches.h"

#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "torch/model_files.h"

namespace densefb::torch_impl {

absl::Status RunBatches(std::int64_t n, std::int64_t batch_size, const at::Device& device,
                        const std::function<bool(std::int64_t, std::int64_t)>& progress,
                        const BatchLabels& labels,
                        const std::function<absl::Status(std::int64_t start, std::int64_t end)>& batch) {
  if (n <= 0) return absl::OkStatus();
  const std::int64_t batches = (n + batch_size - 1) / batch_size;
  const std::int64_t lanes = device.is_cpu() && !at::in_parallel_region()
                                 ? std::min<std::int64_t>(at::get_num_threads(), batches)
                                 : 1;
  std::atomic<std::int64_t> next{0};
  std::atomic<bool> stop{false};
  std::mutex mutex;  // guards `result`, `done` and the progress calls
  absl::Status result;
  std::int64_t done = 0;
  const auto lane = [&] {
    c10::InferenceMode guard;  // thread-local: set on every lane's thread
    for (std::int64_t b = next++; b < batches && !stop; b = next++) {
      const std::int64_t start = b * batch_size;
      const std::int64_t end = std::min(n, start + batch_size);
      absl::Status status;
      try {
        status = batch(start, end);
      } catch (const std::exception& e) {
        status = TorchError(e, labels.what);
      }
      std::lock_guard<std::mutex> lock(mutex);
      if (stop) return;
      if (!status.ok()) {
        result = status;
        stop = true;
        return;
      }
      done += end - start;
      if (progress && !progress(done, n)) {
        result = absl::CancelledError(
            absl::StrCat(labels.verb, " cancelled after ", done, " of ", n, " ", labels.unit));
        stop = true;
        return;
      }
    }
  };
  if (lanes <= 1) {
    lane();
  } else {
    at::parallel_for(0, lanes, 1, [&](std::int64_t first, std::int64_t last) {
      for (std::int64_t i = first; i < last; ++i) lane();
    });
  }
  return result;
}

}  // namespace densefb::torch_impl
