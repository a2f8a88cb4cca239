// Internal: the exhaustive scan shared by FlatIndex and ScalarQuantizedIndex. Queries are split
// into blocks, rows into shards of whole GEMM blocks; each (query block, shard) task scores its
// rows block by block (one GEMM each), scales by inverse norms (cosine), masks rows a filter
// refuses, and keeps each query's best kk rows of the shard. Only where a block's vectors come
// from differs: the float32 matrix itself, or codes decoded into a buffer.
#ifndef DENSEFB_SRC_INDEX_BLOCK_SCAN_H_
#define DENSEFB_SRC_INDEX_BLOCK_SCAN_H_

#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

#include "common/parallel.h"
#include "densefb/filter.h"
#include "index/kernels.h"
#include "index/topk.h"

namespace densefb::scan {

// Eigen's GEMM scores rows in panels of three SIMD packets (48 with AVX-512, 24 with AVX2, 12
// with SSE) and rows left over in a narrower kernel with another summation order, so one vector
// could score differently at different positions of a block. Blocks are whole panels (the last
// one padded with zero rows): equal vectors always get equal scores.
inline constexpr std::int64_t kGemmPanel = 48;
inline constexpr std::int64_t kDocBlock = 11 * kGemmPanel;  // rows per GEMM block (528)
inline constexpr std::int64_t kQueryBlock = 512;             // queries per GEMM block
inline constexpr std::int64_t kMinShardDocs = 8192;
inline constexpr std::int64_t kReservoirMinK = 32;           // from this k on, reservoir selection
inline constexpr std::int64_t kMaxShardDocs = std::int64_t{1} << 30;  // reservoirs hold 32-bit offsets

// How nq queries over n rows are split. The split depends on nq and n, and on the thread count
// only through the number of shards; shards are whole multiples of the GEMM block, so every row
// is scored in the same block shape at the same offset whatever the thread count: identical
// rounding, identical results.
struct Plan {
  int threads = 1;
  std::int64_t n_qblocks = 0, qblock = kQueryBlock;
  std::int64_t n_shards = 1, shard_docs = kDocBlock;
  std::int64_t kk = 0;      // entries kept per (query, shard): min(k, n)
  std::int64_t stride = 1;  // slots per (query, shard) in `best`: max(kk, 1)
};

inline Plan MakePlan(std::int64_t nq, std::int64_t n, std::int64_t k, int num_threads) {
  Plan p;
  p.threads = ResolveThreads(num_threads);
  // Equal query blocks of at most kQueryBlock (1000 queries: two of 500, not 512 + 488, so two
  // threads finish together).
  p.n_qblocks = (nq + kQueryBlock - 1) / kQueryBlock;
  p.qblock = p.n_qblocks > 0 ? (nq + p.n_qblocks - 1) / p.n_qblocks : kQueryBlock;
  // Few queries: split the rows instead.
  if (p.n_qblocks < p.threads && n > 0) {
    p.n_shards = std::min<std::int64_t>((p.threads + p.n_qblocks - 1) / p.n_qblocks,
                                        std::max<std::int64_t>(1, n / kMinShardDocs));
  }
  p.n_shards = std::max(p.n_shards, (n + kMaxShardDocs - 1) / kMaxShardDocs);
  const std::int64_t per_shard = (n + p.n_shards - 1) / std::max<std::int64_t>(p.n_shards, 1);
  p.shard_docs = std::max<std::int64_t>(kDocBlock, (per_shard + kDocBlock - 1) / kDocBlock * kDocBlock);
  p.kk = std::min(k, std::max<std::int64_t>(n, 0));
  p.stride = std::max<std::int64_t>(p.kk, 1);
  return p;
}

// Runs the scan. `block(d0, dn, ld, buffer)` returns the vectors of rows [d0, d0 + dn) as ld
// (>= dn, a whole number of panels) row-major rows of `dim` floats, rows past dn zero: either
// its own memory or `buffer` (ld x dim floats, the worker's) filled in. inv_norms: null, or
// per row the factor its scores are multiplied by. filter / filter_rows: null, or the filter
// and each query's row in it, applied to row_ids. Writes each (query q, shard s)'s best rows,
// sorted best first (ties by smaller row), at best[(q * n_shards + s) * stride], and their
// count at best_sizes[q * n_shards + s].
template <typename BlockFn>
void ScanBlocks(const Plan& plan, const float* q_data, std::int64_t nq, std::int64_t n, std::int64_t dim,
                const float* inv_norms, const Filter* filter, const std::int64_t* filter_rows,
                const std::int64_t* row_ids, BlockFn&& block, ScoredRow* best, std::int64_t* best_sizes) {
  const kernels::KernelSet& kern = kernels::Best();
  const std::int64_t kk = plan.kk, stride = plan.stride, n_shards = plan.n_shards, qblock = plan.qblock;
  // Per worker: the block's scores, the block buffer, and for reservoirs their working buffers
  // (scores and row offsets, qblock of them). ParallelFor never runs more workers than tasks.
  struct Scratch {
    std::vector<float> c;
    std::vector<float> docs;
    std::unique_ptr<float[]> scores;
    std::unique_ptr<std::int32_t[]> offsets;
  };
  const std::int64_t tasks = plan.n_qblocks * n_shards;
  std::vector<Scratch> scratch(static_cast<std::size_t>(std::min<std::int64_t>(plan.threads, std::max<std::int64_t>(tasks, 1))));
  const std::int64_t capacity = TopKReservoir::Capacity(kk);

  auto run = [&](auto make_selector) {
    ParallelFor(tasks, plan.threads, [&](std::int64_t task, int worker) {
      const std::int64_t qb = task / n_shards, shard = task % n_shards;
      const std::int64_t q0 = qb * qblock, qn = std::min(qblock, nq - q0);
      const std::int64_t d_begin = shard * plan.shard_docs, d_end = std::min(n, d_begin + plan.shard_docs);
      Scratch& w = scratch[worker];
      w.c.resize(static_cast<std::size_t>(qblock * kDocBlock));
      using Selector = decltype(make_selector(w, std::int64_t{0}, std::int64_t{0}, static_cast<ScoredRow*>(nullptr)));
      std::vector<Selector> selectors;
      selectors.reserve(qn);
      for (std::int64_t i = 0; i < qn; ++i) {
        selectors.push_back(make_selector(w, i, d_begin, &best[((q0 + i) * n_shards + shard) * stride]));
      }
      for (std::int64_t d0 = d_begin; d0 < d_end; d0 += kDocBlock) {
        const std::int64_t dn = std::min(kDocBlock, d_end - d0);
        const std::int64_t ld = (dn + kGemmPanel - 1) / kGemmPanel * kGemmPanel;
        w.docs.resize(static_cast<std::size_t>(kDocBlock * dim));
        const float* docs = block(d0, dn, ld, w.docs.data());
        kern.gemm_nt(q_data + q0 * dim, qn, docs, ld, dim, w.c.data(), ld);
        if (inv_norms != nullptr) {
          const float* inv = inv_norms + d0;
          for (std::int64_t i = 0; i < qn; ++i) {
            float* row = w.c.data() + i * ld;
            for (std::int64_t j = 0; j < dn; ++j) row[j] *= inv[j];
          }
        }
        if (filter != nullptr) {  // -inf is never above a selector's threshold
          const std::int64_t* ids = row_ids + d0;
          for (std::int64_t i = 0; i < qn; ++i) {
            float* row = w.c.data() + i * ld;
            const std::int64_t f = filter_rows[q0 + i];
            for (std::int64_t j = 0; j < dn; ++j) {
              if (!filter->Allows(f, ids[j])) row[j] = -std::numeric_limits<float>::infinity();
            }
          }
        }
        for (std::int64_t i = 0; i < qn; ++i) selectors[i].PushRow(w.c.data() + i * ld, dn, d0, kern.select_above);
      }
      for (std::int64_t i = 0; i < qn; ++i) {
        best_sizes[(q0 + i) * n_shards + shard] = selectors[i].SortBestFirst(&best[((q0 + i) * n_shards + shard) * stride]);
      }
    });
  };
  // Heaps for small k; for larger k a reservoir (amortised O(1) per candidate) does better.
  if (kk >= kReservoirMinK) {
    for (Scratch& w : scratch) {
      w.scores.reset(new float[static_cast<std::size_t>(qblock * capacity)]);
      w.offsets.reset(new std::int32_t[static_cast<std::size_t>(qblock * capacity)]);
    }
    run([&](Scratch& w, std::int64_t i, std::int64_t base, ScoredRow*) {
      return TopKReservoir(&w.scores[i * capacity], &w.offsets[i * capacity], kk, base);
    });
  } else {
    run([&](Scratch&, std::int64_t, std::int64_t, ScoredRow* storage) { return TopKHeap(storage, kk); });
  }
}

// Scores one query against chosen rows exactly as ScanBlocks scores them (each score equal to
// the scan's to the bit, so a ranking does not depend on which path scored it): the rows are
// gathered into blocks of whole panels (zero rows pad the last one) through `fill(row, dst)`,
// which writes a row's `dim` floats, and the query is passed twice (a one-row product would take
// Eigen's GEMV path, with another summation order). out[j] = <query, row rows[j]>.
template <typename FillFn>
void ScoreGathered(const float* query, const std::int64_t* rows, std::int64_t count, std::int64_t dim, FillFn&& fill,
                   float* out) {
  const kernels::KernelSet& kern = kernels::Best();
  std::vector<float> twice(static_cast<std::size_t>(2 * dim));
  std::copy_n(query, dim, twice.data());
  std::copy_n(query, dim, twice.data() + dim);
  std::vector<float> block, scores;
  for (std::int64_t r0 = 0; r0 < count; r0 += kDocBlock) {
    const std::int64_t rn = std::min(kDocBlock, count - r0);
    const std::int64_t ld = (rn + kGemmPanel - 1) / kGemmPanel * kGemmPanel;
    block.assign(static_cast<std::size_t>(ld * dim), 0.0f);
    for (std::int64_t j = 0; j < rn; ++j) fill(rows[r0 + j], &block[j * dim]);
    scores.resize(static_cast<std::size_t>(2 * ld));
    kern.gemm_nt(twice.data(), 2, block.data(), ld, dim, scores.data(), ld);
    std::copy_n(scores.data(), rn, out + r0);
  }
}

}  // namespace densefb::scan

#endif  // DENSEFB_SRC_INDEX_BLOCK_SCAN_H_
