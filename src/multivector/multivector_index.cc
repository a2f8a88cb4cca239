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
#include "index/rw_lock.h"
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

std::int64_t MultiVectorIndex::size() const {
  ReaderLock lock(turnstile_, mutex_);
  return static_cast<std::int64_t>(starts_.size());
}
std::int64_t MultiVectorIndex::num_documents() const {
  ReaderLock lock(turnstile_, mutex_);
  return static_cast<std::int64_t>(starts_.size()) - num_deleted_;
}
std::int64_t MultiVectorIndex::num_deleted() const {
  ReaderLock lock(turnstile_, mutex_);
  return num_deleted_;
}
std::int64_t MultiVectorIndex::num_tokens() const {
  ReaderLock lock(turnstile_, mutex_);
  return rows_;
}
std::int64_t MultiVectorIndex::num_garbage_tokens() const {
  ReaderLock lock(turnstile_, mutex_);
  return garbage_;
}
bool MultiVectorIndex::has_token_index() const {
  ReaderLock lock(turnstile_, mutex_);
  return token_index_ != nullptr;
}
bool MultiVectorIndex::memory_mapped() const {
  ReaderLock lock(turnstile_, mutex_);
  return mapping_ != nullptr;
}
absl::Span<const std::int32_t> MultiVectorIndex::token_ids() const { return token_ids_; }
absl::Span<const std::int32_t> MultiVectorIndex::excluded_token_ids() const { return excluded_; }

const float* MultiVectorIndex::TokenRow(std::int64_t row) const { return matrix_ + row * dim_; }

bool MultiVectorIndex::Plain() const {
  if (num_deleted_ > 0 || garbage_ > 0) return false;
  for (std::size_t d = 0; d < starts_.size(); ++d) {
    if (starts_[d] != (d == 0 ? 0 : starts_[d - 1] + counts_[d - 1])) return false;
  }
  return true;
}

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

absl::Status MultiVectorIndex::CheckDocs(absl::Span<const ConstMatrixView> docs,
                                         absl::Span<const absl::Span<const std::int32_t>> token_ids,
                                         std::int64_t* rows) const {
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
  if (rows_ + added > std::numeric_limits<std::int32_t>::max()) {
    return absl::ResourceExhaustedError(absl::StrCat("an index holds at most 2^31 - 1 token rows; ",
                                                     rows_, " + ", added, " is more"));
  }
  *rows = added;
  return absl::OkStatus();
}

// Appends the rows of one document, owned by document `owner`, to the matrix (storage was
// reserved by the caller).
absl::Status MultiVectorIndex::AppendRows(const ConstMatrixView& doc, absl::Span<const std::int32_t> token_ids,
                                          std::int64_t owner) {
  if (doc.rows > 0) owned_.insert(owned_.end(), doc.data, doc.data + doc.rows * dim_);
  token_ids_.insert(token_ids_.end(), token_ids.begin(), token_ids.end());
  token_doc_.insert(token_doc_.end(), static_cast<std::size_t>(doc.rows), static_cast<std::int32_t>(owner));
  rows_ += doc.rows;
  matrix_ = owned_.data();
  return absl::OkStatus();
}

// df of the distinct token ids of `doc`, up (sign +1) or down (-1).
void MultiVectorIndex::CountTokens(std::int64_t doc, int sign) {
  const std::int32_t* first = token_ids_.data() + starts_[doc];
  absl::flat_hash_set<std::int32_t> seen(first, first + counts_[doc]);
  for (std::int32_t id : seen) {
    if (static_cast<std::size_t>(id) >= df_.size()) df_.resize(static_cast<std::size_t>(id) + 1, 0);
    df_[id] += sign;
  }
}

// Token rows [first, first + rows) into / out of the token index, whose ids are token rows. A
// token index that cannot follow (Unimplemented: written in Python) is dropped.
absl::Status MultiVectorIndex::TokenIndexAddRows(std::int64_t first, std::int64_t rows) {
  if (token_index_ == nullptr || rows == 0) return absl::OkStatus();
  std::vector<std::int64_t> ids(static_cast<std::size_t>(rows));
  std::iota(ids.begin(), ids.end(), first);
  absl::Status s = token_index_->Add(ConstMatrixView{TokenRow(first), rows, dim_}, ids);
  if (s.code() == absl::StatusCode::kUnimplemented) token_index_.reset();
  return s.code() == absl::StatusCode::kUnimplemented ? absl::OkStatus() : s;
}

void MultiVectorIndex::TokenIndexDeleteRows(std::int64_t first, std::int64_t rows) {
  if (token_index_ == nullptr || rows == 0) return;
  std::vector<std::int64_t> ids(static_cast<std::size_t>(rows));
  std::iota(ids.begin(), ids.end(), first);
  if (!token_index_->Delete(ids).ok()) token_index_.reset();
}

absl::Status MultiVectorIndex::Add(absl::Span<const ConstMatrixView> docs,
                                   absl::Span<const absl::Span<const std::int32_t>> token_ids) {
  WriterLock lock(turnstile_, mutex_);
  std::int64_t added = 0;
  DENSEFB_RETURN_IF_ERROR(CheckDocs(docs, token_ids, &added));
  if (mapping_ != nullptr) {  // copy the mapped matrix before growing it
    owned_.assign(matrix_, matrix_ + rows_ * dim_);
    mapping_.reset();
  }
  owned_.reserve(owned_.size() + static_cast<std::size_t>(added * dim_));
  const std::int64_t first_row = rows_;
  for (std::size_t i = 0; i < docs.size(); ++i) {
    const auto doc = static_cast<std::int64_t>(starts_.size());
    starts_.push_back(rows_);
    counts_.push_back(docs[i].rows);
    deleted_.push_back(0);
    DENSEFB_RETURN_IF_ERROR(AppendRows(docs[i], token_ids[i], doc));
    CountTokens(doc, +1);
  }
  matrix_ = owned_.data();
  return TokenIndexAddRows(first_row, rows_ - first_row);
}

absl::Status MultiVectorIndex::Delete(absl::Span<const std::int64_t> ids) {
  WriterLock lock(turnstile_, mutex_);
  absl::flat_hash_set<std::int64_t> seen;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const std::int64_t d = ids[i];
    if (d < 0 || d >= static_cast<std::int64_t>(starts_.size())) {
      return absl::OutOfRangeError(absl::StrCat("document ", d, " (position ", i, ") is not in the index (",
                                                starts_.size(), " documents)"));
    }
    if (deleted_[d]) return absl::NotFoundError(absl::StrCat("document ", d, " (position ", i, ") was deleted"));
    if (!seen.insert(d).second) {
      return absl::InvalidArgumentError(absl::StrCat("document ", d, " appears twice"));
    }
  }
  for (std::int64_t d : ids) {
    CountTokens(d, -1);
    TokenIndexDeleteRows(starts_[d], counts_[d]);
    std::fill_n(token_doc_.begin() + starts_[d], counts_[d], -1);
    garbage_ += counts_[d];
    counts_[d] = 0;
    deleted_[d] = 1;
    ++num_deleted_;
  }
  return absl::OkStatus();
}

absl::Status MultiVectorIndex::Update(absl::Span<const std::int64_t> ids, absl::Span<const ConstMatrixView> docs,
                                      absl::Span<const absl::Span<const std::int32_t>> token_ids) {
  WriterLock lock(turnstile_, mutex_);
  if (ids.size() != docs.size()) {
    return absl::InvalidArgumentError(absl::StrCat(ids.size(), " ids but ", docs.size(), " documents"));
  }
  std::int64_t added = 0;
  DENSEFB_RETURN_IF_ERROR(CheckDocs(docs, token_ids, &added));
  absl::flat_hash_set<std::int64_t> seen;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const std::int64_t d = ids[i];
    if (d < 0 || d >= static_cast<std::int64_t>(starts_.size())) {
      return absl::OutOfRangeError(absl::StrCat("document ", d, " (position ", i, ") is not in the index (",
                                                starts_.size(), " documents)"));
    }
    if (deleted_[d]) return absl::NotFoundError(absl::StrCat("document ", d, " (position ", i, ") was deleted"));
    if (!seen.insert(d).second) return absl::InvalidArgumentError(absl::StrCat("document ", d, " appears twice"));
  }
  if (mapping_ != nullptr) {
    owned_.assign(matrix_, matrix_ + rows_ * dim_);
    mapping_.reset();
  }
  owned_.reserve(owned_.size() + static_cast<std::size_t>(added * dim_));
  const std::int64_t first_row = rows_;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const std::int64_t d = ids[i];
    CountTokens(d, -1);
    TokenIndexDeleteRows(starts_[d], counts_[d]);
    std::fill_n(token_doc_.begin() + starts_[d], counts_[d], -1);
    garbage_ += counts_[d];
    starts_[d] = rows_;
    counts_[d] = docs[i].rows;
    DENSEFB_RETURN_IF_ERROR(AppendRows(docs[i], token_ids[i], d));
    CountTokens(d, +1);
  }
  return TokenIndexAddRows(first_row, rows_ - first_row);
}

absl::Status MultiVectorIndex::Compact() {
  WriterLock lock(turnstile_, mutex_);
  if (garbage_ == 0) return absl::OkStatus();
  std::vector<float> matrix;
  std::vector<std::int32_t> ids;
  try {
    matrix.reserve(static_cast<std::size_t>((rows_ - garbage_) * dim_));
    ids.reserve(static_cast<std::size_t>(rows_ - garbage_));
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError(absl::StrCat("Compact: out of memory for ", rows_ - garbage_, " token rows"));
  }
  for (std::size_t d = 0; d < starts_.size(); ++d) {
    const std::int64_t start = static_cast<std::int64_t>(ids.size());
    matrix.insert(matrix.end(), TokenRow(starts_[d]), TokenRow(starts_[d] + counts_[d]));
    ids.insert(ids.end(), token_ids_.begin() + starts_[d], token_ids_.begin() + starts_[d] + counts_[d]);
    starts_[d] = start;
  }
  owned_ = std::move(matrix);
  mapping_.reset();
  matrix_ = owned_.data();
  token_ids_ = std::move(ids);
  rows_ = static_cast<std::int64_t>(token_ids_.size());
  garbage_ = 0;
  RebuildStats();
  if (token_index_ == nullptr) return absl::OkStatus();
  // The token rows were renumbered: the token index is rebuilt with its kind and settings.
  TokenIndexConfig config;
  if (const auto* hnsw = dynamic_cast<const HnswIndex*>(token_index_.get())) {
    config.kind = TokenIndexConfig::Kind::kHnsw;
    config.hnsw = hnsw->config();
  } else if (dynamic_cast<const FlatIndex*>(token_index_.get()) == nullptr) {
    token_index_.reset();  // written elsewhere: nothing to rebuild it with
    return absl::OkStatus();
  }
  return BuildTokenIndexLocked(config);
}

void MultiVectorIndex::RebuildStats() {
  token_doc_.assign(token_ids_.size(), -1);
  df_.clear();
  std::int32_t max_id = -1;
  for (std::int32_t id : token_ids_) max_id = std::max(max_id, id);
  df_.assign(static_cast<std::size_t>(max_id + 1), 0);
  std::vector<std::int64_t> last_doc(df_.size(), -1);
  for (std::int64_t d = 0; d < static_cast<std::int64_t>(starts_.size()); ++d) {
    for (std::int64_t r = starts_[d]; r < starts_[d] + counts_[d]; ++r) {
      token_doc_[r] = static_cast<std::int32_t>(d);
      const std::int32_t id = token_ids_[r];
      if (last_doc[id] != d) {
        last_doc[id] = d;
        ++df_[id];
      }
    }
  }
}

absl::StatusOr<ConstMatrixView> MultiVectorIndex::DocumentLocked(std::int64_t doc) const {
  if (doc < 0 || doc >= static_cast<std::int64_t>(starts_.size())) {
    return absl::OutOfRangeError(absl::StrCat("document ", doc, " is not in the index (", starts_.size(), " documents)"));
  }
  if (deleted_[doc]) return absl::NotFoundError(absl::StrCat("document ", doc, " was deleted"));
  return ConstMatrixView{TokenRow(starts_[doc]), counts_[doc], dim_};
}

absl::StatusOr<ConstMatrixView> MultiVectorIndex::Document(std::int64_t doc) const {
  ReaderLock lock(turnstile_, mutex_);
  return DocumentLocked(doc);
}

absl::StatusOr<absl::Span<const std::int32_t>> MultiVectorIndex::DocumentTokenIds(std::int64_t doc) const {
  ReaderLock lock(turnstile_, mutex_);
  DENSEFB_RETURN_IF_ERROR(DocumentLocked(doc).status());
  return absl::Span<const std::int32_t>(token_ids_.data() + starts_[doc], static_cast<std::size_t>(counts_[doc]));
}

absl::StatusOr<std::int64_t> MultiVectorIndex::DocumentOfToken(std::int64_t row) const {
  ReaderLock lock(turnstile_, mutex_);
  if (row < 0 || row >= rows_) {
    return absl::OutOfRangeError(absl::StrCat("token row ", row, " is not in the index (", rows_, " rows)"));
  }
  if (token_doc_[row] < 0) {
    return absl::NotFoundError(absl::StrCat("token row ", row, " belongs to a deleted or updated document"));
  }
  return token_doc_[row];
}

std::int64_t MultiVectorIndex::DocumentFrequency(std::int32_t token_id) const {
  ReaderLock lock(turnstile_, mutex_);
  if (token_id < 0 || static_cast<std::size_t>(token_id) >= df_.size()) return 0;
  return df_[token_id];
}

double MultiVectorIndex::Idf(std::int32_t token_id) const {
  return TokenIdf(DocumentFrequency(token_id), num_documents());
}

absl::Status MultiVectorIndex::SetExcludedTokenIds(std::vector<std::int32_t> ids) {
  for (std::int32_t id : ids) {
    if (id < 0) return absl::InvalidArgumentError(absl::StrCat("excluded token id ", id, " is negative"));
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  WriterLock lock(turnstile_, mutex_);
  excluded_ = std::move(ids);
  return absl::OkStatus();
}

bool MultiVectorIndex::IsExcludedToken(std::int32_t token_id) const {
  ReaderLock lock(turnstile_, mutex_);
  return std::binary_search(excluded_.begin(), excluded_.end(), token_id);
}

// ---- token index ----------------------------------------------------------------------------

absl::Status MultiVectorIndex::BuildTokenIndex(const TokenIndexConfig& config) {
  WriterLock lock(turnstile_, mutex_);
  return BuildTokenIndexLocked(config);
}

absl::Status MultiVectorIndex::BuildTokenIndexLocked(const TokenIndexConfig& config) {
  if (config.chunk_rows < 1) {
    return absl::InvalidArgumentError(absl::StrCat("chunk_rows = ", config.chunk_rows, " must be >= 1"));
  }
  std::unique_ptr<VectorIndex> index;
  if (config.kind == TokenIndexConfig::Kind::kHnsw) {
    DENSEFB_ASSIGN_OR_RETURN(index, HnswIndex::Create(dim_, Metric::kInnerProduct, config.hnsw));
  } else {
    DENSEFB_ASSIGN_OR_RETURN(index, FlatIndex::Create(dim_, Metric::kInnerProduct));
  }
  // Rows of live documents only, with their row numbers as ids (garbage rows are left out).
  std::vector<std::int64_t> ids;
  for (std::int64_t start = 0; start < rows_; start += config.chunk_rows) {
    const std::int64_t rows = std::min(config.chunk_rows, rows_ - start);
    if (garbage_ == 0) {
      ids.resize(static_cast<std::size_t>(rows));
      std::iota(ids.begin(), ids.end(), start);
      DENSEFB_RETURN_IF_ERROR(index->Add(ConstMatrixView{TokenRow(start), rows, dim_}, ids));
      continue;
    }
    for (std::int64_t r = start; r < start + rows;) {  // runs of live rows
      if (token_doc_[r] < 0) {
        ++r;
        continue;
      }
      std::int64_t end = r;
      while (end < start + rows && token_doc_[end] >= 0) ++end;
      ids.resize(static_cast<std::size_t>(end - r));
      std::iota(ids.begin(), ids.end(), r);
      DENSEFB_RETURN_IF_ERROR(index->Add(ConstMatrixView{TokenRow(r), end - r, dim_}, ids));
      r = end;
    }
  }
  token_index_ = std::move(index);
  return absl::OkStatus();
}

absl::Status MultiVectorIndex::SetTokenIndex(std::unique_ptr<VectorIndex> index) {
  WriterLock lock(turnstile_, mutex_);
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
  if (index->size() != rows_ - garbage_) {
    return absl::InvalidArgumentError(absl::StrCat("token index holds ", index->size(), " vectors, the index has ",
                                                   rows_ - garbage_, " token rows of live documents"));
  }
  token_index_ = std::move(index);
  return absl::OkStatus();
}

absl::StatusOr<SearchResult> MultiVectorIndex::NearestTokens(ConstMatrixView vectors, int k, int ef_search,
                                                             int num_threads) const {
  ReaderLock lock(turnstile_, mutex_);
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
  ReaderLock lock(turnstile_, mutex_);
  DENSEFB_RETURN_IF_ERROR(CheckQuery(query, 0));
  if (out.size() != docs.size()) {
    return absl::InvalidArgumentError(absl::StrCat(docs.size(), " documents but ", out.size(), " output slots"));
  }
  std::vector<float> scratch;
  for (std::size_t i = 0; i < docs.size(); ++i) {
    DENSEFB_ASSIGN_OR_RETURN(ConstMatrixView d, DocumentLocked(docs[i]));
    out[i] = mv_internal::WeightedMaxSim(query, d, &scratch);
  }
  return absl::OkStatus();
}

absl::StatusOr<BatchRanking> MultiVectorIndex::Rerank(absl::Span<const TokenQuery> queries,
                                                      const BatchRanking& candidates, int k,
                                                      int num_threads) const {
  ReaderLock lock(turnstile_, mutex_);
  if (candidates.size() != queries.size()) {
    return absl::InvalidArgumentError(absl::StrCat(queries.size(), " queries but ", candidates.size(),
                                                   " candidate lists"));
  }
  if (num_threads < 0) return absl::InvalidArgumentError(absl::StrCat("num_threads = ", num_threads, " is negative"));
  const auto n_docs = static_cast<std::int64_t>(starts_.size());
  for (std::size_t q = 0; q < queries.size(); ++q) {
    DENSEFB_RETURN_IF_ERROR(CheckQuery(queries[q], static_cast<std::int64_t>(q)));
    for (const ScoredDoc& d : candidates.lists[q]) {
      if (d.id < 0 || d.id >= n_docs) {
        return absl::OutOfRangeError(absl::StrCat("document ", d.id, " is not in the multi-vector index (", n_docs,
                                                  " documents)"));
      }
    }
  }
  auto document = [this](std::int64_t id, RowMatrix*) { return *DocumentLocked(id); };
  if (num_deleted_ == 0) return mv_internal::RerankWith(queries, candidates, k, num_threads, document);
  // Deleted documents are dropped (a first stage over another index may still hold them).
  BatchRanking live = candidates;
  for (Ranking& list : live.lists) {
    list.erase(std::remove_if(list.begin(), list.end(), [&](const ScoredDoc& d) { return deleted_[d.id] != 0; }),
               list.end());
  }
  return mv_internal::RerankWith(queries, live, k, num_threads, document);
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
  ReaderLock lock(turnstile_, mutex_);
  if (token_index_ == nullptr) {
    return absl::FailedPreconditionError("the multi-vector index has no token index (call BuildTokenIndex)");
  }
  if (k < 1) return absl::InvalidArgumentError(absl::StrCat("k = ", k, " must be >= 1"));
  SearchOptions so;
  so.k = k;
  so.num_threads = num_threads;
  so.ef_search = ef_search;
  DENSEFB_ASSIGN_OR_RETURN(SearchResult hits, token_index_->Search(vectors, so));
  return mv_internal::NeighboursOfRows(std::move(hits), rows_, token_doc_.data(), token_ids_.data());
}

absl::StatusOr<std::vector<RowMatrix>> MultiVectorIndex::Documents(absl::Span<const std::int64_t> ids) const {
  ReaderLock lock(turnstile_, mutex_);
  std::vector<RowMatrix> out;
  out.reserve(ids.size());
  for (std::int64_t id : ids) {
    DENSEFB_ASSIGN_OR_RETURN(ConstMatrixView v, DocumentLocked(id));
    out.emplace_back(Eigen::Map<const RowMatrix>(v.data, v.rows, v.cols));
  }
  return out;
}

absl::StatusOr<std::vector<std::int64_t>> MultiVectorIndex::DocumentFrequencies(
    absl::Span<const std::int32_t> token_ids) const {
  ReaderLock lock(turnstile_, mutex_);
  std::vector<std::int64_t> out;
  out.reserve(token_ids.size());
  for (std::int32_t t : token_ids) {
    out.push_back(t < 0 || static_cast<std::size_t>(t) >= df_.size() ? 0 : df_[t]);
  }
  return out;
}

absl::StatusOr<std::vector<std::int32_t>> MultiVectorIndex::ExcludedTokenIds() const {
  ReaderLock lock(turnstile_, mutex_);
  return excluded_;
}

// ---- files ------------------------------------------------------------------------------------

absl::Status MultiVectorIndex::Save(const std::string& path) const {
  ReaderLock lock(turnstile_, mutex_);
  const bool plain = Plain();
  DENSEFB_ASSIGN_OR_RETURN(std::unique_ptr<AtomicFileWriter> w, AtomicFileWriter::Open(path, kKind, plain ? 1 : 2));
  std::uint64_t written = 0;
  auto write = [&](const void* data, std::size_t bytes) {
    written += bytes;
    return w->Write(data, bytes);
  };
  const std::uint32_t dim = static_cast<std::uint32_t>(dim_), flags = 0;
  const std::uint64_t docs = starts_.size(), tokens = static_cast<std::uint64_t>(rows_);
  DENSEFB_RETURN_IF_ERROR(write(&dim, 4));
  DENSEFB_RETURN_IF_ERROR(write(&flags, 4));
  DENSEFB_RETURN_IF_ERROR(write(&docs, 8));
  if (plain) {
    std::vector<std::int64_t> offsets(starts_.begin(), starts_.end());
    offsets.push_back(rows_);
    DENSEFB_RETURN_IF_ERROR(write(offsets.data(), offsets.size() * sizeof(std::int64_t)));
  } else {
    DENSEFB_RETURN_IF_ERROR(write(starts_.data(), starts_.size() * sizeof(std::int64_t)));
    DENSEFB_RETURN_IF_ERROR(write(counts_.data(), counts_.size() * sizeof(std::int64_t)));
    DENSEFB_RETURN_IF_ERROR(write(deleted_.data(), deleted_.size()));
  }
  DENSEFB_RETURN_IF_ERROR(write(&tokens, 8));
  DENSEFB_RETURN_IF_ERROR(write(token_ids_.data(), token_ids_.size() * sizeof(std::int32_t)));
  const std::uint64_t excluded = excluded_.size();
  DENSEFB_RETURN_IF_ERROR(write(&excluded, 8));
  DENSEFB_RETURN_IF_ERROR(write(excluded_.data(), excluded_.size() * sizeof(std::int32_t)));
  const std::size_t pad = (kMatrixAlignment - (kFileHeaderSize + written) % kMatrixAlignment) % kMatrixAlignment;
  const char zeros[kMatrixAlignment] = {};
  DENSEFB_RETURN_IF_ERROR(write(zeros, pad));
  DENSEFB_RETURN_IF_ERROR(write(matrix_, static_cast<std::size_t>(rows_ * dim_) * sizeof(float)));
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
  MultiVectorIndex& x = *index;
  std::uint64_t tokens = 0;
  if (r->version() == 1) {
    std::vector<std::int64_t> offsets(docs + 1);
    DENSEFB_RETURN_IF_ERROR(r->Read(offsets.data(), (docs + 1) * sizeof(std::int64_t), "document offsets"));
    if (offsets[0] != 0) return r->Corrupt("the first document offset is not 0");
    for (std::uint64_t d = 0; d < docs; ++d) {
      if (offsets[d + 1] < offsets[d]) return r->Corrupt(absl::StrCat("document offsets decrease at document ", d));
    }
    DENSEFB_RETURN_IF_ERROR(r->ReadCount(&tokens, sizeof(std::int32_t), "token count"));
    if (static_cast<std::int64_t>(tokens) != offsets.back()) {
      return r->Corrupt(absl::StrCat("token count ", tokens, " does not match the last offset ", offsets.back()));
    }
    x.starts_.assign(offsets.begin(), offsets.end() - 1);
    x.counts_.resize(docs);
    for (std::uint64_t d = 0; d < docs; ++d) x.counts_[d] = offsets[d + 1] - offsets[d];
    x.deleted_.assign(docs, 0);
  } else {
    x.starts_.resize(docs);
    x.counts_.resize(docs);
    x.deleted_.resize(docs);
    DENSEFB_RETURN_IF_ERROR(r->Read(x.starts_.data(), docs * sizeof(std::int64_t), "document starts"));
    DENSEFB_RETURN_IF_ERROR(r->Read(x.counts_.data(), docs * sizeof(std::int64_t), "document token counts"));
    DENSEFB_RETURN_IF_ERROR(r->Read(x.deleted_.data(), docs, "deleted flags"));
    DENSEFB_RETURN_IF_ERROR(r->ReadCount(&tokens, sizeof(std::int32_t), "token count"));
    // Live documents own disjoint row ranges inside the matrix; deleted ones own none.
    std::vector<std::pair<std::int64_t, std::int64_t>> ranges;
    for (std::uint64_t d = 0; d < docs; ++d) {
      const std::int64_t start = x.starts_[d], count = x.counts_[d];
      if (x.deleted_[d] > 1) return r->Corrupt(absl::StrCat("document ", d, ": deleted flag ", int{x.deleted_[d]}));
      if (x.deleted_[d] && count != 0) return r->Corrupt(absl::StrCat("deleted document ", d, " holds token rows"));
      if (start < 0 || count < 0 || static_cast<std::uint64_t>(start) > tokens ||
          static_cast<std::uint64_t>(count) > tokens - static_cast<std::uint64_t>(start)) {
        return r->Corrupt(absl::StrCat("document ", d, ": rows [", start, ", +", count, ") outside the ", tokens,
                                       " token rows"));
      }
      x.num_deleted_ += x.deleted_[d];
      if (count > 0) ranges.emplace_back(start, d);
    }
    std::sort(ranges.begin(), ranges.end());
    std::int64_t covered = 0, end = 0;
    for (const auto& [start, d] : ranges) {
      if (start < end) return r->Corrupt(absl::StrCat("document ", d, " shares token rows with another"));
      end = start + x.counts_[d];
      covered += x.counts_[d];
    }
    x.garbage_ = static_cast<std::int64_t>(tokens) - covered;
  }
  x.rows_ = static_cast<std::int64_t>(tokens);
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
