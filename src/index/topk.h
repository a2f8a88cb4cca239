// Internal: bounded top-k selection. Keeps the k best (score, row) pairs; "better" means a
// higher score, ties going to the smaller row (earlier-added vector), so the selection is a
// total order and results do not depend on how work is split among threads.
#ifndef DENSEFB_SRC_INDEX_TOPK_H_
#define DENSEFB_SRC_INDEX_TOPK_H_

#include <algorithm>
#include <cstdint>
#include <cstring>
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

// Appends every score of scores[0..n) above `threshold` to out_scores, and its offset
// first + j to out_offsets, in increasing j; returns how many. Whole-vector stores may write up
// to kSelectSlack entries past the returned count, so the outputs need that much room beyond n.
// Lowers *lo and raises *hi to the smallest and largest score appended. Vectorised per
// instruction set in kernels_impl.inc (kernels::Best().select_above).
inline constexpr std::int64_t kSelectSlack = 16;
using SelectAboveFn = std::int64_t (*)(const float* scores, std::int64_t n, float threshold,
                                      std::int32_t first, float* out_scores,
                                      std::int32_t* out_offsets, float* lo, float* hi);

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
    float picked[64 + kSelectSlack];
    std::int32_t offsets[64 + kSelectSlack];
    float lo = 0.0f, hi = 0.0f;  // score bounds: the heap has no use for them
    for (std::int64_t j = 0; j < n; j += 64) {
      const std::int64_t len = std::min<std::int64_t>(64, n - j);
      const std::int64_t m = select(scores + j, len, threshold(), 0, picked, offsets, &lo, &hi);
      for (std::int64_t i = 0; i < m; ++i) Push(picked[i], first_row + j + offsets[i]);
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

  // Writes the kept entries to `out` (room for k; may be the heap's own storage) best first;
  // returns how many there are.
  std::int64_t SortBestFirst(ScoredRow* out) {
    std::sort(data_, data_ + size_, Better);
    if (out != data_) std::copy(data_, data_ + size_, out);
    return size_;
  }

 private:
  ScoredRow* data_;
  std::int64_t k_;
  std::int64_t size_ = 0;
};

// Top-k for larger k: the scores above the threshold go to a buffer of 2k, scores and row
// offsets in separate arrays (vector compress-stores, contiguous passes); when it fills, the
// k best are kept and the k-th score becomes the new threshold. Amortised O(1) per candidate
// instead of the heap's O(log k). Rows must be offered in increasing order (as a scan does),
// so a later candidate tying the threshold is worse and can be rejected. Rows are kept as
// 32-bit offsets from `base`, so one reservoir covers fewer than 2^31 rows.
class TopKReservoir {
 public:
  // Room past 2k: one selection call of at least 64 scores, with the kernel's slack.
  static constexpr std::int64_t kRoom = 64 + kSelectSlack;
  static std::int64_t Capacity(std::int64_t k) { return 2 * k + kRoom; }

  // `scores` and `offsets` hold Capacity(k) entries each.
  TopKReservoir(float* scores, std::int32_t* offsets, std::int64_t k, std::int64_t base)
      : scores_(scores), offsets_(offsets), k_(k), base_(base) {}

  // Appends the scores above the threshold straight into the buffer, as many per call as the
  // buffer has room for; once it holds 2k or more, it shrinks to the k best.
  void PushRow(const float* scores, std::int64_t n, std::int64_t first_row, SelectAboveFn select) {
    if (k_ == 0) return;
    const auto first = static_cast<std::int32_t>(first_row - base_);
    for (std::int64_t j = 0; j < n;) {
      if (size_ >= 2 * k_) Shrink();
      const std::int64_t len = std::min(n - j, Capacity(k_) - kSelectSlack - size_);
      size_ += select(scores + j, len, threshold_, first + static_cast<std::int32_t>(j),
                      scores_ + size_, offsets_ + size_, &lo_, &hi_);
      j += len;
    }
  }

  // Writes the k best (or all, if fewer) to `out` (room for k), best first; returns how many.
  // Sorted as 64-bit keys (a descending map of the score's bits, then the offset): the order
  // of Better, with plain integer comparisons.
  std::int64_t SortBestFirst(ScoredRow* out) {
    if (size_ > k_) Shrink();
    keys_.resize(static_cast<std::size_t>(size_));
    for (std::int64_t i = 0; i < size_; ++i) {
      keys_[i] = std::uint64_t{DescendingKey(scores_[i])} << 32 | static_cast<std::uint32_t>(offsets_[i]);
    }
    std::sort(keys_.begin(), keys_.end());
    for (std::int64_t i = 0; i < size_; ++i) {
      const std::uint64_t key = keys_[i];
      out[i] = {ScoreOfKey(static_cast<std::uint32_t>(key >> 32)), base_ + static_cast<std::int64_t>(key & 0xFFFFFFFFu)};
    }
    return size_;
  }

 private:
  // Keeps the k best entries. The k-th best score is found first (KthLargest), then one
  // stable, branch-free pass keeps every entry above it and, of those equal to it, the earliest
  // (smallest rows: entries are in row order), so the kept set is exactly what Better keeps.
  void Shrink() {
    if (size_ <= k_) return;
    std::int64_t above = 0;  // entries strictly above kth
    const float kth = KthLargest(&above);
    std::int64_t ties = k_ - above;  // entries equal to kth that fit
    std::int64_t out = 0;
    for (std::int64_t i = 0; i < size_; ++i) {
      const float s = scores_[i];
      const std::int32_t o = offsets_[i];
      // Bitwise, not logical, operators: no branch on a keep that is true half the time.
      const bool tie = s == kth;
      const bool keep_tie = tie & (ties > 0);
      ties -= static_cast<std::int64_t>(keep_tie);
      scores_[out] = s;
      offsets_[out] = o;
      out += static_cast<std::int64_t>((s > kth) | keep_tie);
    }
    threshold_ = kth;
    lo_ = kth;  // every kept score is >= kth
    size_ = k_;
  }

  // The k-th largest score of the buffer, exactly, by one bucketing pass: scores are binned
  // linearly between a lower and an upper bound of the buffer's scores (a monotone map), the
  // bin holding the k-th is found by counting from the top, and only that bin's few scores
  // are selected by nth_element. About three times faster than nth_element over all 2k
  // scores. Also counts the scores strictly above the k-th into `*above`.
  float KthLargest(std::int64_t* above_out) {
    // About two scores per bin: the bins are cleared and scanned on every shrink.
    const int bins = static_cast<int>(std::clamp<std::int64_t>(size_ / 2, 16, 1024));
    const float lo = lo_;
    const float span = hi_ - lo_;
    if (!(span > 0.0f && span <= std::numeric_limits<float>::max())) {
      // All equal, or a range beyond float (scores near +-FLT_MAX), where x - lo could
      // overflow: select among all the scores.
      scratch_.assign(scores_, scores_ + size_);
      return SelectKth(0, above_out);
    }
    // Here 0 <= x - lo <= span for every score, so the bin is a finite, monotone map.
    const float scale = static_cast<float>(bins - 1) / span;
    const auto bin = [&](float x) {
      return std::min(static_cast<int>((x - lo) * scale), bins - 1);
    };
    bins_.assign(static_cast<std::size_t>(bins), 0);
    for (std::int64_t i = 0; i < size_; ++i) ++bins_[bin(scores_[i])];
    std::int64_t above = 0;  // scores in bins above b
    int b = bins - 1;
    while (above + bins_[b] < k_) above += bins_[b--];
    scratch_.clear();
    for (std::int64_t i = 0; i < size_; ++i) {
      if (bin(scores_[i]) == b) scratch_.push_back(scores_[i]);
    }
    return SelectKth(above, above_out);
  }

  // The k-th largest score, given that `above` scores are known to be larger and scratch_
  // holds the remaining candidates for it; `*above_out` = above + the scratch scores strictly
  // larger than it.
  float SelectKth(std::int64_t above, std::int64_t* above_out) {
    const auto nth = scratch_.begin() + (k_ - above - 1);
    std::nth_element(scratch_.begin(), nth, scratch_.end(), std::greater<float>());
    const float kth = *nth;
    *above_out = above + std::count_if(scratch_.begin(), scratch_.end(), [kth](float x) { return x > kth; });
    return kth;
  }

  // Unsigned keys in the reverse order of the (finite) scores; -0 and +0 share one key, as
  // they compare equal, and ScoreOfKey gives back +0 for both.
  static std::uint32_t DescendingKey(float score) {
    std::uint32_t u;
    std::memcpy(&u, &score, sizeof u);
    if (u == 0x80000000u) u = 0;
    return (u & 0x80000000u) != 0 ? u : ~u & 0x7FFFFFFFu;
  }
  static float ScoreOfKey(std::uint32_t key) {
    const std::uint32_t u = (key & 0x80000000u) != 0 ? key : ~key & 0x7FFFFFFFu;
    float score;
    std::memcpy(&score, &u, sizeof score);
    return score;
  }

  float* scores_;
  std::int32_t* offsets_;
  std::int64_t k_;
  std::int64_t base_;
  std::int64_t size_ = 0;
  float threshold_ = -std::numeric_limits<float>::infinity();
  float lo_ = std::numeric_limits<float>::infinity();   // <= every buffered score
  float hi_ = -std::numeric_limits<float>::infinity();  // >= every buffered score
  std::vector<float> scratch_;
  std::vector<std::int64_t> bins_;
  std::vector<std::uint64_t> keys_;
};

}  // namespace densefb

#endif  // DENSEFB_SRC_INDEX_TOPK_H_
