// Internal: the storage and search scaffolding shared by ScalarQuantizedIndex and
// ProductQuantizedIndex. A CodeStore holds the fixed-size codes of the vectors, the float32
// originals kept for re-scoring, the cosine factors (1 / |decoded vector|, and 1 / |original|
// when re-scoring), the ids and the reader-writer lock. It implements what does not depend on
// the encoding: Reserve, the bookkeeping of Add (and its rollback), the orchestration of Search
// (query normalisation for cosine, r*k candidates, the filter split, exact re-scoring, output),
// the id lookups of Reconstruct, the sizes of memory_usage, and the rows part of Save and Load.
// The index passes in what differs: encoding and decoding rows, and the compressed scan.
//
// Locking: the index takes the lock (ReadLock / WriteLock) around the calls below, except
// where a method says it locks itself.
#ifndef DENSEFB_SRC_INDEX_CODE_STORE_H_
#define DENSEFB_SRC_INDEX_CODE_STORE_H_

#include <algorithm>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <vector>

#include "absl/functional/function_ref.h"
#include "common/parallel.h"
#include "densefb/file_format.h"
#include "densefb/filter.h"
#include "densefb/index.h"
#include "densefb/quantized_index.h"
#include "index/block_scan.h"
#include "index/id_table.h"
#include "index/rw_lock.h"
#include "index/topk.h"

namespace densefb {

class CodeStore {
 public:
  // Encodes n rows of `v` into out (n x code_bytes bytes).
  using EncodeFn = absl::FunctionRef<void(ConstMatrixView v, std::uint8_t* out)>;
  // Decodes n codes (n x code_bytes bytes) into out (n x dim floats).
  using DecodeFn = absl::FunctionRef<void(const std::uint8_t* codes, std::int64_t n, float* out)>;
  // The compressed scan: the best `kk` rows of each of nq (normalised) queries, best first,
  // into best (nq x max(kk, 1)), counts in sizes. filter_rows: null, or the filter row of each
  // query.
  using ScanFn = absl::FunctionRef<void(const float* q_data, std::int64_t nq, std::int64_t kk,
                                        const SearchOptions& options, const std::int64_t* filter_rows,
                                        ScoredRow* best, std::int64_t* sizes)>;
  // Scoring of the allowed ids of one query (few allowed): its best kk rows, best first, into
  // best; returns their count (see ScanAllowed below).
  using ScanAllowedFn = absl::FunctionRef<std::int64_t(const float* query, std::int64_t filter_row, std::int64_t kk,
                                                       const SearchOptions& options, ScoredRow* best)>;

  CodeStore(int dim, Metric metric, int code_bytes, int rescore_factor);
  ~CodeStore();

  ReaderLock ReadLock() const { return ReaderLock(turnstile_, mutex_); }
  WriterLock WriteLock() const { return WriterLock(turnstile_, mutex_); }

  int dim() const { return dim_; }
  Metric metric() const { return metric_; }
  int code_bytes() const { return code_bytes_; }
  int rescore_factor() const { return rescore_factor_; }
  bool cosine() const { return metric_ == Metric::kCosine; }
  const std::vector<std::uint8_t>& codes() const { return codes_; }
  const std::uint8_t* code(std::int64_t row) const { return codes_.data() + row * code_bytes_; }
  // Null unless cosine.
  const float* inv_norms() const { return cosine() ? inv_norms_.data() : nullptr; }
  const IdTable& id_table() const { return *id_table_; }

  // Locks itself.
  std::int64_t size() const;
  const std::vector<std::int64_t>& ids() const;
  // Locks itself: reserves room for n >= 0 vectors (the index rejects a negative n).
  absl::Status Reserve(std::int64_t n);

  // Checks `vectors` and `ids` as VectorIndex::Add (before any training).
  absl::Status CheckAdd(ConstMatrixView vectors, absl::Span<const std::int64_t> ids) const;
  // Appends checked vectors: their codes, their cosine factors from the decoded vectors, the
  // originals when re-scoring, the ids. check_decoded: the decoded vectors must meet Add's norm
  // bound (InvalidArgument otherwise). On any error (ResourceExhausted when out of memory)
  // nothing has changed.
  absl::Status Append(ConstMatrixView vectors, absl::Span<const std::int64_t> ids, EncodeFn encode, DecodeFn decode,
                      bool check_decoded);
  // The same with the index's EncodeRows and DecodeRows (of the signatures of EncodeFn and
  // DecodeFn; the index befriends CodeStore).
  template <typename Index>
  absl::Status Append(ConstMatrixView vectors, absl::Span<const std::int64_t> ids, const Index& owner,
                      bool check_decoded) {
    return Append(
        vectors, ids, [&](ConstMatrixView v, std::uint8_t* out) { owner.EncodeRows(v, out); },
        [&](const std::uint8_t* codes, std::int64_t n, float* out) { owner.DecodeRows(codes, n, out); },
        check_decoded);
  }

  // Search of VectorIndex (the index holds the reader lock).
  absl::Status Search(ConstMatrixView queries, const SearchOptions& options, float* out_scores,
                      std::int64_t* out_ids, ScanFn scan, ScanAllowedFn scan_allowed) const;
  // The same with the index's Scan and ScanAllowed (of the signatures of ScanFn and
  // ScanAllowedFn; the index befriends CodeStore).
  template <typename Index>
  absl::Status Search(ConstMatrixView queries, const SearchOptions& options, float* out_scores,
                      std::int64_t* out_ids, const Index& owner) const {
    return Search(
        queries, options, out_scores, out_ids,
        [&](const float* q_data, std::int64_t nq, std::int64_t kk, const SearchOptions& opts,
            const std::int64_t* filter_rows, ScoredRow* best, std::int64_t* sizes) {
          owner.Scan(q_data, nq, kk, opts, filter_rows, best, sizes);
        },
        [&](const float* query, std::int64_t filter_row, std::int64_t kk, const SearchOptions& opts,
            ScoredRow* best) { return owner.ScanAllowed(query, filter_row, kk, opts, best); });
  }

  // Exhaustive scoring of the allowed ids of filter row `filter_row` (few allowed):
  // score_rows(rows, count, out) scores rows as the index's scan scores them (the cosine factor
  // is applied here); the best kk, best first, go to best; returns their count.
  template <typename ScoreRows>
  std::int64_t ScanAllowed(const Filter& filter, std::int64_t filter_row, std::int64_t kk, ScoreRows&& score_rows,
                           ScoredRow* best) const {
    std::vector<std::int64_t> rows;
    for (std::int64_t id : filter.Ids(filter_row)) {
      const std::int64_t row = id_table_->Row(id);
      if (row >= 0) rows.push_back(row);
    }
    std::vector<float> scores(rows.size());
    score_rows(rows.data(), static_cast<std::int64_t>(rows.size()), scores.data());
    std::vector<ScoredRow> hits;
    hits.reserve(rows.size());
    for (std::size_t j = 0; j < rows.size(); ++j) {
      float score = scores[j];
      if (cosine()) score *= inv_norms_[rows[j]];
      hits.push_back({score, rows[j]});
    }
    const std::int64_t keep = std::min<std::int64_t>(kk, static_cast<std::int64_t>(hits.size()));
    std::partial_sort(hits.begin(), hits.begin() + keep, hits.end(), Better);
    std::copy_n(hits.begin(), keep, best);
    return keep;
  }

  // Runs a scan split by `plan` and merges the shards: scan_shards(best, best_sizes) writes
  // each (query q, shard s)'s best rows, sorted best first, at best[(q * n_shards + s) * stride]
  // and their count at best_sizes[q * n_shards + s] (with one shard, straight into out_best and
  // out_sizes); each query's best kk of them go to out_best[q * stride], counts to out_sizes.
  template <typename ScanShards>
  static void ScanAndMerge(const scan::Plan& plan, std::int64_t nq, std::int64_t kk, ScanShards&& scan_shards,
                           ScoredRow* out_best, std::int64_t* out_sizes) {
    const std::int64_t n_shards = plan.n_shards, stride = plan.stride;
    if (n_shards == 1) {
      scan_shards(out_best, out_sizes);
      return;
    }
    std::unique_ptr<ScoredRow[]> best(new ScoredRow[static_cast<std::size_t>(nq * n_shards * stride)]);
    std::vector<std::int64_t> best_sizes(static_cast<std::size_t>(nq * n_shards), 0);
    scan_shards(best.get(), best_sizes.data());
    // Merge each query's shards (each sorted best first); -inf entries (filtered out) never
    // pass a selector, so every kept entry is a real candidate.
    const int merge_threads = static_cast<int>(std::min<std::int64_t>(plan.threads, nq));
    std::vector<std::vector<ScoredRow>> merged(static_cast<std::size_t>(std::max(merge_threads, 1)));
    ParallelFor(nq, merge_threads, [&](std::int64_t q, int worker) {
      std::vector<ScoredRow>& m = merged[worker];
      m.clear();
      for (std::int64_t s = 0; s < n_shards; ++s) {
        const ScoredRow* h = &best[(q * n_shards + s) * stride];
        m.insert(m.end(), h, h + best_sizes[q * n_shards + s]);
      }
      const std::int64_t keep = std::min<std::int64_t>(kk, static_cast<std::int64_t>(m.size()));
      std::partial_sort(m.begin(), m.begin() + keep, m.end(), Better);
      std::copy_n(m.begin(), keep, &out_best[q * stride]);
      out_sizes[q] = keep;
    });
  }

  // Reconstruct of VectorIndex (the index holds the reader lock).
  absl::Status Reconstruct(absl::Span<const std::int64_t> ids, MutableMatrixView out, DecodeFn decode) const;
  // The same with the index's DecodeRows (the index befriends CodeStore).
  template <typename Index>
  absl::Status Reconstruct(absl::Span<const std::int64_t> ids, MutableMatrixView out, const Index& owner) const {
    auto decode = [&](const std::uint8_t* codes, std::int64_t n, float* o) { owner.DecodeRows(codes, n, o); };
    return Reconstruct(ids, out, DecodeFn(decode));
  }

  // The parts of memory_usage that do not depend on the encoding (all but params).
  QuantizedMemoryUsage MemoryUsage() const;

  // Save: the rows part of the payload, after the index's header fields:
  //   u64 n, i64 ids[n], codes[n x code_bytes], [rescore_factor > 0] f32 originals[n x dim]
  absl::Status SaveRows(AtomicFileWriter& writer) const;
  // Load: reads the vector count of the rows part.
  absl::Status LoadCount(FileReader& reader, std::uint64_t* n) const;
  // Load: the rest of the rows part (n from LoadCount), then ExpectEnd. check_codes: the codes
  // read (n x code_bytes), an error (already a Corrupt one) when they are invalid. Then, as
  // Append: the decoded vectors checked (check_decoded) and their cosine factors taken, the
  // originals checked and their cosine factors taken.
  absl::Status LoadRows(FileReader& reader, std::uint64_t n,
                        absl::FunctionRef<absl::Status(const std::vector<std::uint8_t>& codes)> check_codes,
                        DecodeFn decode, bool check_decoded);

 private:
  // Appends the cosine factors of the decoded codes from row `first` on (and checks the
  // decoded vectors when check_decoded); the error names the first row of the failing chunk.
  absl::Status DecodedNorms(std::int64_t first, DecodeFn decode, bool check_decoded);

  int dim_;
  Metric metric_;
  int code_bytes_;                     // bytes per vector
  int rescore_factor_;
  std::vector<std::uint8_t> codes_;    // size() x code_bytes_
  std::vector<float> inv_norms_;       // cosine: 1 / |decoded vector|
  std::vector<float> originals_;       // re-scoring: size() x dim float32, as added
  std::vector<float> orig_inv_norms_;  // re-scoring with cosine: 1 / |original|
  std::unique_ptr<IdTable> id_table_;
  mutable std::shared_mutex mutex_;  // as FlatIndex (src/index/rw_lock.h)
  mutable std::mutex turnstile_;
};

}  // namespace densefb

#endif  // DENSEFB_SRC_INDEX_CODE_STORE_H_
