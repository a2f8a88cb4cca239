// Internal: bounded top-k selection. Keeps the k best (score, row) pairs; "better" means a
// higher score, ties going to the smaller row (earlier-added vector), so the selection is a
// total order and results do not depend on how work is split among threads.
#ifndef DENSEFB_SRC_INDEX_TOPK_H_
#define DENSEFB_SRC_INDEX_TOPK_H_

#include <algorithm>
#include <cstdint>
#include <functional>
#include <limits>
#include <vector>

namespace densefb {

struct ScoredRow {
  float score;
  std::int64_t row;
};

// A function object rather than a function, so that std::sort and the heap algorithms inline
// the comparison (a function pointer is called out of line for every comparison).
struct BetterThan {
  bool operator()(const ScoredRow& a, const ScoredRow& b) const {
    return a.score > b.score || (a.score == b.score && a.row < b.row);
  }
};
inline constexpr BetterThan Better{};

// Appends (scores[j], first_row + j) for every j in [0, n) with scores[j] > threshold to
// `out` (room for n entries), in increasing j; returns how many. Vectorised per instruction
// set in kernels_impl.inc (kernels::Best().select_above).
using SelectAboveFn = std::int64_t (*)(const float* scores, std::int64_t n, float threshold,
                                      std::int64_t first_row, ScoredRow* out);

// A heap over caller-owned storage of capacity k whose top is the worst kept entry.
class TopKHeap {
 public:
  TopKHeap(ScoredRow* storage, std::int64_t k) : data_(storage), k_(k) {}

  std::int64_t size() const { return size_; }
  // Entries below this score can never enter (valid when full).
  float threshold() const {
    return size_ < k_ ? -std::numeric_limits<float>::infinity() : data_[0].score;
  }

  void Push(float score, std::int64_t row) {
    const ScoredRow e{score, row};
    if (size_ < k_) {
      data_[size_++] = e;
      std::push_heap(data_, data_ + size_, Better);
    } else if (Better(e, data_[0])) {
      ReplaceTop(e);
    }
  }

  // Offers scores[0..n) for rows first_row.. (rows offered in increasing order across calls).
  // A vector pass picks the scores above the current threshold, 64 at a time; only those are
  // pushed (each push re-checks, since the threshold rises as the heap changes).
  void PushRow(const float* scores, std::int64_t n, std::int64_t first_row, SelectAboveFn select) {
    if (k_ == 0) return;
    ScoredRow picked[64];
    for (std::int64_t j = 0; j < n; j += 64) {
      const std::int64_t len = std::min<std::int64_t>(64, n - j);
      const std::int64_t m = select(scores + j, len, threshold(), first_row + j, picked);
      for (std::int64_t i = 0; i < m; ++i) Push(picked[i].score, picked[i].row);
    }
  }

  // Replaces the worst entry by `e` with a single sift-down (half the work of pop + push).
  void ReplaceTop(const ScoredRow& e) {
    std::int64_t i = 0;
    while (true) {
      std::int64_t child = 2 * i + 1;
      if (child >= size_) break;
      // The worse child is the one that "ranks before" nothing: Better(other, child).
      if (child + 1 < size_ && Better(data_[child], data_[child + 1])) ++child;
      if (!Better(e, data_[child])) {  // e is worse than or equal to the worse child
        break;
      }
      data_[i] = data_[child];
      i = child;
    }
    data_[i] = e;
  }

  // Sorts the kept entries best first; returns how many there are.
  std::int64_t SortBestFirst() {
    std::sort(data_, data_ + size_, Better);
    return size_;
  }

 private:
  ScoredRow* data_;
  std::int64_t k_;
  std::int64_t size_ = 0;
};

// Top-k for larger k: candidates above the threshold are appended to a buffer of 2k; when it
// fills, nth_element keeps the k best and the k-th score becomes the new threshold. Amortised
// O(1) per candidate instead of the heap's O(log k). Rows must be offered in increasing order
// (as a scan does), so a later candidate tying the threshold is worse and can be rejected.
class TopKReservoir {
 public:
  // Scores offered per vector pass; the storage has this much room beyond 2k.
  static constexpr std::int64_t kChunk = 64;

  // `storage` holds Capacity(k) entries.
  TopKReservoir(ScoredRow* storage, std::int64_t k) : data_(storage), k_(k) {}
  static std::int64_t Capacity(std::int64_t k) { return 2 * k + kChunk; }

  std::int64_t size() const { return std::min(size_, k_); }

  // Appends the scores above the threshold straight into the buffer, kChunk at a time; once
  // the buffer holds 2k or more, it shrinks to the k best before the next chunk.
  void PushRow(const float* scores, std::int64_t n, std::int64_t first_row, SelectAboveFn select) {
    if (k_ == 0) return;
    for (std::int64_t j = 0; j < n; j += kChunk) {
      const std::int64_t len = std::min(kChunk, n - j);
      if (size_ >= 2 * k_) Shrink();
      size_ += select(scores + j, len, threshold_, first_row + j, data_ + size_);
    }
  }

  std::int64_t SortBestFirst() {
    if (size_ > k_) Shrink();
    std::sort(data_, data_ + size_, Better);
    return size_;
  }

 private:
  // Keeps the k best of the 2k entries. The k-th best score is selected on a copy of the
  // scores alone (floats, a plain comparison), then one stable pass keeps every entry above
  // it and, of those equal to it, the earliest (smallest rows: entries are in row order), so
  // the kept set is exactly what Better would keep.
  void Shrink() {
    if (size_ <= k_) return;
    std::int64_t above = 0;  // entries strictly above kth
    const float kth = KthLargest(&above);
    std::int64_t ties = k_ - above;  // entries equal to kth that fit
    std::int64_t out = 0;
    for (std::int64_t i = 0; i < size_; ++i) {
      const ScoredRow e = data_[i];
      if (e.score > kth || (e.score == kth && ties-- > 0)) data_[out++] = e;
    }
    threshold_ = kth;
    size_ = k_;
  }

  // The k-th largest score of the buffer, exactly, by one bucketing pass: scores are binned
  // linearly between their minimum and maximum (a monotone map), the bin holding the k-th is
  // found by counting from the top, and only that bin's few scores are selected by
  // nth_element. About three times faster than nth_element over all 2k scores. Also counts
  // the scores strictly above the k-th into `*above`.
  float KthLargest(std::int64_t* above_out) {
    // About two scores per bin: the bins are cleared and scanned on every shrink.
    const int bins = static_cast<int>(std::clamp<std::int64_t>(size_ / 2, 16, 1024));
    float lo = data_[0].score, hi = data_[0].score;
    for (std::int64_t i = 1; i < size_; ++i) {
      lo = std::min(lo, data_[i].score);
      hi = std::max(hi, data_[i].score);
    }
    const float scale = hi > lo ? static_cast<float>(bins - 1) / (hi - lo) : 0.0f;  // 0: all equal (or inf range)
    const auto bin = [&](float x) {
      return std::min(static_cast<int>((x - lo) * scale), bins - 1);
    };
    bins_.assign(static_cast<std::size_t>(bins), 0);
    for (std::int64_t i = 0; i < size_; ++i) ++bins_[bin(data_[i].score)];
    std::int64_t above = 0;  // scores in bins above b
    int b = bins - 1;
    while (above + bins_[b] < k_) above += bins_[b--];
    scratch_.clear();
    for (std::int64_t i = 0; i < size_; ++i) {
      if (bin(data_[i].score) == b) scratch_.push_back(data_[i].score);
    }
    const auto nth = scratch_.begin() + (k_ - above - 1);
    std::nth_element(scratch_.begin(), nth, scratch_.end(), std::greater<float>());
    const float kth = *nth;
    *above_out = above + std::count_if(scratch_.begin(), scratch_.end(), [kth](float x) { return x > kth; });
    return kth;
  }

  ScoredRow* data_;
  std::int64_t k_;
  std::int64_t size_ = 0;
  float threshold_ = -std::numeric_limits<float>::infinity();
  std::vector<float> scratch_;
  std::vector<std::int64_t> bins_;
};

}  // namespace densefb

#endif  // DENSEFB_SRC_INDEX_TOPK_H_
