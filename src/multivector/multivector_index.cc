// MultiVectorIndex: storage, files, token statistics, token index, MaxSim scoring and
// end-to-end retrieval.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <numeric>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/parallel.h"
#include "densefb/file_format.h"
#include "densefb/flat_index.h"
#include "densefb/hnsw_index.h"
#include "densefb/multivector.h"
#include "index/kernels.h"
#include "multivector/maxsim_internal.h"

namespace densefb {
namespace {

constexpr char kKind[] = "MVEC";
constexpr std::size_t kMatrixAlignment = 64;

std::string TokenIndexPath(const std::string& path) { return path + ".tokens"; }

}  // namespace

struct MultiVectorIndex::Mapping {
  void* base = nullptr;
  std::size_t length = 0;
  ~Mapping() {
    if (base != nullptr) ::munmap(base, length);
  }
};

std::vector<TokenQuery> MakeTokenQueries(std::vector<RowMatrix> vectors) {
  std::vector<TokenQuery> out(vectors.size());
  for (std::size_t i = 0; i < vectors.size(); ++i) out[i].vectors = std::move(vectors[i]);
  return out;
}

MultiVectorIndex::MultiVectorIndex(int dim) : dim_(dim) {}
MultiVectorIndex::~MultiVectorIndex() = default;

absl::StatusOr<std::unique_ptr<MultiVectorIndex>> MultiVectorIndex::Create(int dim) {
  if (dim < 1) return absl::InvalidArgumentError(absl::StrCat("dim = ", dim, " must be >= 1"));
  return std::unique_ptr<MultiVectorIndex>(new MultiVectorIndex(dim));
}

std::int64_t MultiVectorIndex::size() const { return static_cast<std::int64_t>(offsets_.size()) - 1; }
std::int64_t MultiVectorIndex::num_tokens() const { return offsets_.back(); }
bool MultiVectorIndex::memory_mapped() const { return mapping_ != nullptr; }
absl::Span<const std::int32_t> MultiVectorIndex::token_ids() const { return token_ids_; }
absl::Span<const std::int32_t> MultiVectorIndex::excluded_token_ids() const { return excluded_; }

const float* MultiVectorIndex::TokenRow(std::int64_t row) const { return matrix_ + row * dim_; }

absl::Status MultiVectorIndex::Add(absl::Span<const TokenEmbeddings> docs) {
  std::vector<ConstMatrixView> views;
  std::vector<absl::Span<const std::int32_t>> ids;
  views.reserve(docs.size());
  ids.reserve(docs.size());
  for (const TokenEmbeddings& d : docs) {
    views.push_back(View(d.vectors));
    ids.emplace_back(d.token_ids);
  }
  return Add(views, ids);
}

absl::Status MultiVectorIndex::Add(absl::Span<const ConstMatrixView> docs,
                                   absl::Span<const absl::Span<const std::int32_t>> token_ids) {
  if (docs.size() != token_ids.size()) {
    return absl::InvalidArgumentError(absl::StrCat(docs.size(), " documents but ", token_ids.size(),
                                                   " token id lists"));
  }
  std::int64_t added = 0;
  for (std::size_t i = 0; i < docs.size(); ++i) {
    const ConstMatrixView& d = docs[i];
    if (d.rows > 0 && d.cols != dim_) {
      return absl::InvalidArgumentError(absl::StrCat("document ", i, " has ", d.cols,
                                                     " dimensions, the index has ", dim_));
    }
    if (static_cast<std::int64_t>(token_ids[i].size()) != d.rows) {
      return absl::InvalidArgumentError(absl::StrCat("document ", i, " has ", d.rows, " token rows but ",
                                                     token_ids[i].size(), " token ids"));
    }
    for (std::size_t t = 0; t < token_ids[i].size(); ++t) {
      if (token_ids[i][t] < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("document ", i, " token ", t, ": negative token id ", token_ids[i][t]));
      }
    }
    DENSEFB_RETURN_IF_ERROR(CheckFinite(d, absl::StrCat("document ", i, " token embedding")));
    added += d.rows;
  }
  if (num_tokens() + added > std::numeric_limits<std::int32_t>::max()) {
    return absl::ResourceExhaustedError(absl::StrCat("an index holds at most 2^31 - 1 token rows; ",
                                                     num_tokens(), " + ", added, " is more"));
  }
  if (mapping_ != nullptr) {  // copy the mapped matrix before growing it
    owned_.assign(matrix_, matrix_ + num_tokens() * dim_);
    mapping_.reset();
  }
  owned_.reserve(owned_.size() + static_cast<std::size_t>(added * dim_));
  for (std::size_t i = 0; i < docs.size(); ++i) {
    const ConstMatrixView& d = docs[i];
    const std::int64_t doc = size();
    if (d.rows > 0) owned_.insert(owned_.end(), d.data, d.data + d.rows * dim_);
    token_ids_.insert(token_ids_.end(), token_ids[i].begin(), token_ids[i].end());
    token_doc_.insert(token_doc_.end(), static_cast<std::size_t>(d.rows), static_cast<std::int32_t>(doc));
    offsets_.push_back(offsets_.back() + d.rows);
    absl::flat_hash_set<std::int32_t> seen(token_ids[i].begin(), token_ids[i].end());
    for (std::int32_t id : seen) {
      if (static_cast<std::size_t>(id) >= df_.size()) df_.resize(static_cast<std::size_t>(id) + 1, 0);
      ++df_[id];
    }
  }
  matrix_ = owned_.data();
  token_index_.reset();
  return absl::OkStatus();
}

void MultiVectorIndex::RebuildStats() {
  token_doc_.assign(token_ids_.size(), 0);
  df_.clear();
  std::int32_t max_id = -1;
  for (std::int32_t id : token_ids_) max_id = std::max(max_id, id);
  df_.assign(static_cast<std::size_t>(max_id + 1), 0);
  std::vector<std::int64_t> last_doc(df_.size(), -1);
  for (std::int64_t d = 0; d < size(); ++d) {
    for (std::int64_t r = offsets_[d]; r < offsets_[d + 1]; ++r) {
      token_doc_[r] = static_cast<std::int32_t>(d);
      const std::int32_t id = token_ids_[r];
      if (last_doc[id] != d) {
        last_doc[id] = d;
        ++df_[id];
      }
    }
  }
}

absl::StatusOr<ConstMatrixView> MultiVectorIndex::Document(std::int64_t doc) const {
  if (doc < 0 || doc >= size()) {
    return absl::OutOfRangeError(absl::StrCat("document ", doc, " is not in the index (", size(), " documents)"));
  }
  return ConstMatrixView{TokenRow(offsets_[doc]), offsets_[doc + 1] - offsets_[doc], dim_};
}

absl::StatusOr<absl::Span<const std::int32_t>> MultiVectorIndex::DocumentTokenIds(std::int64_t doc) const {
  if (doc < 0 || doc >= size()) {
    return absl::OutOfRangeError(absl::StrCat("document ", doc, " is not in the index (", size(), " documents)"));
  }
  return absl::Span<const std::int32_t>(token_ids_.data() + offsets_[doc],
                                        static_cast<std::size_t>(offsets_[doc + 1] - offsets_[doc]));
}

absl::StatusOr<std::int64_t> MultiVectorIndex::DocumentOfToken(std::int64_t row) const {
  if (row < 0 || row >= num_tokens()) {
    return absl::OutOfRangeError(absl::StrCat("token row ", row, " is not in the index (", num_tokens(), " rows)"));
  }
  return token_doc_[row];
}

std::int64_t MultiVectorIndex::DocumentFrequency(std::int32_t token_id) const {
  if (token_id < 0 || static_cast<std::size_t>(token_id) >= df_.size()) return 0;
  return df_[token_id];
}

double MultiVectorIndex::Idf(std::int32_t token_id) const {
  return TokenIdf(DocumentFrequency(token_id), size());
}

absl::Status MultiVectorIndex::SetExcludedTokenIds(std::vector<std::int32_t> ids) {
  for (std::int32_t id : ids) {
    if (id < 0) return absl::InvalidArgumentError(absl::StrCat("excluded token id ", id, " is negative"));
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  excluded_ = std::move(ids);
  return absl::OkStatus();
}

bool MultiVectorIndex::IsExcludedToken(std::int32_t token_id) const {
  return std::binary_search(excluded_.begin(), excluded_.end(), token_id);
}

// ---- token index ----------------------------------------------------------------------------

absl::Status MultiVectorIndex::BuildTokenIndex(const TokenIndexConfig& config) {
  if (config.chunk_rows < 1) {
    return absl::InvalidArgumentError(absl::StrCat("chunk_rows = ", config.chunk_rows, " must be >= 1"));
  }
  std::unique_ptr<VectorIndex> index;
  if (config.kind == TokenIndexConfig::Kind::kHnsw) {
    DENSEFB_ASSIGN_OR_RETURN(index, HnswIndex::Create(dim_, Metric::kInnerProduct, config.hnsw));
  } else {
    DENSEFB_ASSIGN_OR_RETURN(index, FlatIndex::Create(dim_, Metric::kInnerProduct));
  }
  for (std::int64_t start = 0; start < num_tokens(); start += config.chunk_rows) {
    const std::int64_t rows = std::min(config.chunk_rows, num_tokens() - start);
    DENSEFB_RETURN_IF_ERROR(index->Add(ConstMatrixView{TokenRow(start), rows, dim_}));
  }
  token_index_ = std::move(index);
  return absl::OkStatus();
}

absl::Status MultiVectorIndex::SetTokenIndex(std::unique_ptr<VectorIndex> index) {
  if (index == nullptr) {
    token_index_.reset();
    return absl::OkStatus();
  }
  if (index->dim() != dim_) {
    return absl::InvalidArgumentError(absl::StrCat("token index has ", index->dim(), " dimensions, the index ", dim_));
  }
  if (index->metric() != Metric::kInnerProduct) {
    return absl::InvalidArgumentError("token index must use the inner product metric (\"ip\")");
  }
  if (index->size() != num_tokens()) {
    return absl::InvalidArgumentError(absl::StrCat("token index holds ", index->size(), " vectors, the index has ",
                                                   num_tokens(), " token rows"));
  }
  token_index_ = std::move(index);
  return absl::OkStatus();
}

absl::StatusOr<SearchResult> MultiVectorIndex::NearestTokens(ConstMatrixView vectors, int k, int ef_search,
                                                             int num_threads) const {
  if (token_index_ == nullptr) {
    return absl::FailedPreconditionError("the multi-vector index has no token index (call BuildTokenIndex)");
  }
  if (k < 1) return absl::InvalidArgumentError(absl::StrCat("k = ", k, " must be >= 1"));
  SearchOptions so;
  so.k = k;
  so.num_threads = num_threads;
  so.ef_search = ef_search;  // HNSW: 0 = the index default; hnswlib searches with max(ef, k)
  return token_index_->Search(vectors, so);
}

// ---- scoring ----------------------------------------------------------------------------------

absl::Status MultiVectorIndex::CheckQuery(const TokenQuery& q, std::int64_t index) const {
  return mv_internal::CheckTokenQuery(q, dim_, index);
}

absl::Status MultiVectorIndex::Score(const TokenQuery& query, absl::Span<const std::int64_t> docs,
                                     absl::Span<float> out) const {
  DENSEFB_RETURN_IF_ERROR(CheckQuery(query, 0));
  if (out.size() != docs.size()) {
    return absl::InvalidArgumentError(absl::StrCat(docs.size(), " documents but ", out.size(), " output slots"));
  }
  std::vector<float> scratch;
  for (std::size_t i = 0; i < docs.size(); ++i) {
    DENSEFB_ASSIGN_OR_RETURN(ConstMatrixView d, Document(docs[i]));
    out[i] = mv_internal::WeightedMaxSim(query, d, &scratch);
  }
  return absl::OkStatus();
}

absl::StatusOr<BatchRanking> MultiVectorIndex::Rerank(absl::Span<const TokenQuery> queries,
                                                      const BatchRanking& candidates, int k,
                                                      int num_threads) const {
  if (candidates.size() != queries.size()) {
    return absl::InvalidArgumentError(absl::StrCat(queries.size(), " queries but ", candidates.size(),
                                                   " candidate lists"));
  }
  if (num_threads < 0) return absl::InvalidArgumentError(absl::StrCat("num_threads = ", num_threads, " is negative"));
  for (std::size_t q = 0; q < queries.size(); ++q) {
    DENSEFB_RETURN_IF_ERROR(CheckQuery(queries[q], static_cast<std::int64_t>(q)));
    for (const ScoredDoc& d : candidates.lists[q]) {
      if (d.id < 0 || d.id >= size()) {
        return absl::OutOfRangeError(absl::StrCat("document ", d.id, " is not in the multi-vector index (", size(),
                                                  " documents)"));
      }
    }
  }
  return mv_internal::RerankWith(queries, candidates, k, num_threads,
                                 [this](std::int64_t id) { return *Document(id); });
}

absl::StatusOr<BatchRanking> MultiVectorIndex::Candidates(absl::Span<const TokenQuery> queries,
                                                          const MultiVectorSearchOptions& options) const {
  return TokenCandidates(*this, queries, options);
}

absl::StatusOr<BatchRanking> MultiVectorIndex::Search(absl::Span<const TokenQuery> queries,
                                                      const MultiVectorSearchOptions& options) const {
  return MaxSimSearch(*this, queries, options);
}

// ---- TokenCollection --------------------------------------------------------------------------

absl::StatusOr<TokenNeighbours> MultiVectorIndex::Neighbours(ConstMatrixView vectors, int k, int ef_search,
                                                             int num_threads) const {
  DENSEFB_ASSIGN_OR_RETURN(SearchResult hits, NearestTokens(vectors, k, ef_search, num_threads));
  TokenNeighbours out;
  out.scores = std::move(hits.scores);
  out.rows = std::move(hits.ids);
  out.docs.resize(out.rows.rows(), out.rows.cols());
  out.token_ids.resize(out.rows.rows(), out.rows.cols());
  for (std::int64_t i = 0; i < out.rows.size(); ++i) {
    const std::int64_t row = out.rows.data()[i];
    const bool valid = row >= 0 && row < num_tokens();
    out.docs.data()[i] = valid ? token_doc_[row] : kNoId;
    out.token_ids.data()[i] = valid ? token_ids_[row] : -1;
  }
  return out;
}

absl::StatusOr<std::vector<RowMatrix>> MultiVectorIndex::Documents(absl::Span<const std::int64_t> ids) const {
  std::vector<RowMatrix> out;
  out.reserve(ids.size());
  for (std::int64_t id : ids) {
    DENSEFB_ASSIGN_OR_RETURN(ConstMatrixView v, Document(id));
    out.emplace_back(Eigen::Map<const RowMatrix>(v.data, v.rows, v.cols));
  }
  return out;
}

absl::StatusOr<std::vector<std::int64_t>> MultiVectorIndex::DocumentFrequencies(
    absl::Span<const std::int32_t> token_ids) const {
  std::vector<std::int64_t> out;
  out.reserve(token_ids.size());
  for (std::int32_t t : token_ids) out.push_back(DocumentFrequency(t));
  return out;
}

absl::StatusOr<std::vector<std::int32_t>> MultiVectorIndex::ExcludedTokenIds() const { return excluded_; }

// ---- files ------------------------------------------------------------------------------------

absl::Status MultiVectorIndex::Save(const std::string& path) const {
  DENSEFB_ASSIGN_OR_RETURN(std::unique_ptr<AtomicFileWriter> w, AtomicFileWriter::Open(path, kKind, kFormatVersion));
  std::uint64_t written = 0;
  auto write = [&](const void* data, std::size_t bytes) {
    written += bytes;
    return w->Write(data, bytes);
  };
  const std::uint32_t dim = static_cast<std::uint32_t>(dim_), flags = 0;
  const std::uint64_t docs = static_cast<std::uint64_t>(size()), tokens = static_cast<std::uint64_t>(num_tokens());
  DENSEFB_RETURN_IF_ERROR(write(&dim, 4));
  DENSEFB_RETURN_IF_ERROR(write(&flags, 4));
  DENSEFB_RETURN_IF_ERROR(write(&docs, 8));
  DENSEFB_RETURN_IF_ERROR(write(offsets_.data(), offsets_.size() * sizeof(std::int64_t)));
  DENSEFB_RETURN_IF_ERROR(write(&tokens, 8));
  DENSEFB_RETURN_IF_ERROR(write(token_ids_.data(), token_ids_.size() * sizeof(std::int32_t)));
  const std::uint64_t excluded = excluded_.size();
  DENSEFB_RETURN_IF_ERROR(write(&excluded, 8));
  DENSEFB_RETURN_IF_ERROR(write(excluded_.data(), excluded_.size() * sizeof(std::int32_t)));
  const std::size_t pad = (kMatrixAlignment - (kFileHeaderSize + written) % kMatrixAlignment) % kMatrixAlignment;
  const char zeros[kMatrixAlignment] = {};
  DENSEFB_RETURN_IF_ERROR(write(zeros, pad));
  DENSEFB_RETURN_IF_ERROR(write(matrix_, static_cast<std::size_t>(num_tokens() * dim_) * sizeof(float)));
  if (w->temp_path().empty()) {  // streamed to a device, a pipe or standard output
    if (token_index_ != nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": is not a regular file; an index with a token index is two files (",
          TokenIndexPath(path), ") and needs a file path"));
    }
  } else if (token_index_ != nullptr) {
    DENSEFB_RETURN_IF_ERROR(token_index_->Save(TokenIndexPath(path)));
  } else {
    std::error_code ec;
    std::filesystem::remove(TokenIndexPath(path), ec);  // a stale token index would not match
  }
  return w->Commit();
}

namespace {

// The 4-character kind of a densefb container file ("" when unreadable).
std::string FileKind(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char header[12] = {};
  if (!in.read(header, sizeof(header))) return "";
  return std::string(header + 8, 4);
}

}  // namespace

absl::StatusOr<std::unique_ptr<MultiVectorIndex>> MultiVectorIndex::Load(const std::string& path) {
  DENSEFB_ASSIGN_OR_RETURN(std::unique_ptr<FileReader> r, FileReader::Open(path, kKind, kFormatVersion));
  const std::uint64_t file_size = r->file_size();  // of the verified file, not of the path now
  std::uint32_t dim = 0, flags = 0;
  DENSEFB_RETURN_IF_ERROR(r->ReadPod(&dim, "dim"));
  DENSEFB_RETURN_IF_ERROR(r->ReadPod(&flags, "flags"));
  if (dim < 1 || dim > (1u << 20)) return r->Corrupt(absl::StrCat("dim = ", dim, " is out of range"));
  if (flags != 0) return r->Corrupt(absl::StrCat("unknown flags ", flags));
  std::uint64_t docs = 0;
  DENSEFB_RETURN_IF_ERROR(r->ReadCount(&docs, sizeof(std::int64_t), "document count"));
  std::unique_ptr<MultiVectorIndex> index(new MultiVectorIndex(static_cast<int>(dim)));
  index->offsets_.resize(docs + 1);
  DENSEFB_RETURN_IF_ERROR(r->Read(index->offsets_.data(), (docs + 1) * sizeof(std::int64_t), "document offsets"));
  if (index->offsets_[0] != 0) return r->Corrupt("the first document offset is not 0");
  for (std::uint64_t d = 0; d < docs; ++d) {
    if (index->offsets_[d + 1] < index->offsets_[d]) {
      return r->Corrupt(absl::StrCat("document offsets decrease at document ", d));
    }
  }
  std::uint64_t tokens = 0;
  DENSEFB_RETURN_IF_ERROR(r->ReadCount(&tokens, sizeof(std::int32_t), "token count"));
  if (static_cast<std::int64_t>(tokens) != index->offsets_.back()) {
    return r->Corrupt(absl::StrCat("token count ", tokens, " does not match the last offset ", index->offsets_.back()));
  }
  index->token_ids_.resize(tokens);
  DENSEFB_RETURN_IF_ERROR(r->Read(index->token_ids_.data(), tokens * sizeof(std::int32_t), "token ids"));
  for (std::uint64_t t = 0; t < tokens; ++t) {
    if (index->token_ids_[t] < 0) return r->Corrupt(absl::StrCat("token row ", t, " has a negative token id"));
  }
  std::uint64_t excluded = 0;
  DENSEFB_RETURN_IF_ERROR(r->ReadCount(&excluded, sizeof(std::int32_t), "excluded token count"));
  std::vector<std::int32_t> excluded_ids(excluded);
  DENSEFB_RETURN_IF_ERROR(r->Read(excluded_ids.data(), excluded * sizeof(std::int32_t), "excluded token ids"));
  DENSEFB_RETURN_IF_ERROR(index->SetExcludedTokenIds(std::move(excluded_ids)));
  const std::uint64_t position = file_size - r->remaining();
  const std::size_t pad = (kMatrixAlignment - position % kMatrixAlignment) % kMatrixAlignment;
  char zeros[kMatrixAlignment] = {};
  DENSEFB_RETURN_IF_ERROR(r->Read(zeros, pad, "padding"));
  const std::uint64_t matrix_bytes = tokens * dim * sizeof(float);
  if (r->remaining() != matrix_bytes) {
    return r->Corrupt(absl::StrCat("the token matrix should take ", matrix_bytes, " bytes, ", r->remaining(), " are left"));
  }
  const std::uint64_t matrix_offset = file_size - r->remaining();
  if (matrix_bytes > 0) {
    // Maps the descriptor that was verified: the path may name a newer file by now.
    void* base = ::mmap(nullptr, file_size, PROT_READ, MAP_SHARED, r->fd(), 0);
    if (base == MAP_FAILED) return absl::ResourceExhaustedError(absl::StrCat(path, ": mmap failed: ", std::strerror(errno)));
    index->mapping_ = std::make_unique<Mapping>();
    index->mapping_->base = base;
    index->mapping_->length = file_size;
    index->matrix_ = reinterpret_cast<const float*>(static_cast<const char*>(base) + matrix_offset);
  }
  r.reset();
  index->RebuildStats();
  const std::string token_path = TokenIndexPath(path);
  std::error_code ec;
  if (std::filesystem::exists(token_path, ec)) {
    const std::string kind = FileKind(token_path);
    std::unique_ptr<VectorIndex> token_index;
    if (kind == "HNSW") {
      DENSEFB_ASSIGN_OR_RETURN(token_index, HnswIndex::Load(token_path));
    } else {
      DENSEFB_ASSIGN_OR_RETURN(token_index, FlatIndex::Load(token_path));
    }
    absl::Status s = index->SetTokenIndex(std::move(token_index));
    if (!s.ok()) return absl::DataLossError(absl::StrCat(token_path, ": does not match ", path, ": ", s.message()));
  }
  return index;
}

}  // namespace densefb
