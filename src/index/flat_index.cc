#include "densefb/flat_index.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/parallel.h"
#include "densefb/file_format.h"
#include "index/block_scan.h"
#include "index/checks.h"
#include "index/id_table.h"
#include "index/kernels.h"
#include "index/rw_lock.h"
#include "index/topk.h"

namespace densefb {

// Rows whose squared L2 norm exceeds the float32 range (|v| > 1.8e19) are rejected: below it,
// every inner product of two rows is finite in float32 (Cauchy-Schwarz), so no score can
// overflow to an infinity or a NaN (inf - inf) that would silently drop documents from a ranking.
static absl::Status CheckNorm(const float* row, std::int64_t cols, std::int64_t i, absl::string_view what) {
  double norm2 = 0;
  for (std::int64_t j = 0; j < cols; ++j) norm2 += static_cast<double>(row[j]) * row[j];
  if (norm2 > std::numeric_limits<float>::max()) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " row ", i, " has L2 norm ", std::sqrt(norm2),
        ", above 1.8e19: its inner products could overflow float32"));
  }
  return absl::OkStatus();
}

// Finite values and bounded norms (above), in one vectorised pass per row: when cols *
// max|x|^2 fits in float32, so does the squared norm. Only a row failing either is looked at
// again, to name the problem.
static absl::Status CheckRows(ConstMatrixView m, absl::string_view what) {
  const double bound = std::sqrt(std::numeric_limits<float>::max() / static_cast<double>(std::max<std::int64_t>(m.cols, 1)));
  for (std::int64_t i = 0; i < m.rows; ++i) {
    const float largest = LargestMagnitude(m.row(i), m.cols);
    if (!std::isfinite(largest)) return CheckFinite(m, what);  // names row i, the first with a bad value
    if (largest > bound) DENSEFB_RETURN_IF_ERROR(CheckNorm(m.row(i), m.cols, i, what));
  }
  return absl::OkStatus();
}

absl::Status CheckQueries(ConstMatrixView queries, int dim, const SearchOptions& options) {
  if (options.k < 0) return absl::InvalidArgumentError(absl::StrCat("k = ", options.k, " is negative"));
  if (queries.rows > 0 && queries.cols != dim) {
    return absl::InvalidArgumentError(
        absl::StrCat("queries have ", queries.cols, " dimensions, the index has ", dim));
  }
  if (options.num_threads < 0) {
    return absl::InvalidArgumentError(absl::StrCat("num_threads = ", options.num_threads, " is negative"));
  }
  return CheckRows(queries, "query");
}

absl::Status CheckVectors(ConstMatrixView vectors, int dim) {
  if (vectors.rows > 0 && vectors.cols != dim) {
    return absl::InvalidArgumentError(
        absl::StrCat("vectors have ", vectors.cols, " dimensions, the index has ", dim));
  }
  return CheckRows(vectors, "vector");
}

FlatIndex::FlatIndex(int dim, Metric metric)
    : dim_(dim), metric_(metric), id_table_(std::make_unique<IdTable>()) {}
FlatIndex::~FlatIndex() = default;

absl::StatusOr<std::unique_ptr<FlatIndex>> FlatIndex::Create(int dim, Metric metric) {
  if (dim < 1) return absl::InvalidArgumentError(absl::StrCat("dim = ", dim, " must be >= 1"));
  return std::unique_ptr<FlatIndex>(new FlatIndex(dim, metric));
}

std::int64_t FlatIndex::size() const {
  ReaderLock lock(turnstile_, mutex_);
  return id_table_->size();
}
ConstMatrixView FlatIndex::vectors() const { return {data_.data(), size(), dim_}; }
const std::vector<std::int64_t>& FlatIndex::ids() const { return id_table_->ids(); }

absl::Status FlatIndex::Add(ConstMatrixView vectors, absl::Span<const std::int64_t> ids) {
  WriterLock lock(turnstile_, mutex_);
  DENSEFB_RETURN_IF_ERROR(CheckVectors(vectors, dim_));
  DENSEFB_RETURN_IF_ERROR(id_table_->Validate(vectors.rows, ids));
  const std::size_t old = data_.size();
  try {
    data_.insert(data_.end(), vectors.data, vectors.data + vectors.rows * vectors.cols);
    const std::size_t norms = inv_norms_.size() + static_cast<std::size_t>(vectors.rows);
    if (metric_ == Metric::kCosine && norms > inv_norms_.capacity()) {
      inv_norms_.reserve(std::max(norms, inv_norms_.capacity() + inv_norms_.capacity() / 2));
    }
  } catch (const std::bad_alloc&) {
    data_.resize(old);
    return absl::ResourceExhaustedError(
        absl::StrCat("out of memory adding ", vectors.rows, " vectors of dim ", dim_));
  }
  if (metric_ == Metric::kCosine) {
    for (std::int64_t i = 0; i < vectors.rows; ++i) inv_norms_.push_back(InverseNorm(vectors.row(i), dim_));
  }
  id_table_->Append(vectors.rows, ids);
  return absl::OkStatus();
}

// Rows are removed at once, keeping the order of the others (one pass over the storage), so
// a flat index never holds deleted vectors: scores and ties are those of a fresh index.
absl::Status FlatIndex::Delete(absl::Span<const std::int64_t> ids) {
  WriterLock lock(turnstile_, mutex_);
  DENSEFB_ASSIGN_OR_RETURN(std::vector<std::int64_t> rows, id_table_->RowsOf(ids));
  if (rows.empty()) return absl::OkStatus();
  std::sort(rows.begin(), rows.end());
  const std::int64_t n = id_table_->size();
  std::int64_t out = rows.front();
  std::size_t next = 0;
  for (std::int64_t row = rows.front(); row < n; ++row) {
    if (next < rows.size() && row == rows[next]) {
      ++next;
      continue;
    }
    std::copy_n(data_.data() + row * dim_, dim_, data_.data() + out * dim_);
    if (metric_ == Metric::kCosine) inv_norms_[out] = inv_norms_[row];
    ++out;
  }
  data_.resize(static_cast<std::size_t>(out * dim_));
  if (metric_ == Metric::kCosine) inv_norms_.resize(static_cast<std::size_t>(out));
  id_table_->RemoveRows(rows);
  return absl::OkStatus();
}

absl::Status FlatIndex::Update(ConstMatrixView vectors, absl::Span<const std::int64_t> ids) {
  WriterLock lock(turnstile_, mutex_);
  DENSEFB_RETURN_IF_ERROR(CheckVectors(vectors, dim_));
  if (static_cast<std::int64_t>(ids.size()) != vectors.rows) {
    return absl::InvalidArgumentError(
        absl::StrCat("got ", ids.size(), " ids for ", vectors.rows, " vectors"));
  }
  DENSEFB_ASSIGN_OR_RETURN(const std::vector<std::int64_t> rows, id_table_->RowsOf(ids));
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const float* v = vectors.row(static_cast<std::int64_t>(i));
    std::copy_n(v, dim_, data_.data() + rows[i] * dim_);
    if (metric_ == Metric::kCosine) inv_norms_[rows[i]] = InverseNorm(v, dim_);
  }
  return absl::OkStatus();
}

absl::Status FlatIndex::Reserve(std::int64_t n) {
  if (n < 0) return NegativeReserve(n);
  WriterLock lock(turnstile_, mutex_);
  if (n > std::numeric_limits<std::int64_t>::max() / dim_ / static_cast<std::int64_t>(sizeof(float))) {
    return absl::ResourceExhaustedError(absl::StrCat("cannot reserve ", n, " vectors of dim ", dim_));
  }
  try {
    data_.reserve(static_cast<std::size_t>(n) * dim_);
    if (metric_ == Metric::kCosine) inv_norms_.reserve(static_cast<std::size_t>(n));
    id_table_->Reserve(n);
  } catch (const std::exception&) {  // bad_alloc, length_error
    return absl::ResourceExhaustedError(
        absl::StrCat("out of memory reserving ", n, " vectors of dim ", dim_));
  }
  return absl::OkStatus();
}

absl::Status FlatIndex::Search(ConstMatrixView queries, const SearchOptions& options,
                               float* out_scores, std::int64_t* out_ids) const {
  ReaderLock lock(turnstile_, mutex_);
  DENSEFB_RETURN_IF_ERROR(CheckQueries(queries, dim_, options));
  const std::int64_t nq = queries.rows;
  const std::int64_t k = options.k;
  const std::int64_t n = id_table_->size();
  if (nq == 0 || k == 0) return absl::OkStatus();

  // Cosine: rank by <q/|q|, d> * (1/|d|).
  std::vector<float> normalized;
  const float* q_data = CosineQueries(queries, metric_ == Metric::kCosine, &normalized);

  const Filter* filter = options.filter;
  if (filter == nullptr) {
    Scan(q_data, nq, options, nullptr, out_scores, out_ids);
    return absl::OkStatus();
  }
  DENSEFB_RETURN_IF_ERROR(filter->CheckQueries(nq));
  // A query whose allowed ids are few is scored over them alone; the rest share the scan,
  // which drops disallowed documents before they reach the top-k selection.
  std::vector<std::int64_t> few, many;
  for (std::int64_t i = 0; i < nq; ++i) {
    (filter->Count(i) * Filter::kFewAllowedRatio < n ? few : many).push_back(i);
  }
  ParallelFor(static_cast<std::int64_t>(few.size()), ResolveThreads(options.num_threads),
              [&](std::int64_t j, int) {
                const std::int64_t q = few[j];
                SearchAllowed(q_data + q * dim_, q, options, out_scores + q * k, out_ids + q * k);
              });
  if (many.size() == static_cast<std::size_t>(nq)) {
    Scan(q_data, nq, options, many.data(), out_scores, out_ids);
  } else if (!many.empty()) {
    const auto m = static_cast<std::int64_t>(many.size());
    std::vector<float> q_many(static_cast<std::size_t>(m * dim_)), scores(static_cast<std::size_t>(m * k));
    std::vector<std::int64_t> ids(static_cast<std::size_t>(m * k));
    for (std::int64_t j = 0; j < m; ++j) std::copy_n(q_data + many[j] * dim_, dim_, &q_many[j * dim_]);
    Scan(q_many.data(), m, options, many.data(), scores.data(), ids.data());
    for (std::int64_t j = 0; j < m; ++j) {
      std::copy_n(&scores[j * k], k, out_scores + many[j] * k);
      std::copy_n(&ids[j * k], k, out_ids + many[j] * k);
    }
  }
  return absl::OkStatus();
}

void FlatIndex::SearchAllowed(const float* query, std::int64_t filter_row, const SearchOptions& options,
                              float* out_scores, std::int64_t* out_ids) const {
  // Scored by the scan's GEMM (scan::ScoreGathered), not by a dot product: each score is the
  // scan's to the bit, so a ranking does not depend on which path the filter's size picked (a
  // sharded index picks per shard), near-ties included.
  std::vector<std::int64_t> rows;
  for (std::int64_t id : options.filter->Ids(filter_row)) {
    const std::int64_t row = id_table_->Row(id);
    if (row >= 0) rows.push_back(row);
  }
  const auto count = static_cast<std::int64_t>(rows.size());
  std::vector<float> scores(rows.size());
  scan::ScoreGathered(
      query, rows.data(), count, dim_,
      [&](std::int64_t row, float* dst) { std::copy_n(data_.data() + row * dim_, dim_, dst); }, scores.data());
  std::vector<ScoredRow> hits;
  hits.reserve(rows.size());
  for (std::int64_t j = 0; j < count; ++j) {
    float score = scores[j];
    if (metric_ == Metric::kCosine) score *= inv_norms_[rows[j]];
    hits.push_back({score, rows[j]});
  }
  // Better breaks a tie by row, as the scan does.
  const std::int64_t keep = std::min<std::int64_t>(options.k, static_cast<std::int64_t>(hits.size()));
  std::partial_sort(hits.begin(), hits.begin() + keep, hits.end(), Better);
  for (std::int64_t j = 0; j < options.k; ++j) {
    out_scores[j] = j < keep ? hits[j].score : -std::numeric_limits<float>::infinity();
    out_ids[j] = j < keep ? id_table_->id(hits[j].row) : kNoId;
  }
}

void FlatIndex::Scan(const float* q_data, std::int64_t nq, const SearchOptions& options,
                     const std::int64_t* filter_rows, float* out_scores, std::int64_t* out_ids) const {
  const std::int64_t k = options.k;
  const std::int64_t n = id_table_->size();
  const Filter* filter = filter_rows != nullptr ? options.filter : nullptr;
  const scan::Plan plan = scan::MakePlan(nq, n, k, options.num_threads);
  const int threads = plan.threads;
  const std::int64_t n_shards = plan.n_shards, stride = plan.stride;
  // Default-initialised (no zeroing pass): each selector writes before it reads.
  std::unique_ptr<ScoredRow[]> best(new ScoredRow[static_cast<std::size_t>(nq * n_shards * stride)]);
  std::vector<std::int64_t> best_sizes(nq * n_shards, 0);
  // A block is the matrix itself, but for the last, partial one, padded to whole panels.
  auto block = [&](std::int64_t d0, std::int64_t dn, std::int64_t ld, float* buffer) -> const float* {
    const float* docs = data_.data() + d0 * dim_;
    if (ld == dn) return docs;
    std::copy(docs, docs + dn * dim_, buffer);
    std::fill(buffer + dn * dim_, buffer + ld * dim_, 0.0f);
    return buffer;
  };
  scan::ScanBlocks(plan, q_data, nq, n, dim_, metric_ == Metric::kCosine ? inv_norms_.data() : nullptr, filter,
                   filter_rows, id_table_->ids().data(), block, best.get(), best_sizes.data());

  // Merge the shards of each query (each sorted best first) and write the results, padding
  // with (-inf, -1); queries in parallel. With one shard, the sorted entries are the answer.
  // (Workers are capped by the task count: `threads` may be huge.)
  const int merge_threads = static_cast<int>(std::min<std::int64_t>(threads, n_shards > 1 ? nq : nq / 64 + 1));
  std::vector<std::vector<ScoredRow>> merge_buffers(static_cast<std::size_t>(std::max(merge_threads, 1)));
  ParallelFor(nq, merge_threads, [&](std::int64_t q, int worker) {
    const ScoredRow* top = &best[q * n_shards * stride];
    std::int64_t keep = best_sizes[q * n_shards];
    if (n_shards > 1) {
      std::vector<ScoredRow>& merged = merge_buffers[worker];
      merged.clear();
      for (std::int64_t s = 0; s < n_shards; ++s) {
        const ScoredRow* h = &best[(q * n_shards + s) * stride];
        merged.insert(merged.end(), h, h + best_sizes[q * n_shards + s]);
      }
      keep = std::min<std::int64_t>(k, static_cast<std::int64_t>(merged.size()));
      std::partial_sort(merged.begin(), merged.begin() + keep, merged.end(), Better);
      top = merged.data();
    }
    keep = std::min(keep, k);
    for (std::int64_t j = 0; j < k; ++j) {
      if (j < keep) {
        out_scores[q * k + j] = top[j].score;
        out_ids[q * k + j] = id_table_->id(top[j].row);
      } else {  // (also past a filter's allowed documents)
        out_scores[q * k + j] = -std::numeric_limits<float>::infinity();
        out_ids[q * k + j] = kNoId;
      }
    }
  });
}

absl::Status FlatIndex::Reconstruct(absl::Span<const std::int64_t> ids, MutableMatrixView out) const {
  ReaderLock lock(turnstile_, mutex_);
  if (out.rows != static_cast<std::int64_t>(ids.size()) || (out.rows > 0 && out.cols != dim_)) {
    return absl::InvalidArgumentError(absl::StrCat("output is ", out.rows, " x ", out.cols,
                                                   ", expected ", ids.size(), " x ", dim_));
  }
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const std::int64_t row = id_table_->Row(ids[i]);
    if (row < 0) return absl::NotFoundError(absl::StrCat("id ", ids[i], " is not in the index"));
    std::copy_n(data_.data() + row * dim_, dim_, out.row(static_cast<std::int64_t>(i)));
  }
  return absl::OkStatus();
}

absl::Status FlatIndex::Save(const std::string& path) const {
  ReaderLock lock(turnstile_, mutex_);
  DENSEFB_ASSIGN_OR_RETURN(auto writer, AtomicFileWriter::Open(path, "FLAT", kFormatVersion));
  DENSEFB_RETURN_IF_ERROR(writer->WritePod<std::uint32_t>(dim_));
  DENSEFB_RETURN_IF_ERROR(writer->WritePod<std::uint32_t>(static_cast<std::uint32_t>(metric_)));
  const std::vector<std::int64_t>& ids = id_table_->ids();
  DENSEFB_RETURN_IF_ERROR(writer->WritePod<std::uint64_t>(ids.size()));
  DENSEFB_RETURN_IF_ERROR(writer->Write(ids.data(), ids.size() * sizeof(std::int64_t)));
  DENSEFB_RETURN_IF_ERROR(writer->Write(data_.data(), data_.size() * sizeof(float)));
  return writer->Commit();
}

absl::StatusOr<std::unique_ptr<FlatIndex>> FlatIndex::Load(const std::string& path) {
  DENSEFB_ASSIGN_OR_RETURN(auto reader, FileReader::Open(path, "FLAT", kFormatVersion));
  std::uint32_t dim = 0, metric = 0;
  DENSEFB_RETURN_IF_ERROR(reader->ReadPod(&dim, "dim"));
  DENSEFB_RETURN_IF_ERROR(reader->ReadPod(&metric, "metric"));
  if (dim < 1 || dim > (1u << 20)) return reader->Corrupt(absl::StrCat("invalid dim ", dim));
  if (metric > static_cast<std::uint32_t>(Metric::kCosine)) {
    return reader->Corrupt(absl::StrCat("invalid metric code ", metric));
  }
  std::uint64_t n = 0;
  DENSEFB_RETURN_IF_ERROR(reader->ReadCount(&n, sizeof(std::int64_t) + dim * sizeof(float), "vector count"));
  std::vector<std::int64_t> ids(n);
  DENSEFB_RETURN_IF_ERROR(reader->Read(ids.data(), n * sizeof(std::int64_t), "ids"));
  std::vector<float> data(n * dim);
  DENSEFB_RETURN_IF_ERROR(reader->Read(data.data(), data.size() * sizeof(float), "vectors"));
  DENSEFB_RETURN_IF_ERROR(reader->ExpectEnd());
  auto index = std::unique_ptr<FlatIndex>(new FlatIndex(static_cast<int>(dim), static_cast<Metric>(metric)));
  absl::Status ids_ok = index->id_table_->Assign(std::move(ids));
  if (!ids_ok.ok()) return reader->Corrupt(ids_ok.message());
  if (absl::Status finite = CheckVectors({data.data(), static_cast<std::int64_t>(n), dim}, dim);
      !finite.ok()) {
    return reader->Corrupt(absl::StrCat("stored ", finite.message()));
  }
  index->data_ = std::move(data);
  if (index->metric_ == Metric::kCosine) {
    index->inv_norms_.resize(n);
    for (std::uint64_t i = 0; i < n; ++i) index->inv_norms_[i] = InverseNorm(&index->data_[i * dim], dim);
  }
  return index;
}

}  // namespace densefb
