// Internal: a minimal parallel-for over [0, n) with a bounded number of threads.
#ifndef DENSEFB_SRC_COMMON_PARALLEL_H_
#define DENSEFB_SRC_COMMON_PARALLEL_H_

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace densefb {

inline int ResolveThreads(int requested) {
  if (requested > 0) return requested;
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

// Calls fn(i, worker) for every i in [0, n), handing out indices dynamically to up to
// `threads` workers (worker in [0, threads)). Runs inline when one thread suffices.
template <typename Fn>
void ParallelFor(std::int64_t n, int threads, Fn&& fn) {
  threads = static_cast<int>(std::min<std::int64_t>(std::max(threads, 1), std::max<std::int64_t>(n, 1)));
  if (threads <= 1) {
    for (std::int64_t i = 0; i < n; ++i) fn(i, 0);
    return;
  }
  std::atomic<std::int64_t> next{0};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto work = [&](int worker) {
    try {
      for (std::int64_t i = next++; i < n; i = next++) fn(i, worker);
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (!error) error = std::current_exception();
      next = n;
    }
  };
  std::vector<std::thread> pool;
  pool.reserve(threads - 1);
  for (int t = 1; t < threads; ++t) pool.emplace_back(work, t);
  work(0);
  for (auto& th : pool) th.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace densefb

#endif  // DENSEFB_SRC_COMMON_PARALLEL_H_
