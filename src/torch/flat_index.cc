// TorchFlatIndex: exact search with the vectors on a torch device (see the header).
#include "densefb/torch/flat_index.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <mutex>
#include <shared_mutex>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "index/checks.h"
#include "index/id_table.h"
#include "index/indexing_internal.h"
#include "index/rw_lock.h"
#include "torch/flat_index_internal.h"
#include "torch/model_files.h"
#include "torch/tensor_encoder.h"

namespace densefb {

namespace {

constexpr std::int64_t kNoKey = std::numeric_limits<std::int64_t>::min();  // a disallowed document

std::string Bytes(std::int64_t bytes) {
  const auto b = static_cast<double>(bytes);
  if (b >= (1 << 30)) return absl::StrFormat("%d bytes (%.2f GiB)", bytes, b / (1 << 30));
  return absl::StrFormat("%d bytes (%.2f MiB)", bytes, b / (1 << 20));
}

// The key of each score of `scores` (float32) for the stored rows `rows` (int64, the same
// shape or broadcast to it): the float's order in the high 32 bits (its bit pattern, with the
// magnitude bits of negatives flipped, so that signed integers sort as the floats), and
// 2^32 - 1 - row in the low 32 bits. Keys are distinct, and a larger key is a better result: a
// higher score, or an equal score and an earlier row (the order of FlatIndex). -0 counts as +0
// (they tie); a score of -infinity (a document the filter disallows) gets kNoKey.
at::Tensor Keys(const at::Tensor& scores, const at::Tensor& rows) {
  const at::Tensor bits = scores.add(0.0).contiguous().view(at::kInt);
  const at::Tensor order = at::where(bits >= 0, bits, at::bitwise_xor(bits, 0x7FFFFFFF)).to(at::kLong);
  const at::Tensor keys = order.mul_(std::int64_t{1} << 32).add_(rows.neg().add_(std::int64_t{0xFFFFFFFF}));
  return keys.masked_fill_(at::isneginf(scores), kNoKey);
}

// The score and row of a key (Keys inverted).
void DecodeKey(std::int64_t key, float* score, std::int64_t* row) {
  auto order = static_cast<std::int32_t>(key >> 32);  // arithmetic shift: the high half
  const std::int32_t bits = order >= 0 ? order : (order ^ 0x7FFFFFFF);
  std::memcpy(score, &bits, sizeof bits);
  *row = std::int64_t{0xFFFFFFFF} - (key & std::int64_t{0xFFFFFFFF});
}

}  // namespace

absl::Status TorchFlatIndexOptions::Validate() const {
  if (query_block < 1) return absl::InvalidArgumentError(absl::StrCat("query_block = ", query_block, " must be >= 1"));
  if (doc_block < 1) return absl::InvalidArgumentError(absl::StrCat("doc_block = ", doc_block, " must be >= 1"));
  if (memory_limit < 0) {
    return absl::InvalidArgumentError(absl::StrCat("memory_limit = ", memory_limit, " is negative (0 = no limit)"));
  }
  if (storage == Precision::kInt8) {
    return absl::InvalidArgumentError(
        "storage \"int8\" is not offered by TorchFlatIndex (\"fp32\", \"fp16\" or \"bf16\"); ScalarQuantizedIndex has int8 codes");
  }
  return torch_impl::ParseDevice(device).status();
}

class TorchFlatIndex::Impl {
 public:
  Impl(int dim, Metric metric, TorchFlatIndexOptions options, at::Device device)
      : dim(dim), metric(metric), options(std::move(options)), device(device) {}

  std::int64_t capacity() const { return data.defined() ? data.size(0) : 0; }
  std::int64_t size() const { return ids.size(); }
  at::TensorOptions floats() const { return at::TensorOptions().dtype(at::kFloat).device(device); }
  bool rounded() const { return options.storage != Precision::kFloat32; }
  at::ScalarType storage_type() const {
    return options.storage == Precision::kFloat16 ? at::kHalf : options.storage == Precision::kBFloat16 ? at::kBFloat16 : at::kFloat;
  }
  // The stored rows [d0, d0 + dn) as float32 (a view for float32 storage, else a converted copy).
  at::Tensor Rows(std::int64_t d0, std::int64_t dn) const { return data.narrow(0, d0, dn).to(at::kFloat); }
  at::TensorOptions longs() const { return at::TensorOptions().dtype(at::kLong).device(device); }
  std::string Where() const { return absl::StrCat("TorchFlatIndex on ", options.device); }
  std::int64_t BytesFor(std::int64_t rows) const {
    return rows * dim * static_cast<std::int64_t>(rounded() ? 2 : sizeof(float)) +
           (metric == Metric::kCosine ? rows * static_cast<std::int64_t>(sizeof(float)) : 0);
  }

  // Storage for at least `needed` rows (grown by half again, or exactly `needed` when that is
  // all the limit allows); the old rows are copied over. Unchanged on error.
  absl::Status Grow(std::int64_t needed) {
    if (needed <= capacity()) return absl::OkStatus();
    const std::int64_t limit = options.memory_limit;
    const std::int64_t most = limit > 0 ? limit : std::numeric_limits<std::int64_t>::max();
    if (needed > std::numeric_limits<std::int64_t>::max() / (dim + 1) / static_cast<std::int64_t>(sizeof(float))) {
      return absl::ResourceExhaustedError(
          absl::StrCat(Where(), ": ", needed, " vectors of dim ", dim, " are more bytes than can be addressed"));
    }
    if (BytesFor(needed) > most) {
      return absl::ResourceExhaustedError(absl::StrCat(Where(), ": ", needed, " vectors of dim ", dim, " need ",
                                                       Bytes(BytesFor(needed)), ", above memory_limit ", Bytes(limit)));
    }
    std::int64_t rows = std::max(needed, capacity() + capacity() / 2);
    if (BytesFor(rows) > most) rows = needed;
    try {
      c10::InferenceMode guard;
      at::Tensor grown = at::empty({rows, dim}, floats().dtype(storage_type()));
      at::Tensor grown_norms = metric == Metric::kCosine ? at::empty({rows}, floats()) : at::Tensor();
      if (size() > 0) {
        grown.narrow(0, 0, size()).copy_(data.narrow(0, 0, size()));
        if (grown_norms.defined()) grown_norms.narrow(0, 0, size()).copy_(inv_norms.narrow(0, 0, size()));
      }
      data = std::move(grown);
      inv_norms = std::move(grown_norms);
    } catch (const std::exception& e) {
      return absl::ResourceExhaustedError(absl::StrCat(
          Where(), ": cannot allocate ", rows, " vectors of dim ", dim, ", ", Bytes(BytesFor(rows)),
          " (", size(), " stored, ", Bytes(BytesFor(capacity())), " held): ", torch_impl::TorchError(e, "allocation").message()));
    }
    return absl::OkStatus();
  }

  // Writes `vectors` ((n, dim) float32 on the device, checked) into the storage rows `rows`
  // ((n) int64 on the device), with their 1/|v| (`norms`, float32 vectors only: rounded
  // storage takes the norms of the rounded vectors, as ScalarQuantizedIndex does).
  void Store(const at::Tensor& rows, const at::Tensor& vectors, const at::Tensor& norms) {
    if (!rounded()) {
      data.index_copy_(0, rows, vectors);
      if (metric == Metric::kCosine) inv_norms.index_copy_(0, rows, norms);
      return;
    }
    const double largest = options.storage == Precision::kFloat16 ? 65504.0 : 3.3895313892515355e38;
    const at::Tensor stored = vectors.clamp(-largest, largest).to(storage_type());
    data.index_copy_(0, rows, stored);
    if (metric == Metric::kCosine) inv_norms.index_copy_(0, rows, InverseNorms(SquaredNorms(stored)));
  }

  // Appends `vectors` as Store does, after the stored rows.
  void Append(const at::Tensor& vectors, const at::Tensor& norms, absl::Span<const std::int64_t> new_ids) {
    const std::int64_t n = vectors.size(0);
    Store(at::arange(size(), size() + n, longs()), vectors, norms);
    ids.Append(n, new_ids);
  }

  // The cosine norms of host vectors for float32 storage (FlatIndex's InverseNorm, so that
  // scores are FlatIndex's); undefined where Store does not read them.
  at::Tensor HostInverseNorms(ConstMatrixView vectors) const {
    if (metric != Metric::kCosine || rounded()) return at::Tensor();
    std::vector<float> inv(static_cast<std::size_t>(vectors.rows));
    for (std::int64_t i = 0; i < vectors.rows; ++i) inv[i] = InverseNorm(vectors.row(i), dim);
    return at::tensor(inv, at::kFloat).to(device);
  }

  // Squared L2 norms per row, in double.
  static at::Tensor SquaredNorms(const at::Tensor& vectors) { return vectors.to(at::kDouble).square().sum(1); }

  // 1/|v| per row from SquaredNorms, as InverseNorm computes it: 0 for a (numerically) zero row.
  static at::Tensor InverseNorms(const at::Tensor& squared) {
    const double floor = kMinCosineNorm * kMinCosineNorm;
    return at::where(squared > floor, squared.rsqrt(), at::zeros_like(squared)).to(at::kFloat);
  }

  // CheckVectors for vectors on the device, from their SquaredNorms: InvalidArgument naming the
  // first row that is not finite or whose norm could overflow float32 inner products.
  static absl::Status CheckDeviceRows(const at::Tensor& vectors, const at::Tensor& squared) {
    const at::Tensor bad = at::logical_not(at::isfinite(squared)).logical_or_(squared > std::numeric_limits<float>::max());
    if (!bad.any().item<bool>()) return absl::OkStatus();
    const std::int64_t row = bad.nonzero().min().item<std::int64_t>();
    if (!at::isfinite(vectors[row]).all().item<bool>()) {
      return absl::InvalidArgumentError(absl::StrCat("vector row ", row, " has a non-finite value (NaN or infinity)"));
    }
    return absl::InvalidArgumentError(absl::StrCat("vector row ", row, " has L2 norm ", std::sqrt(squared[row].item<double>()),
                                                   ", above 1.8e19: its inner products could overflow float32"));
  }

  // Rows of the stored vectors allowed to filter rows [q0, q0 + qn), sorted.
  std::vector<std::vector<std::int64_t>> AllowedRows(const Filter& filter, std::int64_t q0, std::int64_t qn) const {
    std::vector<std::vector<std::int64_t>> rows(static_cast<std::size_t>(qn));
    for (std::int64_t q = 0; q < qn; ++q) {
      for (std::int64_t id : filter.Ids(q0 + q)) {
        const std::int64_t row = ids.Row(id);
        if (row >= 0) rows[q].push_back(row);
      }
      std::sort(rows[q].begin(), rows[q].end());
    }
    return rows;
  }

  // The (allowed.size(), dn) mask of the allowed rows d0.. of each filter row.
  at::Tensor BlockMask(const std::vector<std::vector<std::int64_t>>& allowed, std::int64_t d0, std::int64_t dn) const {
    std::vector<std::int64_t> flat;
    const auto qn = static_cast<std::int64_t>(allowed.size());
    for (std::int64_t q = 0; q < qn; ++q) {
      const auto& r = allowed[q];
      for (auto it = std::lower_bound(r.begin(), r.end(), d0); it != r.end() && *it < d0 + dn; ++it) {
        flat.push_back(q * dn + (*it - d0));
      }
    }
    at::Tensor mask = at::zeros({qn * dn}, at::TensorOptions().dtype(at::kBool).device(device));
    if (!flat.empty()) mask.index_fill_(0, at::tensor(flat, at::TensorOptions().dtype(at::kLong)).to(device), true);
    return mask.view({qn, dn});
  }

  // The top kk keys, best first, of each query of `queries` ((qn, dim) on the device).
  //
  // Per block of stored vectors: the scores (matmul), their top kk by value (torch.topk, which
  // orders ties arbitrarily), and the keys of those kk only. That is exact unless the block's
  // kk-th and (kk + 1)-th best scores of a query are equal (a tie across the cut); the block is
  // then redone with the keys of every score, whose top kk breaks the tie by row. The blocks' keys are merged
  // by a top kk over keys.
  at::Tensor TopKeys(const at::Tensor& queries, std::int64_t kk, const std::vector<std::vector<std::int64_t>>* allowed) const {
    const std::int64_t n = size();
    at::Tensor best;
    for (std::int64_t d0 = 0; d0 < n; d0 += options.doc_block) {
      const std::int64_t dn = std::min(options.doc_block, n - d0);
      at::Tensor scores = at::matmul(queries, Rows(d0, dn).t());
      if (metric == Metric::kCosine) scores.mul_(inv_norms.narrow(0, d0, dn));
      if (allowed != nullptr) {
        scores.masked_fill_(at::logical_not(BlockMask(*allowed, d0, dn)), -std::numeric_limits<float>::infinity());
      }
      const std::int64_t kb = std::min(kk, dn);
      at::Tensor top;
      if (kb == dn) {  // every score of the block is a candidate
        top = Keys(scores, at::arange(d0, d0 + dn, longs()));
      } else {
        // The kb + 1 best, sorted: a tie across the cut shows as the kb-th and (kb + 1)-th
        // values being equal (finite: a cut at -infinity keeps every allowed document).
        auto [values, rows] = at::topk(scores, kb + 1, 1, true, true);
        const at::Tensor last = values.narrow(1, kb - 1, 1), next = values.narrow(1, kb, 1);
        if (last.eq(next).logical_and_(at::isfinite(last)).any().item<bool>()) {
          top = std::get<0>(at::topk(Keys(scores, at::arange(d0, d0 + dn, longs())), kb, 1, true, false));
        } else {
          top = Keys(values.narrow(1, 0, kb), rows.narrow(1, 0, kb).add(d0));
        }
      }
      best = best.defined() ? at::cat({best, top}, 1) : top;
      if (best.size(1) > kk) best = std::get<0>(at::topk(best, kk, 1, true, false));
    }
    return std::get<0>(at::sort(best, 1, true));
  }

  int dim;
  Metric metric;
  TorchFlatIndexOptions options;
  at::Device device;
  at::Tensor data;       // (capacity, dim) float32; rows [0, size()) hold the vectors in insertion order
  at::Tensor inv_norms;  // (capacity) float32, cosine only: 1/|d|
  IdTable ids;
  mutable std::shared_mutex mutex;  // as FlatIndex: writers exclusive, readers shared
  mutable std::mutex turnstile;
};

TorchFlatIndex::TorchFlatIndex(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TorchFlatIndex::~TorchFlatIndex() = default;

absl::StatusOr<std::unique_ptr<TorchFlatIndex>> TorchFlatIndex::Create(int dim, Metric metric, Options options) {
  if (dim < 1) return absl::InvalidArgumentError(absl::StrCat("dim = ", dim, " must be >= 1"));
  DENSEFB_RETURN_IF_ERROR(options.Validate());
  DENSEFB_ASSIGN_OR_RETURN(const at::Device device, torch_impl::ParseDevice(options.device));
  return std::unique_ptr<TorchFlatIndex>(new TorchFlatIndex(std::make_unique<Impl>(dim, metric, std::move(options), device)));
}

absl::StatusOr<std::unique_ptr<TorchFlatIndex>> TorchFlatIndex::FromFlat(const FlatIndex& flat, Options options) {
  DENSEFB_ASSIGN_OR_RETURN(auto index, Create(flat.dim(), flat.metric(), std::move(options)));
  DENSEFB_RETURN_IF_ERROR(index->Reserve(flat.size()));
  DENSEFB_RETURN_IF_ERROR(index->Add(flat.vectors(), flat.ids()));
  return index;
}

absl::StatusOr<std::unique_ptr<TorchFlatIndex>> TorchFlatIndex::Load(const std::string& path, Options options) {
  DENSEFB_ASSIGN_OR_RETURN(const std::unique_ptr<FlatIndex> flat, FlatIndex::Load(path));
  return FromFlat(*flat, std::move(options));
}

int TorchFlatIndex::dim() const { return impl_->dim; }
Metric TorchFlatIndex::metric() const { return impl_->metric; }
const TorchFlatIndex::Options& TorchFlatIndex::options() const { return impl_->options; }

std::int64_t TorchFlatIndex::size() const {
  ReaderLock lock(impl_->turnstile, impl_->mutex);
  return impl_->size();
}

std::int64_t TorchFlatIndex::device_bytes() const {
  ReaderLock lock(impl_->turnstile, impl_->mutex);
  return impl_->BytesFor(impl_->capacity());
}

std::vector<std::int64_t> TorchFlatIndex::ids() const {
  ReaderLock lock(impl_->turnstile, impl_->mutex);
  return impl_->ids.ids();
}

absl::Status TorchFlatIndex::Reserve(std::int64_t n) {
  if (n < 0) return NegativeReserve(n);
  WriterLock lock(impl_->turnstile, impl_->mutex);
  return impl_->Grow(n);
}

absl::Status TorchFlatIndex::Add(ConstMatrixView vectors, absl::Span<const std::int64_t> ids) {
  Impl& s = *impl_;
  WriterLock lock(s.turnstile, s.mutex);
  DENSEFB_RETURN_IF_ERROR(CheckVectors(vectors, s.dim));
  DENSEFB_RETURN_IF_ERROR(s.ids.Validate(vectors.rows, ids));
  if (vectors.rows == 0) return absl::OkStatus();
  DENSEFB_RETURN_IF_ERROR(s.Grow(s.size() + vectors.rows));
  try {
    c10::InferenceMode guard;
    const at::Tensor host = at::from_blob(const_cast<float*>(vectors.data), {vectors.rows, s.dim}, at::kFloat);
    s.Append(host.to(s.device), s.HostInverseNorms(vectors), ids);
  } catch (const std::exception& e) {
    return torch_impl::TorchError(e, s.Where());
  }
  return absl::OkStatus();
}

absl::Status TorchFlatIndex::Search(ConstMatrixView queries, const SearchOptions& options, float* out_scores,
                                    std::int64_t* out_ids) const {
  const Impl& s = *impl_;
  ReaderLock lock(s.turnstile, s.mutex);
  DENSEFB_RETURN_IF_ERROR(CheckQueries(queries, s.dim, options));
  const std::int64_t nq = queries.rows, k = options.k, n = s.size();
  if (nq == 0 || k == 0) return absl::OkStatus();
  if (options.filter != nullptr) DENSEFB_RETURN_IF_ERROR(options.filter->CheckQueries(nq));
  std::fill(out_scores, out_scores + nq * k, -std::numeric_limits<float>::infinity());
  std::fill(out_ids, out_ids + nq * k, kNoId);
  if (n == 0) return absl::OkStatus();
  // Cosine: rank by <q/|q|, d> * (1/|d|), the query normalised on the host as FlatIndex does.
  std::vector<float> normalized;
  const float* q_data = CosineQueries(queries, s.metric == Metric::kCosine, &normalized);
  const std::int64_t kk = std::min(k, n);
  try {
    c10::InferenceMode guard;
    const at::Tensor q_all = at::from_blob(const_cast<float*>(q_data), {nq, s.dim}, at::kFloat).to(s.device);
    std::vector<std::vector<std::int64_t>> allowed;  // per query of the block (or one row for all)
    for (std::int64_t q0 = 0; q0 < nq; q0 += s.options.query_block) {
      const std::int64_t qn = std::min(s.options.query_block, nq - q0);
      // A filter of one row gives one mask row, which the masking broadcasts over the queries.
      if (options.filter != nullptr && (options.filter->rows() > 1 || allowed.empty())) {
        allowed = s.AllowedRows(*options.filter, q0, options.filter->rows() == 1 ? 1 : qn);
      }
      const at::Tensor keys =
          s.TopKeys(q_all.narrow(0, q0, qn), kk, options.filter != nullptr ? &allowed : nullptr).cpu().contiguous();
      const std::int64_t* key = keys.data_ptr<std::int64_t>();
      for (std::int64_t q = 0; q < qn; ++q) {
        for (std::int64_t j = 0; j < kk; ++j) {
          const std::int64_t kv = key[q * kk + j];
          if (kv == kNoKey) break;  // past the query's allowed documents
          std::int64_t row = 0;
          DecodeKey(kv, &out_scores[(q0 + q) * k + j], &row);
          out_ids[(q0 + q) * k + j] = s.ids.id(row);
        }
      }
    }
  } catch (const std::exception& e) {
    return torch_impl::TorchError(e, absl::StrCat(s.Where(), ": search"));
  }
  return absl::OkStatus();
}

absl::Status TorchFlatIndex::Reconstruct(absl::Span<const std::int64_t> ids, MutableMatrixView out) const {
  const Impl& s = *impl_;
  ReaderLock lock(s.turnstile, s.mutex);
  if (out.rows != static_cast<std::int64_t>(ids.size()) || (out.rows > 0 && out.cols != s.dim)) {
    return absl::InvalidArgumentError(
        absl::StrCat("output is ", out.rows, " x ", out.cols, ", expected ", ids.size(), " x ", s.dim));
  }
  std::vector<std::int64_t> rows(ids.size());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    rows[i] = s.ids.Row(ids[i]);
    if (rows[i] < 0) return absl::NotFoundError(absl::StrCat("id ", ids[i], " is not in the index"));
  }
  if (rows.empty()) return absl::OkStatus();
  try {
    c10::InferenceMode guard;
    const at::Tensor picked =
        s.data.index_select(0, at::tensor(rows, at::kLong).to(s.device)).to(at::kCPU, at::kFloat).contiguous();
    std::copy_n(picked.data_ptr<float>(), out.rows * s.dim, out.data);
  } catch (const std::exception& e) {
    return torch_impl::TorchError(e, absl::StrCat(s.Where(), ": reconstruct"));
  }
  return absl::OkStatus();
}

absl::Status TorchFlatIndex::Delete(absl::Span<const std::int64_t> ids) {
  Impl& s = *impl_;
  WriterLock lock(s.turnstile, s.mutex);
  DENSEFB_ASSIGN_OR_RETURN(std::vector<std::int64_t> rows, s.ids.RowsOf(ids));
  if (rows.empty()) return absl::OkStatus();
  std::sort(rows.begin(), rows.end());
  std::vector<std::int64_t> keep;
  keep.reserve(static_cast<std::size_t>(s.size()) - rows.size());
  for (std::int64_t row = 0, next = 0; row < s.size(); ++row) {
    if (next < static_cast<std::int64_t>(rows.size()) && rows[next] == row) {
      ++next;
    } else {
      keep.push_back(row);
    }
  }
  // The kept rows move up in order, as in FlatIndex: ties keep their order.
  try {
    c10::InferenceMode guard;
    const auto m = static_cast<std::int64_t>(keep.size());
    if (m > 0) {
      const at::Tensor index = at::tensor(keep, at::kLong).to(s.device);
      s.data.narrow(0, 0, m).copy_(s.data.index_select(0, index));
      if (s.metric == Metric::kCosine) s.inv_norms.narrow(0, 0, m).copy_(s.inv_norms.index_select(0, index));
    }
  } catch (const std::exception& e) {
    return torch_impl::TorchError(e, absl::StrCat(s.Where(), ": delete"));
  }
  s.ids.RemoveRows(rows);
  return absl::OkStatus();
}

absl::Status TorchFlatIndex::Update(ConstMatrixView vectors, absl::Span<const std::int64_t> ids) {
  Impl& s = *impl_;
  WriterLock lock(s.turnstile, s.mutex);
  DENSEFB_RETURN_IF_ERROR(CheckVectors(vectors, s.dim));
  if (static_cast<std::int64_t>(ids.size()) != vectors.rows) {
    return absl::InvalidArgumentError(absl::StrCat("got ", ids.size(), " ids for ", vectors.rows, " vectors"));
  }
  DENSEFB_ASSIGN_OR_RETURN(const std::vector<std::int64_t> rows, s.ids.RowsOf(ids));
  if (rows.empty()) return absl::OkStatus();
  try {
    c10::InferenceMode guard;
    const at::Tensor host = at::from_blob(const_cast<float*>(vectors.data), {vectors.rows, s.dim}, at::kFloat);
    s.Store(at::tensor(rows, at::kLong).to(s.device), host.to(s.device), s.HostInverseNorms(vectors));
  } catch (const std::exception& e) {
    return torch_impl::TorchError(e, absl::StrCat(s.Where(), ": update"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<FlatIndex>> TorchFlatIndex::ToFlat() const {
  const Impl& s = *impl_;
  ReaderLock lock(s.turnstile, s.mutex);
  DENSEFB_ASSIGN_OR_RETURN(auto flat, FlatIndex::Create(s.dim, s.metric));
  if (s.size() == 0) return flat;
  at::Tensor host;
  try {
    c10::InferenceMode guard;
    host = s.data.narrow(0, 0, s.size()).to(at::kCPU, at::kFloat).contiguous();
  } catch (const std::exception& e) {
    return torch_impl::TorchError(e, absl::StrCat(s.Where(), ": copy to host"));
  }
  DENSEFB_RETURN_IF_ERROR(flat->Reserve(s.size()));
  DENSEFB_RETURN_IF_ERROR(flat->Add({host.data_ptr<float>(), s.size(), s.dim}, s.ids.ids()));
  return flat;
}

absl::Status TorchFlatIndex::Save(const std::string& path) const {
  DENSEFB_ASSIGN_OR_RETURN(const auto flat, ToFlat());
  return flat->Save(path);
}

namespace torch_impl {
at::Tensor StoredRows(const TorchFlatIndex& index) {
  const TorchFlatIndex::Impl& s = index.impl();
  return s.size() == 0 ? at::empty({0, s.dim}, s.floats().dtype(s.storage_type())) : s.data.narrow(0, 0, s.size());
}
}  // namespace torch_impl

absl::Status EncodeAndAdd(const Encoder& encoder, absl::Span<const std::string> texts, TorchFlatIndex* index,
                          absl::Span<const std::int64_t> ids, const IndexingOptions& options) {
  const auto* tensor_encoder = dynamic_cast<const torch_impl::TensorEncoder*>(&encoder);
  if (index == nullptr || tensor_encoder == nullptr) {
    return EncodeAndAdd(encoder, texts, static_cast<VectorIndex*>(index), ids, options);
  }
  DENSEFB_RETURN_IF_ERROR(CheckEncodeAndAdd(encoder, texts, index, ids, options));
  const auto n = static_cast<std::int64_t>(texts.size());
  DENSEFB_RETURN_IF_ERROR(index->Reserve(index->size() + n));
  TorchFlatIndex::Impl& s = index->impl();
  for (std::int64_t start = 0; start < n; start += options.chunk_size) {
    const std::int64_t len = std::min(options.chunk_size, n - start);
    EncodeOptions eo;
    eo.batch_size = options.batch_size;
    if (options.progress) {
      eo.progress = [&](std::int64_t done, std::int64_t) { return options.progress(start + done, n); };
    }
    absl::StatusOr<at::Tensor> encoded = tensor_encoder->EncodeDocumentsTensor(texts.subspan(start, len), eo);
    if (!encoded.ok()) {
      return absl::Status(encoded.status().code(),
                          absl::StrCat(encoded.status().message(), " (", start, " texts were added before this)"));
    }
    const auto chunk_ids = ids.empty() ? ids : ids.subspan(start, len);
    WriterLock lock(s.turnstile, s.mutex);
    DENSEFB_RETURN_IF_ERROR(s.ids.Validate(len, chunk_ids));
    DENSEFB_RETURN_IF_ERROR(s.Grow(s.size() + len));
    try {
      c10::InferenceMode guard;
      const at::Tensor vectors = encoded->to(s.device, at::kFloat).contiguous();
      const at::Tensor squared = TorchFlatIndex::Impl::SquaredNorms(vectors);
      DENSEFB_RETURN_IF_ERROR(TorchFlatIndex::Impl::CheckDeviceRows(vectors, squared));
      // Rounded storage takes the norms of the rounded vectors (Store computes them).
      const bool norms = s.metric == Metric::kCosine && !s.rounded();
      s.Append(vectors, norms ? TorchFlatIndex::Impl::InverseNorms(squared) : at::Tensor(), chunk_ids);
    } catch (const std::exception& e) {
      return torch_impl::TorchError(e, s.Where());
    }
  }
  return absl::OkStatus();
}

}  // namespace densefb
