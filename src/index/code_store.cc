#include "index/code_store.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <new>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/parallel.h"
#include "index/checks.h"
#include "index/kernels.h"

namespace densefb {
namespace {

// Decoded rows are checked for the norm bound in chunks of this many (bounded scratch).
constexpr std::int64_t kCheckChunk = 1024;

}  // namespace

CodeStore::CodeStore(int dim, Metric metric, int code_bytes, int rescore_factor)
    : dim_(dim),
      metric_(metric),
      code_bytes_(code_bytes),
      rescore_factor_(rescore_factor),
      id_table_(std::make_unique<IdTable>()) {}
CodeStore::~CodeStore() = default;

std::int64_t CodeStore::size() const {
  ReaderLock lock(turnstile_, mutex_);
  return id_table_->size();
}
const std::vector<std::int64_t>& CodeStore::ids() const { return id_table_->ids(); }

absl::Status CodeStore::Reserve(std::int64_t n) {
  WriterLock lock(turnstile_, mutex_);
  const std::int64_t per_vector = code_bytes_ + (rescore_factor_ > 0 ? dim_ * 4 : 0);
  if (n > std::numeric_limits<std::int64_t>::max() / per_vector) {
    return absl::ResourceExhaustedError(absl::StrCat("cannot reserve ", n, " vectors of dim ", dim_));
  }
  try {
    codes_.reserve(static_cast<std::size_t>(n) * code_bytes_);
    if (cosine()) inv_norms_.reserve(static_cast<std::size_t>(n));
    if (rescore_factor_ > 0) {
      originals_.reserve(static_cast<std::size_t>(n) * dim_);
      if (cosine()) orig_inv_norms_.reserve(static_cast<std::size_t>(n));
    }
    id_table_->Reserve(n);
  } catch (const std::exception&) {  // bad_alloc, length_error
    return absl::ResourceExhaustedError(absl::StrCat("out of memory reserving ", n, " vectors of dim ", dim_));
  }
  return absl::OkStatus();
}

absl::Status CodeStore::CheckAdd(ConstMatrixView vectors, absl::Span<const std::int64_t> ids) const {
  DENSEFB_RETURN_IF_ERROR(CheckVectors(vectors, dim_));
  return id_table_->Validate(vectors.rows, ids);
}

absl::Status CodeStore::DecodedNorms(std::int64_t first, DecodeFn decode, bool check_decoded) {
  if (!check_decoded && !cosine()) return absl::OkStatus();
  const std::int64_t n = static_cast<std::int64_t>(codes_.size() / code_bytes_) - first;
  std::vector<float> decoded(static_cast<std::size_t>(std::min(n, kCheckChunk)) * dim_);
  for (std::int64_t i0 = 0; i0 < n; i0 += kCheckChunk) {
    const std::int64_t m = std::min(kCheckChunk, n - i0);
    decode(code(first + i0), m, decoded.data());
    if (check_decoded) {
      if (absl::Status s = CheckVectors({decoded.data(), m, dim_}, dim_); !s.ok()) {
        return absl::InvalidArgumentError(absl::StrCat("decoded vectors from row ", i0, ": ", s.message()));
      }
    }
    if (cosine()) {
      for (std::int64_t i = 0; i < m; ++i) inv_norms_.push_back(InverseNorm(&decoded[i * dim_], dim_));
    }
  }
  return absl::OkStatus();
}

absl::Status CodeStore::Append(ConstMatrixView vectors, absl::Span<const std::int64_t> ids, EncodeFn encode,
                               DecodeFn decode, bool check_decoded) {
  const std::int64_t n = vectors.rows;
  const std::size_t old_codes = codes_.size(), old_orig = originals_.size();
  const std::size_t old_norms = inv_norms_.size(), old_orig_norms = orig_inv_norms_.size();
  auto rollback = [&] {
    codes_.resize(old_codes);
    originals_.resize(old_orig);
    inv_norms_.resize(old_norms);
    orig_inv_norms_.resize(old_orig_norms);
  };
  try {
    codes_.resize(old_codes + static_cast<std::size_t>(n) * code_bytes_);
    encode(vectors, codes_.data() + old_codes);
    // The decoded vectors are what searches score: their cosine factors (and, where asked,
    // their norms checked: a range near float32's limits could decode beyond the bound).
    if (absl::Status s = DecodedNorms(static_cast<std::int64_t>(old_codes / code_bytes_), decode, check_decoded);
        !s.ok()) {
      rollback();
      return s;
    }
    if (rescore_factor_ > 0) {
      originals_.insert(originals_.end(), vectors.data, vectors.data + n * dim_);
      if (cosine()) {
        for (std::int64_t i = 0; i < n; ++i) orig_inv_norms_.push_back(InverseNorm(vectors.row(i), dim_));
      }
    }
  } catch (const std::bad_alloc&) {
    rollback();
    return absl::ResourceExhaustedError(absl::StrCat("out of memory adding ", n, " vectors of dim ", dim_));
  }
  id_table_->Append(n, ids);
  return absl::OkStatus();
}

absl::Status CodeStore::Search(ConstMatrixView queries, const SearchOptions& options, float* out_scores,
                               std::int64_t* out_ids, ScanFn scan, ScanAllowedFn scan_allowed) const {
  DENSEFB_RETURN_IF_ERROR(CheckQueries(queries, dim_, options));
  const std::int64_t nq = queries.rows;
  const std::int64_t k = options.k;
  const std::int64_t n = id_table_->size();
  if (nq == 0 || k == 0) return absl::OkStatus();

  std::vector<float> normalized;
  const float* q_data = CosineQueries(queries, cosine(), &normalized);

  // Candidates of the compressed scan: k, or r*k for re-scoring (never more than exist).
  const std::int64_t wanted = rescore_factor_ > 0 ? k * rescore_factor_ : k;
  const std::int64_t kk = std::min(wanted, n);
  const std::int64_t stride = std::max<std::int64_t>(kk, 1);
  std::unique_ptr<ScoredRow[]> best(new ScoredRow[static_cast<std::size_t>(nq * stride)]);
  std::vector<std::int64_t> sizes(static_cast<std::size_t>(nq), 0);

  const Filter* filter = options.filter;
  if (n > 0) {
    if (filter == nullptr) {
      scan(q_data, nq, kk, options, nullptr, best.get(), sizes.data());
    } else {
      DENSEFB_RETURN_IF_ERROR(filter->CheckQueries(nq));
      // As FlatIndex: a query allowing few ids is scored over them alone; the rest share a scan.
      std::vector<std::int64_t> few, many;
      for (std::int64_t i = 0; i < nq; ++i) {
        (filter->Count(i) * Filter::kFewAllowedRatio < n ? few : many).push_back(i);
      }
      ParallelFor(static_cast<std::int64_t>(few.size()), ResolveThreads(options.num_threads),
                  [&](std::int64_t j, int) {
                    const std::int64_t q = few[j];
                    sizes[q] = scan_allowed(q_data + q * dim_, q, kk, options, &best[q * stride]);
                  });
      if (!many.empty()) {
        const auto m = static_cast<std::int64_t>(many.size());
        std::vector<float> q_many(static_cast<std::size_t>(m * dim_));
        for (std::int64_t j = 0; j < m; ++j) std::copy_n(q_data + many[j] * dim_, dim_, &q_many[j * dim_]);
        std::unique_ptr<ScoredRow[]> best_many(new ScoredRow[static_cast<std::size_t>(m * stride)]);
        std::vector<std::int64_t> sizes_many(static_cast<std::size_t>(m), 0);
        scan(q_many.data(), m, kk, options, many.data(), best_many.get(), sizes_many.data());
        for (std::int64_t j = 0; j < m; ++j) {
          std::copy_n(&best_many[j * stride], sizes_many[j], &best[many[j] * stride]);
          sizes[many[j]] = sizes_many[j];
        }
      }
    }
  } else if (filter != nullptr) {
    DENSEFB_RETURN_IF_ERROR(filter->CheckQueries(nq));
  }

  const int threads = ResolveThreads(options.num_threads);
  if (rescore_factor_ > 0) {
    // Exact scores of the candidates from the float32 vectors, then the top k of them.
    const kernels::KernelSet& kern = kernels::Best();
    ParallelFor(nq, static_cast<int>(std::min<std::int64_t>(threads, nq / 16 + 1)), [&](std::int64_t q, int) {
      ScoredRow* c = &best[q * stride];
      const float* query = q_data + q * dim_;
      for (std::int64_t j = 0; j < sizes[q]; ++j) {
        float s = kern.dot(query, originals_.data() + c[j].row * dim_, dim_);
        if (cosine()) s *= orig_inv_norms_[c[j].row];
        c[j].score = s;
      }
      const std::int64_t keep = std::min(sizes[q], k);
      std::partial_sort(c, c + keep, c + sizes[q], Better);
      sizes[q] = keep;
    });
  }
  for (std::int64_t q = 0; q < nq; ++q) {
    const ScoredRow* top = &best[q * stride];
    const std::int64_t keep = std::min(sizes[q], k);
    for (std::int64_t j = 0; j < k; ++j) {
      out_scores[q * k + j] = j < keep ? top[j].score : -std::numeric_limits<float>::infinity();
      out_ids[q * k + j] = j < keep ? id_table_->id(top[j].row) : kNoId;
    }
  }
  return absl::OkStatus();
}

absl::Status CodeStore::Reconstruct(absl::Span<const std::int64_t> ids, MutableMatrixView out,
                                    DecodeFn decode) const {
  if (out.rows != static_cast<std::int64_t>(ids.size()) || (out.rows > 0 && out.cols != dim_)) {
    return absl::InvalidArgumentError(
        absl::StrCat("output is ", out.rows, " x ", out.cols, ", expected ", ids.size(), " x ", dim_));
  }
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const std::int64_t row = id_table_->Row(ids[i]);
    if (row < 0) return absl::NotFoundError(absl::StrCat("id ", ids[i], " is not in the index"));
    decode(code(row), 1, out.row(static_cast<std::int64_t>(i)));
  }
  return absl::OkStatus();
}

QuantizedMemoryUsage CodeStore::MemoryUsage() const {
  const std::int64_t n = id_table_->size();
  constexpr std::int64_t kIdBytes = 24;  // 8 in the id list + a 16-byte (id, row) slot of the lookup
  QuantizedMemoryUsage u;
  u.codes = static_cast<std::int64_t>(codes_.size());
  u.originals = static_cast<std::int64_t>(originals_.size() * sizeof(float));
  u.norms = static_cast<std::int64_t>((inv_norms_.size() + orig_inv_norms_.size()) * sizeof(float));
  u.ids = n * kIdBytes;
  u.flat_equivalent = n * dim_ * static_cast<std::int64_t>(sizeof(float)) +
                      (cosine() ? n * static_cast<std::int64_t>(sizeof(float)) : 0) + n * kIdBytes;
  return u;
}

absl::Status CodeStore::SaveRows(AtomicFileWriter& writer) const {
  const std::vector<std::int64_t>& ids = id_table_->ids();
  DENSEFB_RETURN_IF_ERROR(writer.WritePod<std::uint64_t>(ids.size()));
  DENSEFB_RETURN_IF_ERROR(writer.Write(ids.data(), ids.size() * sizeof(std::int64_t)));
  DENSEFB_RETURN_IF_ERROR(writer.Write(codes_.data(), codes_.size()));
  if (rescore_factor_ > 0) {
    DENSEFB_RETURN_IF_ERROR(writer.Write(originals_.data(), originals_.size() * sizeof(float)));
  }
  return absl::OkStatus();
}

absl::Status CodeStore::LoadCount(FileReader& reader, std::uint64_t* n) const {
  const std::size_t per_vector = sizeof(std::int64_t) + static_cast<std::size_t>(code_bytes_) +
                                 (rescore_factor_ > 0 ? dim_ * sizeof(float) : 0);
  return reader.ReadCount(n, per_vector, "vector count");
}

absl::Status CodeStore::LoadRows(FileReader& reader, std::uint64_t n,
                                 absl::FunctionRef<absl::Status(const std::vector<std::uint8_t>& codes)> check_codes,
                                 DecodeFn decode, bool check_decoded) {
  const auto rows = static_cast<std::int64_t>(n);
  std::vector<std::int64_t> ids(n);
  DENSEFB_RETURN_IF_ERROR(reader.Read(ids.data(), n * sizeof(std::int64_t), "ids"));
  std::vector<std::uint8_t> codes(n * code_bytes_);
  DENSEFB_RETURN_IF_ERROR(reader.Read(codes.data(), codes.size(), "codes"));
  std::vector<float> originals;
  if (rescore_factor_ > 0) {
    originals.resize(n * dim_);
    DENSEFB_RETURN_IF_ERROR(reader.Read(originals.data(), originals.size() * sizeof(float), "originals"));
  }
  DENSEFB_RETURN_IF_ERROR(reader.ExpectEnd());
  if (absl::Status ids_ok = id_table_->Assign(std::move(ids)); !ids_ok.ok()) {
    return reader.Corrupt(ids_ok.message());
  }
  DENSEFB_RETURN_IF_ERROR(check_codes(codes));
  codes_ = std::move(codes);
  // The decoded vectors must meet Add's norm bound where asked (a forged range could break
  // it); their cosine factors are rebuilt on the way.
  if (absl::Status s = DecodedNorms(0, decode, check_decoded); !s.ok()) return reader.Corrupt(s.message());
  if (rescore_factor_ > 0) {
    if (absl::Status s = CheckVectors({originals.data(), rows, static_cast<std::int64_t>(dim_)}, dim_); !s.ok()) {
      return reader.Corrupt(absl::StrCat("stored originals: ", s.message()));
    }
    originals_ = std::move(originals);
    if (cosine()) {
      orig_inv_norms_.resize(n);
      for (std::uint64_t i = 0; i < n; ++i) orig_inv_norms_[i] = InverseNorm(&originals_[i * dim_], dim_);
    }
  }
  return absl::OkStatus();
}

}  // namespace densefb
