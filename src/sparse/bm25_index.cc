// Bm25Index: build (parallel analysis, deterministic ids), save / load through the densefb
// container (kind "BM25"), term-at-a-time top-k search and candidate scoring.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/parallel.h"
#include "densefb/bm25.h"
#include "densefb/file_format.h"
#include "index/rw_lock.h"
#include "sparse/searcher.h"

namespace densefb {
namespace {

// Transposes a compressed sparse row matrix: row r owns entries [offsets[r], offsets[r+1]) of
// (cols, vals). Writes the matrix with rows and columns swapped (num_cols rows), each row's
// entries in increasing original-row order. Turns the forward index (documents -> terms) into
// postings (terms -> documents) and back. `cols` must lie in [0, num_cols).
void TransposeCsr(const std::vector<std::uint64_t>& offsets, const std::vector<std::int32_t>& cols,
                  const std::vector<std::int32_t>& vals, std::size_t num_cols,
                  std::vector<std::uint64_t>* out_offsets, std::vector<std::int32_t>* out_cols,
                  std::vector<std::int32_t>* out_vals) {
  out_offsets->assign(num_cols + 1, 0);
  for (std::int32_t c : cols) ++(*out_offsets)[c + 1];
  for (std::size_t c = 0; c < num_cols; ++c) (*out_offsets)[c + 1] += (*out_offsets)[c];
  out_cols->resize(cols.size());
  out_vals->resize(cols.size());
  std::vector<std::uint64_t> fill(out_offsets->begin(), out_offsets->end() - 1);
  const std::size_t rows = offsets.size() - 1;
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::uint64_t e = offsets[r]; e < offsets[r + 1]; ++e) {
      const std::uint64_t slot = fill[cols[e]]++;
      (*out_cols)[slot] = static_cast<std::int32_t>(r);
      (*out_vals)[slot] = vals[e];
    }
  }
}

constexpr std::int64_t kBuildBlock = 4096;  // documents analysed per parallel block
constexpr std::int64_t kMaxDocs = std::numeric_limits<std::int32_t>::max();

// ---- Lucene's SmallFloat 1-byte length encoding (intToByte4 / byte4ToInt) ----
// A float-like code with 3 explicit mantissa bits, offset so that lengths below 24 are exact.
int LongToInt4(std::uint64_t v) {
  int bits = 0;
  for (std::uint64_t x = v; x != 0; x >>= 1) ++bits;
  if (bits < 4) return static_cast<int>(v);
  const int shift = bits - 4;
  int code = static_cast<int>((v >> shift) & 0x07);  // drop the implicit leading 1
  return code | ((shift + 1) << 3);
}

std::uint64_t Int4ToLong(int code) {
  const std::uint64_t mantissa = static_cast<std::uint64_t>(code & 0x07);
  const int shift = (code >> 3) - 1;
  return shift < 0 ? mantissa : (mantissa | 0x08) << shift;
}

const int kNumFreeValues = 255 - LongToInt4(std::numeric_limits<std::int32_t>::max());  // 24

std::int64_t LuceneQuantizedLength(std::int64_t length) {
  if (length < kNumFreeValues) return length;
  const int byte = kNumFreeValues + LongToInt4(static_cast<std::uint64_t>(length - kNumFreeValues));
  return kNumFreeValues + static_cast<std::int64_t>(Int4ToLong(byte - kNumFreeValues));
}

absl::Status CheckParams(const Bm25Params& p) {
  if (!std::isfinite(p.k1) || p.k1 < 0) {
    return absl::InvalidArgumentError(absl::StrCat("k1 = ", p.k1, " must be finite and >= 0"));
  }
  if (!std::isfinite(p.b) || p.b < 0 || p.b > 1) {
    return absl::InvalidArgumentError(absl::StrCat("b = ", p.b, " must be in [0, 1]"));
  }
  return absl::OkStatus();
}

absl::Status CheckK(std::int64_t k, int num_threads) {
  if (k < 0) return absl::InvalidArgumentError(absl::StrCat("k = ", k, " is negative"));
  if (num_threads < 0) {
    return absl::InvalidArgumentError(absl::StrCat("num_threads = ", num_threads, " is negative"));
  }
  return absl::OkStatus();
}

}  // namespace

// ---- Builder ----------------------------------------------------------------------------

class Bm25Builder {
 public:
  static absl::StatusOr<std::unique_ptr<Bm25Index>> Build(
      std::vector<std::string> names, std::int64_t n,
      const std::function<std::string(std::int64_t)>& text, const Bm25BuildOptions& options);
};

absl::StatusOr<std::unique_ptr<Bm25Index>> Bm25Builder::Build(
    std::vector<std::string> names, std::int64_t n,
    const std::function<std::string(std::int64_t)>& text, const Bm25BuildOptions& options) {
  DENSEFB_RETURN_IF_ERROR(CheckParams(options.bm25));
  if (options.num_threads < 0) {
    return absl::InvalidArgumentError(absl::StrCat("num_threads = ", options.num_threads, " is negative"));
  }
  if (n > kMaxDocs) {
    return absl::InvalidArgumentError(absl::StrCat(n, " documents exceed the limit of ", kMaxDocs));
  }
  auto index = std::unique_ptr<Bm25Index>(new Bm25Index());
  index->analyzer_ = EnglishAnalyzer(options.analyzer);
  index->params_ = options.bm25;
  index->doc_names_ = std::move(names);
  index->doc_lengths_.assign(static_cast<std::size_t>(n), 0);
  index->fwd_offsets_.assign(static_cast<std::size_t>(n) + 1, 0);

  const int threads = ResolveThreads(options.num_threads);
  // Per block: each document's distinct terms with counts, sorted by term (parallel); then
  // term ids are assigned in document order, within a document in term order (sequential),
  // so ids and every array are independent of the thread count.
  std::vector<std::vector<std::pair<std::string, std::int32_t>>> block_terms;
  std::vector<std::vector<std::string>> scratch(threads);
  std::vector<std::pair<std::int32_t, std::int32_t>> doc_entries;
  for (std::int64_t start = 0; start < n; start += kBuildBlock) {
    const std::int64_t count = std::min(kBuildBlock, n - start);
    block_terms.assign(static_cast<std::size_t>(count), {});
    ParallelFor(count, threads, [&](std::int64_t i, int worker) {
      std::vector<std::string>& tokens = scratch[worker];
      index->analyzer_.AnalyzeInto(text(start + i), &tokens);
      std::sort(tokens.begin(), tokens.end());
      auto& out = block_terms[i];
      for (std::size_t a = 0; a < tokens.size();) {
        std::size_t b = a + 1;
        while (b < tokens.size() && tokens[b] == tokens[a]) ++b;
        out.emplace_back(std::move(tokens[a]), static_cast<std::int32_t>(b - a));
        a = b;
      }
    });
    for (std::int64_t i = 0; i < count; ++i) {
      const std::int64_t doc = start + i;
      doc_entries.clear();
      std::int64_t length = 0;
      for (auto& [term, tf] : block_terms[i]) {
        auto [it, inserted] = index->term_ids_.try_emplace(term, static_cast<std::int32_t>(index->terms_.size()));
        if (inserted) {
          if (index->terms_.size() >= static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max())) {
            return absl::ResourceExhaustedError("more than 2^31 - 1 distinct terms");
          }
          index->terms_.push_back(std::move(term));
        }
        doc_entries.emplace_back(it->second, tf);
        length += tf;
      }
      if (length > std::numeric_limits<std::int32_t>::max()) {
        return absl::InvalidArgumentError(absl::StrCat("document ", doc, " has more than 2^31 - 1 terms"));
      }
      std::sort(doc_entries.begin(), doc_entries.end());
      for (const auto& [term_id, tf] : doc_entries) {
        index->fwd_terms_.push_back(term_id);
        index->fwd_freqs_.push_back(tf);
      }
      index->doc_lengths_[doc] = static_cast<std::int32_t>(length);
      index->fwd_offsets_[doc + 1] = index->fwd_terms_.size();
    }
  }

  // Invert: postings of each term, documents ascending.
  TransposeCsr(index->fwd_offsets_, index->fwd_terms_, index->fwd_freqs_, index->terms_.size(),
               &index->post_offsets_, &index->post_docs_, &index->post_freqs_);
  DENSEFB_RETURN_IF_ERROR(index->Finish());
  return index;
}

absl::StatusOr<std::unique_ptr<Bm25Index>> Bm25Index::Build(const Corpus& corpus,
                                                             const Bm25BuildOptions& options) {
  std::vector<std::string> names;
  names.reserve(corpus.size());
  for (const Document& d : corpus.documents()) names.push_back(d.id);
  return Bm25Builder::Build(std::move(names), static_cast<std::int64_t>(corpus.size()),
                            [&](std::int64_t i) { return corpus.FullText(static_cast<std::size_t>(i)); },
                            options);
}

absl::StatusOr<std::unique_ptr<Bm25Index>> Bm25Index::Build(absl::Span<const std::string> names,
                                                             absl::Span<const std::string> texts,
                                                             const Bm25BuildOptions& options) {
  if (!names.empty() && names.size() != texts.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("got ", names.size(), " document names for ", texts.size(), " texts"));
  }
  std::vector<std::string> owned;
  owned.reserve(texts.size());
  if (names.empty()) {
    for (std::size_t i = 0; i < texts.size(); ++i) owned.push_back(std::to_string(i));
  } else {
    // Names become run document ids: a repeated one would make a ranking list it twice.
    absl::flat_hash_map<absl::string_view, std::size_t> first;
    first.reserve(names.size());
    for (std::size_t i = 0; i < names.size(); ++i) {
      const auto [it, inserted] = first.emplace(names[i], i);
      if (!inserted) {
        return absl::AlreadyExistsError(absl::StrCat("document name \"", names[i], "\" is given twice (",
                                                     "documents ", it->second, " and ", i, ")"));
      }
    }
    owned.assign(names.begin(), names.end());
  }
  return Bm25Builder::Build(std::move(owned), static_cast<std::int64_t>(texts.size()),
                            [&](std::int64_t i) { return texts[static_cast<std::size_t>(i)]; },
                            options);
}

Bm25Index::~Bm25Index() = default;

absl::Status Bm25Index::Finish() {
  DENSEFB_RETURN_IF_ERROR(CheckParams(params_));
  doc_count_ = 0;
  total_terms_ = 0;
  for (std::int32_t len : doc_lengths_) {
    if (len > 0) ++doc_count_;
    total_terms_ += len;
  }
  deleted_.assign(doc_lengths_.size(), 0);
  num_deleted_ = 0;
  live_docs_ = static_cast<std::int64_t>(doc_lengths_.size());
  dirty_ = false;
  term_ids_.reserve(terms_.size());
  if (term_ids_.size() != terms_.size()) {
    term_ids_.clear();
    for (std::size_t t = 0; t < terms_.size(); ++t) term_ids_.emplace(terms_[t], static_cast<std::int32_t>(t));
  }
  ComputeScoringTables();
  return absl::OkStatus();
}

double Bm25Index::avgdl() const {
  const std::int64_t count = coll_set_ ? coll_doc_count_ : doc_count_;
  const std::int64_t total = coll_set_ ? coll_total_terms_ : total_terms_;
  return count > 0 ? static_cast<double>(total) / static_cast<double>(count) : 0.0;
}

// Scoring statistics are the collection's when set (SetCollectionStats), else this index's; the
// arithmetic is the same either way, so a shard's tables equal a single index's.
void Bm25Index::ComputeScoringTables() {
  const double avg = avgdl();
  const double k1 = params_.k1, b = params_.b;
  norms_.resize(doc_lengths_.size());
  for (std::size_t d = 0; d < doc_lengths_.size(); ++d) {
    const std::int64_t len = params_.lucene_norms ? LuceneQuantizedLength(doc_lengths_[d]) : doc_lengths_[d];
    const double rel = avg > 0 ? static_cast<double>(len) / avg : 0.0;
    norms_[d] = static_cast<float>(k1 * (1.0 - b + b * rel));
  }
  idf_.resize(terms_.size());
  const double n = static_cast<double>(coll_set_ ? coll_doc_count_ : doc_count_);
  for (std::size_t t = 0; t < terms_.size(); ++t) {
    const double df = static_cast<double>(CollectionDocFreq(static_cast<std::int32_t>(t)));
    idf_[t] = static_cast<float>(std::log(1.0 + (n - df + 0.5) / (df + 0.5)));
  }
  // Each posting's tf / (tf + norm), the float ScoreDoc computes from the forward index; each
  // contribution w * idf * part is then at most w * idf * max_part (rounding is monotonic).
  // Each block of kPruningBlock postings gets the max of its parts the same way.
  post_parts_.resize(post_docs_.size());
  max_part_.assign(terms_.size(), 0.0f);
  block_offsets_.assign(terms_.size() + 1, 0);
  block_max_.clear();
  for (std::size_t t = 0; t < terms_.size() && t + 1 < post_offsets_.size(); ++t) {
    float best = 0.0f;
    for (std::uint64_t e = post_offsets_[t]; e < post_offsets_[t + 1]; ++e) {
      const float tf = static_cast<float>(post_freqs_[e]);
      post_parts_[e] = tf / (tf + norms_[post_docs_[e]]);
      if ((e - post_offsets_[t]) % kPruningBlock == 0) block_max_.push_back(0.0f);
      block_max_.back() = std::max(block_max_.back(), post_parts_[e]);
      best = std::max(best, post_parts_[e]);
    }
    max_part_[t] = best;
    block_offsets_[t + 1] = block_max_.size();
  }
  for (std::size_t t = post_offsets_.empty() ? 0 : post_offsets_.size() - 1; t < terms_.size(); ++t) {
    block_offsets_[t + 1] = block_max_.size();  // terms without postings yet: no blocks
  }
}

absl::Status Bm25Index::SetParams(const Bm25Params& params) {
  DENSEFB_RETURN_IF_ERROR(CheckParams(params));
  WriterLock lock(turnstile_, mutex_);
  params_ = params;
  ComputeScoringTables();
  return absl::OkStatus();
}

// ---- collection statistics ------------------------------------------------------------------

namespace {

// a + b for a, b >= 0; false if the sum exceeds int64.
bool AddCounts(std::int64_t a, std::int64_t b, std::int64_t* sum) {
  if (a > std::numeric_limits<std::int64_t>::max() - b) return false;
  *sum = a + b;
  return true;
}

absl::Status CheckCount(absl::string_view where, absl::string_view field, std::int64_t value) {
  if (value < 0) return absl::InvalidArgumentError(absl::StrCat(where, field, " = ", value, " is negative"));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Bm25CollectionStats> Bm25CollectionStats::Merge(absl::Span<const Bm25CollectionStats> shards) {
  Bm25CollectionStats out;
  for (std::size_t i = 0; i < shards.size(); ++i) {
    const Bm25CollectionStats& s = shards[i];
    const std::string where = absl::StrCat("collection statistics of shard ", i, ": ");
    const std::pair<const char*, std::pair<std::int64_t, std::int64_t*>> fields[] = {
        {"num_docs", {s.num_docs, &out.num_docs}},
        {"doc_count", {s.doc_count, &out.doc_count}},
        {"total_terms", {s.total_terms, &out.total_terms}}};
    for (const auto& [name, value] : fields) {
      DENSEFB_RETURN_IF_ERROR(CheckCount(where, name, value.first));
      if (!AddCounts(*value.second, value.first, value.second)) {
        return absl::InvalidArgumentError(absl::StrCat(where, name, ": the sum exceeds 2^63 - 1"));
      }
    }
    if (out.doc_freqs.empty()) out.doc_freqs.reserve(s.doc_freqs.size());
    for (const auto& [term, df] : s.doc_freqs) {
      if (df < 0) {
        return absl::InvalidArgumentError(absl::StrCat(where, "doc_freq of term \"", term, "\" = ", df, " is negative"));
      }
      std::int64_t& sum = out.doc_freqs[term];
      if (!AddCounts(sum, df, &sum)) {
        return absl::InvalidArgumentError(absl::StrCat(where, "doc_freq of term \"", term, "\": the sum exceeds 2^63 - 1"));
      }
    }
  }
  return out;
}

Bm25CollectionStats Bm25Index::LocalStats() const {
  ReaderLock lock(turnstile_, mutex_);
  Bm25CollectionStats s;
  s.num_docs = num_docs();
  s.doc_count = doc_count_;
  s.total_terms = total_terms_;
  s.doc_freqs.reserve(terms_.size());
  // Terms left only in deleted or updated documents are in no document: a fresh build over the
  // live documents would not know them.
  for (std::size_t t = 0; t < terms_.size(); ++t) {
    const std::int64_t df = DocFreq(static_cast<std::int32_t>(t));
    if (df > 0) s.doc_freqs.emplace(terms_[t], df);
  }
  return s;
}

absl::Status Bm25Index::SetCollectionStats(const Bm25CollectionStats& stats) {
  WriterLock lock(turnstile_, mutex_);
  constexpr absl::string_view where = "collection statistics: ";
  const std::pair<const char*, std::pair<std::int64_t, std::int64_t>> fields[] = {
      {"num_docs", {stats.num_docs, num_docs()}},
      {"doc_count", {stats.doc_count, doc_count_}},
      {"total_terms", {stats.total_terms, total_terms_}}};
  for (const auto& [name, value] : fields) {
    DENSEFB_RETURN_IF_ERROR(CheckCount(where, name, value.first));
    if (value.first < value.second) {
      return absl::InvalidArgumentError(absl::StrCat(where, name, " = ", value.first,
                                                     " is smaller than this index's own (", value.second, ")"));
    }
  }
  if (stats.doc_count > stats.num_docs || stats.doc_count > stats.total_terms) {
    return absl::InvalidArgumentError(absl::StrCat(where, "doc_count = ", stats.doc_count, " exceeds num_docs = ",
                                                   stats.num_docs, " or total_terms = ", stats.total_terms));
  }
  for (const auto& [term, df] : stats.doc_freqs) {
    if (df < 0) {
      return absl::InvalidArgumentError(absl::StrCat(where, "doc_freq of term \"", term, "\" = ", df, " is negative"));
    }
  }
  std::vector<std::int64_t> df(terms_.size());
  for (std::size_t t = 0; t < terms_.size(); ++t) {
    const std::int64_t local = DocFreq(static_cast<std::int32_t>(t));
    const auto it = stats.doc_freqs.find(terms_[t]);
    if (it == stats.doc_freqs.end() && local == 0) {
      df[t] = 0;  // only in deleted documents here: LocalStats leaves it out
      continue;
    }
    if (it == stats.doc_freqs.end()) {
      return absl::InvalidArgumentError(absl::StrCat(where, "term \"", terms_[t], "\" of this index (in ", local,
                                                     " of its documents) is missing"));
    }
    if (it->second < local || it->second > stats.doc_count) {
      return absl::InvalidArgumentError(absl::StrCat(where, "doc_freq of term \"", terms_[t], "\" = ", it->second,
                                                     it->second < local ? " is smaller than this index's own (" : " exceeds doc_count (",
                                                     it->second < local ? local : stats.doc_count, ")"));
    }
    df[t] = it->second;
  }
  coll_set_ = true;
  coll_num_docs_ = stats.num_docs;
  coll_doc_count_ = stats.doc_count;
  coll_total_terms_ = stats.total_terms;
  coll_df_ = std::move(df);
  ComputeScoringTables();
  return absl::OkStatus();
}

void Bm25Index::ClearCollectionStats() {
  WriterLock lock(turnstile_, mutex_);
  ClearCollectionStatsLocked();
}

void Bm25Index::ClearCollectionStatsLocked() {
  coll_set_ = false;
  coll_num_docs_ = coll_doc_count_ = coll_total_terms_ = 0;
  coll_df_.clear();
  ComputeScoringTables();
}

std::int32_t Bm25Index::TermId(absl::string_view term) const {
  auto it = term_ids_.find(term);
  return it == term_ids_.end() ? -1 : it->second;
}

absl::Span<const std::int32_t> Bm25Index::PostingDocs(std::int32_t t) const {
  return {post_docs_.data() + post_offsets_[t], static_cast<std::size_t>(post_offsets_[t + 1] - post_offsets_[t])};
}
absl::Span<const std::int32_t> Bm25Index::PostingFreqs(std::int32_t t) const {
  return {post_freqs_.data() + post_offsets_[t], static_cast<std::size_t>(post_offsets_[t + 1] - post_offsets_[t])};
}
absl::Span<const std::int32_t> Bm25Index::DocTerms(std::int64_t d) const {
  return {fwd_terms_.data() + fwd_offsets_[d], static_cast<std::size_t>(fwd_offsets_[d + 1] - fwd_offsets_[d])};
}
absl::Span<const std::int32_t> Bm25Index::DocFreqs(std::int64_t d) const {
  return {fwd_freqs_.data() + fwd_offsets_[d], static_cast<std::size_t>(fwd_offsets_[d + 1] - fwd_offsets_[d])};
}

// ---- Save / Load ----------------------------------------------------------------------------

absl::Status Bm25Index::Save(const std::string& path) const {
  ReaderLock lock(turnstile_, mutex_);
  // After deletions or updates the file gets the compacted index: the format has no tombstones,
  // and the file is then byte for byte that of a fresh build over the live documents.
  if (dirty_ || num_deleted_ > 0) return CompactedCopyLocked(nullptr)->SaveLocked(path);
  return SaveLocked(path);
}

absl::Status Bm25Index::SaveLocked(const std::string& path) const {
  DENSEFB_ASSIGN_OR_RETURN(auto w, AtomicFileWriter::Open(path, "BM25", kFormatVersion));
  DENSEFB_RETURN_IF_ERROR(w->WritePod<std::uint32_t>(analyzer_.options().stopwords ? 1 : 0));
  DENSEFB_RETURN_IF_ERROR(w->WritePod<std::uint32_t>(static_cast<std::uint32_t>(analyzer_.options().stemmer)));
  DENSEFB_RETURN_IF_ERROR(w->WritePod<float>(params_.k1));
  DENSEFB_RETURN_IF_ERROR(w->WritePod<float>(params_.b));
  DENSEFB_RETURN_IF_ERROR(w->WritePod<std::uint32_t>(params_.lucene_norms ? 1 : 0));
  DENSEFB_RETURN_IF_ERROR(w->WritePod<std::uint64_t>(doc_lengths_.size()));
  for (const std::string& name : doc_names_) DENSEFB_RETURN_IF_ERROR(w->WriteString(name));
  DENSEFB_RETURN_IF_ERROR(w->Write(doc_lengths_.data(), doc_lengths_.size() * sizeof(std::int32_t)));
  DENSEFB_RETURN_IF_ERROR(w->WritePod<std::uint64_t>(terms_.size()));
  for (const std::string& term : terms_) DENSEFB_RETURN_IF_ERROR(w->WriteString(term));
  DENSEFB_RETURN_IF_ERROR(w->Write(post_offsets_.data(), post_offsets_.size() * sizeof(std::uint64_t)));
  DENSEFB_RETURN_IF_ERROR(w->WritePod<std::uint64_t>(post_docs_.size()));
  DENSEFB_RETURN_IF_ERROR(w->Write(post_docs_.data(), post_docs_.size() * sizeof(std::int32_t)));
  DENSEFB_RETURN_IF_ERROR(w->Write(post_freqs_.data(), post_freqs_.size() * sizeof(std::int32_t)));
  return w->Commit();
}

absl::StatusOr<std::unique_ptr<Bm25Index>> Bm25Index::Load(const std::string& path) {
  DENSEFB_ASSIGN_OR_RETURN(auto r, FileReader::Open(path, "BM25", kFormatVersion));
  std::uint32_t stopwords = 0, stemmer = 0, lucene_norms = 0;
  Bm25Params params;
  DENSEFB_RETURN_IF_ERROR(r->ReadPod(&stopwords, "stop-word flag"));
  DENSEFB_RETURN_IF_ERROR(r->ReadPod(&stemmer, "stemmer"));
  DENSEFB_RETURN_IF_ERROR(r->ReadPod(&params.k1, "k1"));
  DENSEFB_RETURN_IF_ERROR(r->ReadPod(&params.b, "b"));
  DENSEFB_RETURN_IF_ERROR(r->ReadPod(&lucene_norms, "norm flag"));
  if (stopwords > 1) return r->Corrupt(absl::StrCat("invalid stop-word flag ", stopwords));
  if (stemmer > static_cast<std::uint32_t>(Stemmer::kPorter)) return r->Corrupt(absl::StrCat("invalid stemmer code ", stemmer));
  if (lucene_norms > 1) return r->Corrupt(absl::StrCat("invalid norm flag ", lucene_norms));
  params.lucene_norms = lucene_norms == 1;
  if (absl::Status s = CheckParams(params); !s.ok()) return r->Corrupt(s.message());

  auto index = std::unique_ptr<Bm25Index>(new Bm25Index());
  index->analyzer_ = EnglishAnalyzer({stopwords == 1, static_cast<Stemmer>(stemmer)});
  index->params_ = params;

  std::uint64_t n = 0;
  // Each document costs at least a name length (8 bytes) and a length (4 bytes).
  DENSEFB_RETURN_IF_ERROR(r->ReadCount(&n, sizeof(std::uint64_t) + sizeof(std::int32_t), "document count"));
  if (n > static_cast<std::uint64_t>(kMaxDocs)) return r->Corrupt(absl::StrCat("document count ", n, " too large"));
  index->doc_names_.resize(n);
  for (std::uint64_t d = 0; d < n; ++d) DENSEFB_RETURN_IF_ERROR(r->ReadString(&index->doc_names_[d], "document name"));
  index->doc_lengths_.resize(n);
  DENSEFB_RETURN_IF_ERROR(r->Read(index->doc_lengths_.data(), n * sizeof(std::int32_t), "document lengths"));
  for (std::uint64_t d = 0; d < n; ++d) {
    if (index->doc_lengths_[d] < 0) return r->Corrupt(absl::StrCat("negative length of document ", d));
  }

  std::uint64_t v = 0;
  // Each term costs a string length (8 bytes) and a postings offset (8 bytes).
  DENSEFB_RETURN_IF_ERROR(r->ReadCount(&v, 2 * sizeof(std::uint64_t), "term count"));
  if (v >= static_cast<std::uint64_t>(std::numeric_limits<std::int32_t>::max())) {
    return r->Corrupt(absl::StrCat("term count ", v, " too large"));
  }
  index->terms_.resize(v);
  index->term_ids_.reserve(v);
  for (std::uint64_t t = 0; t < v; ++t) {
    DENSEFB_RETURN_IF_ERROR(r->ReadString(&index->terms_[t], "term"));
    if (index->terms_[t].empty()) return r->Corrupt(absl::StrCat("term ", t, " is empty"));
    if (!index->term_ids_.emplace(index->terms_[t], static_cast<std::int32_t>(t)).second) {
      return r->Corrupt(absl::StrCat("term \"", index->terms_[t], "\" is stored twice"));
    }
  }
  index->post_offsets_.resize(v + 1);
  DENSEFB_RETURN_IF_ERROR(r->Read(index->post_offsets_.data(), (v + 1) * sizeof(std::uint64_t), "postings offsets"));
  if (index->post_offsets_[0] != 0) return r->Corrupt("postings offsets do not start at 0");
  for (std::uint64_t t = 0; t < v; ++t) {
    if (index->post_offsets_[t + 1] <= index->post_offsets_[t]) {
      return r->Corrupt(absl::StrCat("postings of term ", t, " are empty or out of order"));
    }
  }
  std::uint64_t p = 0;
  DENSEFB_RETURN_IF_ERROR(r->ReadCount(&p, 2 * sizeof(std::int32_t), "postings count"));
  if (p != index->post_offsets_[v]) {
    return r->Corrupt(absl::StrCat("postings count ", p, " does not match the offsets (", index->post_offsets_[v], ")"));
  }
  index->post_docs_.resize(p);
  index->post_freqs_.resize(p);
  DENSEFB_RETURN_IF_ERROR(r->Read(index->post_docs_.data(), p * sizeof(std::int32_t), "postings documents"));
  DENSEFB_RETURN_IF_ERROR(r->Read(index->post_freqs_.data(), p * sizeof(std::int32_t), "postings frequencies"));
  DENSEFB_RETURN_IF_ERROR(r->ExpectEnd());

  // Postings: documents in range and strictly increasing per term, frequencies >= 1, and the
  // frequencies of each document add up to its length. Then the forward index is rebuilt.
  std::vector<std::int64_t> sums(n, 0);
  for (std::uint64_t t = 0; t < v; ++t) {
    std::int64_t prev = -1;
    for (std::uint64_t e = index->post_offsets_[t]; e < index->post_offsets_[t + 1]; ++e) {
      const std::int64_t d = index->post_docs_[e];
      if (d <= prev || d >= static_cast<std::int64_t>(n)) {
        return r->Corrupt(absl::StrCat("postings of term \"", index->terms_[t], "\": document id ", d,
                                       d <= prev ? " not increasing" : " out of range"));
      }
      if (index->post_freqs_[e] < 1) {
        return r->Corrupt(absl::StrCat("postings of term \"", index->terms_[t], "\": frequency ",
                                       index->post_freqs_[e], " < 1"));
      }
      sums[d] += index->post_freqs_[e];
      prev = d;
    }
  }
  for (std::uint64_t d = 0; d < n; ++d) {
    if (sums[d] != index->doc_lengths_[d]) {
      return r->Corrupt(absl::StrCat("document ", d, " has length ", index->doc_lengths_[d],
                                     " but its postings add up to ", sums[d]));
    }
  }
  TransposeCsr(index->post_offsets_, index->post_docs_, index->post_freqs_, n, &index->fwd_offsets_,
               &index->fwd_terms_, &index->fwd_freqs_);
  DENSEFB_RETURN_IF_ERROR(index->Finish());
  return index;
}

// ---- query evaluation ------------------------------------------------------------------------

sparse::TermWeights Bm25Searcher::Resolve(const Bm25Index& index, const WeightedQuery& query) {
  sparse::TermWeights out;
  for (const auto& [term, weight] : query) {
    const std::int32_t t = index.TermId(term);
    if (t < 0 || weight == 0) continue;
    auto it = std::find_if(out.begin(), out.end(), [t = t](const auto& e) { return e.first == t; });
    if (it == out.end()) {
      out.emplace_back(t, weight);
    } else {
      it->second += weight;
    }
  }
  return out;
}

void Bm25Searcher::AnalyzeQuery(const Bm25Index& index, absl::string_view text,
                                std::vector<std::string>* scratch, WeightedQuery* out) {
  out->clear();
  index.analyzer_.AnalyzeInto(text, scratch);
  for (std::string& term : *scratch) {
    auto it = std::find_if(out->begin(), out->end(), [&](const auto& e) { return e.first == term; });
    if (it == out->end()) {
      out->emplace_back(std::move(term), 1.0f);
    } else {
      it->second += 1.0f;
    }
  }
}

namespace {
// The best k of `out`, sorted.
void SortTop(std::int64_t k, Ranking* out) {
  if (static_cast<std::int64_t>(out->size()) > k) {
    std::nth_element(out->begin(), out->begin() + k, out->end(), RanksBefore);
    out->resize(static_cast<std::size_t>(k));
  }
  std::sort(out->begin(), out->end(), RanksBefore);
}
}  // namespace

namespace {

// MaxScore, document at a time (Bm25Index::set_dynamic_pruning). Query terms are sorted by their
// bound; the first ones, whose bounds sum below the k-th score so far (theta), are
// "non-essential": a document holding only them cannot enter the top k, so candidates come from
// the essential terms' postings alone, and the non-essential ones are only probed (binary
// search) for a candidate whose bound is still above theta. A candidate's score is then summed
// in the query's term order with the exhaustive loop's float expression: identical scores,
// identical rankings. Bounds are compared with a relative slack of 1e-5 (a float sum of m terms
// can exceed the exact sum of its parts by about m * 2^-24 of it).
constexpr double kBoundSlack = 1.0 + 1e-5;

// Offers `entry` to the top k held in `heap` (a heap whose front ranks last by RanksBefore);
// true if it was kept.
bool OfferTop(std::int64_t k, const ScoredDoc& entry, Ranking* heap) {
  if (static_cast<std::int64_t>(heap->size()) < k) {
    heap->push_back(entry);
    std::push_heap(heap->begin(), heap->end(), RanksBefore);
    return true;
  }
  if (!RanksBefore(entry, heap->front())) return false;
  std::pop_heap(heap->begin(), heap->end(), RanksBefore);
  heap->back() = entry;
  std::push_heap(heap->begin(), heap->end(), RanksBefore);
  return true;
}

struct PruningCursor {
  const std::int32_t* docs;
  const float* parts;
  std::size_t size;
  std::size_t pos;
  float weight;  // w * idf, as the exhaustive loop computes it
  double bound;  // weight * max_part
  int order;     // position in the query
  const float* block_max;  // the term's blocks of kPruningBlock postings
  std::size_t block = 0;   // the block BlockBound last looked at

  std::size_t BlockEnd() const { return std::min((block + 1) * Bm25Index::kPruningBlock, size); }
  // weight * the max part of the block where `d` is or would be (0 past the last posting).
  // Moves forward only: `d` never decreases.
  double BlockBound(std::int32_t d) {
    while (block * Bm25Index::kPruningBlock < size && docs[BlockEnd() - 1] < d) ++block;
    return block * Bm25Index::kPruningBlock < size ? static_cast<double>(weight) * block_max[block] : 0.0;
  }
};

}  // namespace

bool Bm25Searcher::TopKMaxScore(const Bm25Index& index, const sparse::TermWeights& query, std::int64_t k,
                                Ranking* out) {
  std::vector<PruningCursor> cursors;
  cursors.reserve(query.size());
  for (const auto& [t, w] : query) {
    if (!(w > 0.0f)) return false;  // bounds assume positive weights
    const float weight = w * index.idf_[t];
    const auto docs = index.PostingDocs(t);
    cursors.push_back({docs.data(), index.post_parts_.data() + index.post_offsets_[t], docs.size(), 0,
                       weight, static_cast<double>(weight) * index.max_part_[t],
                       static_cast<int>(cursors.size()), index.block_max_.data() + index.block_offsets_[t]});
  }
  const int m = static_cast<int>(cursors.size());
  std::sort(cursors.begin(), cursors.end(),
            [](const PruningCursor& a, const PruningCursor& b) { return a.bound < b.bound || (a.bound == b.bound && a.order < b.order); });
  std::vector<double> prefix(m);  // prefix[i]: sum of the bounds of cursors 0..i
  for (int i = 0; i < m; ++i) prefix[i] = (i > 0 ? prefix[i - 1] : 0.0) + cursors[i].bound;
  std::vector<int> by_order(m);  // by_order[o]: the cursor of the query's o-th term
  for (int i = 0; i < m; ++i) by_order[cursors[i].order] = i;
  constexpr std::int32_t kEnd = std::numeric_limits<std::int32_t>::max();
  std::vector<std::int32_t> cur(m);        // each cursor's current document (kEnd: exhausted)
  std::vector<std::int32_t> holds(m, -1);  // holds[i] == d: cursor i has d, with part[i]
  std::vector<float> part(m);
  std::vector<double> block_bound(m);  // non-essential cursor i's BlockBound(d)
  for (int i = 0; i < m; ++i) cur[i] = cursors[i].size > 0 ? cursors[i].docs[0] : kEnd;
  // The current top k as a heap whose front ranks last (RanksBefore: a before b).
  Ranking& heap = *out;
  heap.reserve(static_cast<std::size_t>(std::min<std::int64_t>(k, 1 << 16)));
  double theta = -std::numeric_limits<double>::infinity();
  int first_essential = 0;
  for (;;) {
    std::int32_t d = kEnd;
    for (int i = first_essential; i < m; ++i) d = std::min(d, cur[i]);
    if (d == kEnd) break;
    double bound = first_essential > 0 ? prefix[first_essential - 1] : 0.0;
    for (int i = first_essential; i < m; ++i) {
      if (cur[i] != d) continue;
      PruningCursor& c = cursors[i];
      part[i] = c.weight * c.parts[c.pos];
      holds[i] = d;
      bound += part[i];
      ++c.pos;
      cur[i] = c.pos < c.size ? c.docs[c.pos] : kEnd;
    }
    bool pruned = bound * kBoundSlack < theta;
    if (!pruned && first_essential > 0) {
      // Block-max: the non-essential terms' bounds in the blocks where d would be, before any
      // of them is searched for d.
      bound -= prefix[first_essential - 1];
      for (int i = 0; i < first_essential; ++i) {
        block_bound[i] = cursors[i].BlockBound(d);
        bound += block_bound[i];
      }
      pruned = bound * kBoundSlack < theta;
    }
    for (int i = first_essential - 1; i >= 0 && !pruned; --i) {
      PruningCursor& c = cursors[i];
      if (cur[i] < d) {
        // d's block holds the first posting >= d, if any (BlockBound moved to it).
        const std::size_t begin = std::max(c.pos, c.block * Bm25Index::kPruningBlock);
        const std::size_t end = c.block * Bm25Index::kPruningBlock < c.size ? c.BlockEnd() : c.size;
        c.pos = static_cast<std::size_t>(std::lower_bound(c.docs + std::min(begin, end), c.docs + end, d) - c.docs);
        cur[i] = c.pos < c.size ? c.docs[c.pos] : kEnd;
      }
      bound -= block_bound[i];
      if (cur[i] == d) {
        part[i] = c.weight * c.parts[c.pos];
        holds[i] = d;
        bound += part[i];
      }
      pruned = bound * kBoundSlack < theta;
    }
    if (pruned) continue;
    // The exhaustive loop's sum: query order, from 0.
    float score = 0.0f;
    for (int i : by_order) {
      if (holds[i] == d) score += part[i];
    }
    if (OfferTop(k, {d, score}, &heap) && static_cast<std::int64_t>(heap.size()) == k) {
      theta = heap.front().score;
      while (first_essential < m && prefix[first_essential] * kBoundSlack < theta) ++first_essential;
    }
  }
  std::sort(heap.begin(), heap.end(), RanksBefore);
  return true;
}

void Bm25Searcher::TopK(const Bm25Index& index, const sparse::TermWeights& query, std::int64_t k,
                        sparse::Workspace* ws, Ranking* out, const Filter* filter, std::int64_t filter_row) {
  out->clear();
  if (k == 0 || query.empty()) return;
  const std::size_t n = index.doc_lengths_.size();
  if (filter == nullptr && index.dynamic_pruning() && k < index.num_docs()) {
    if (TopKMaxScore(index, query, k, out)) return;
    out->clear();
  }
  if (filter != nullptr && filter->Count(filter_row) * Filter::kFewAllowedRatio < static_cast<std::int64_t>(n)) {
    for (std::int64_t d : filter->Ids(filter_row)) {
      if (d >= static_cast<std::int64_t>(n)) break;  // ascending
      bool matched = false;
      const float score = ScoreDoc(index, query, d, &matched);
      if (matched) out->push_back({d, score});
    }
    SortTop(k, out);
    return;
  }
  if (ws->acc.size() != n) {
    ws->acc.assign(n, 0.0f);
    ws->seen.assign(n, 0);
  }
  ws->touched.clear();
  for (const auto& [t, w] : query) {
    const float weight = w * index.idf_[t];
    const auto docs = index.PostingDocs(t);
    const float* parts = index.post_parts_.data() + index.post_offsets_[t];
    for (std::size_t e = 0; e < docs.size(); ++e) {
      const std::int32_t d = docs[e];
      if (!ws->seen[d]) {
        ws->seen[d] = 1;
        ws->touched.push_back(d);
      }
      ws->acc[d] += weight * parts[e];
    }
  }
  // The k best of the touched documents through a bounded heap (most fail one comparison).
  out->reserve(static_cast<std::size_t>(std::min<std::int64_t>(k, static_cast<std::int64_t>(ws->touched.size()))));
  for (std::int32_t d : ws->touched) {
    if (filter == nullptr || filter->Allows(filter_row, d)) OfferTop(k, {d, ws->acc[d]}, out);
    ws->acc[d] = 0.0f;
    ws->seen[d] = 0;
  }
  std::sort(out->begin(), out->end(), RanksBefore);
}

float Bm25Searcher::ScoreDoc(const Bm25Index& index, const sparse::TermWeights& query, std::int64_t doc,
                             bool* matched) {
  const auto terms = index.DocTerms(doc);
  const auto freqs = index.DocFreqs(doc);
  const float norm = index.norms_[doc];
  float score = 0.0f;
  for (const auto& [t, w] : query) {
    auto it = std::lower_bound(terms.begin(), terms.end(), t);
    if (it == terms.end() || *it != t) continue;
    if (matched != nullptr) *matched = true;
    const float tf = static_cast<float>(freqs[it - terms.begin()]);
    score += (w * index.idf_[t]) * (tf / (tf + norm));
  }
  return score;
}

WeightedQuery Bm25Index::AnalyzeQuery(absl::string_view text) const {
  WeightedQuery out;
  std::vector<std::string> scratch;
  Bm25Searcher::AnalyzeQuery(*this, text, &scratch, &out);
  return out;
}

absl::StatusOr<BatchRanking> Bm25Index::Search(absl::Span<const std::string> queries, std::int64_t k,
                                               int num_threads, const Filter* filter) const {
  DENSEFB_RETURN_IF_ERROR(CheckK(k, num_threads));
  ReaderLock lock(turnstile_, mutex_);
  if (filter != nullptr) DENSEFB_RETURN_IF_ERROR(filter->CheckQueries(static_cast<std::int64_t>(queries.size())));
  BatchRanking result;
  result.lists.resize(queries.size());
  if (k == 0) return result;
  const int threads = ResolveThreads(num_threads);
  std::vector<sparse::Workspace> ws(threads);
  ParallelFor(static_cast<std::int64_t>(queries.size()), threads, [&](std::int64_t q, int worker) {
    WeightedQuery wq;
    Bm25Searcher::AnalyzeQuery(*this, queries[q], &ws[worker].terms, &wq);
    Bm25Searcher::TopK(*this, Bm25Searcher::Resolve(*this, wq), k, &ws[worker], &result.lists[q], filter, q);
  });
  return result;
}

namespace {
absl::Status CheckWeights(const WeightedQuery& query, std::size_t row) {
  for (const auto& [term, w] : query) {
    if (!std::isfinite(w)) {
      return absl::InvalidArgumentError(
          absl::StrCat("query ", row, ": weight of term \"", term, "\" is not finite"));
    }
  }
  return absl::OkStatus();
}
}  // namespace

absl::StatusOr<BatchRanking> Bm25Index::SearchWeighted(absl::Span<const WeightedQuery> queries,
                                                       std::int64_t k, int num_threads,
                                                       const Filter* filter) const {
  DENSEFB_RETURN_IF_ERROR(CheckK(k, num_threads));
  if (filter != nullptr) DENSEFB_RETURN_IF_ERROR(filter->CheckQueries(static_cast<std::int64_t>(queries.size())));
  for (std::size_t q = 0; q < queries.size(); ++q) DENSEFB_RETURN_IF_ERROR(CheckWeights(queries[q], q));
  ReaderLock lock(turnstile_, mutex_);
  BatchRanking result;
  result.lists.resize(queries.size());
  if (k == 0) return result;
  const int threads = ResolveThreads(num_threads);
  std::vector<sparse::Workspace> ws(threads);
  ParallelFor(static_cast<std::int64_t>(queries.size()), threads, [&](std::int64_t q, int worker) {
    Bm25Searcher::TopK(*this, Bm25Searcher::Resolve(*this, queries[q]), k, &ws[worker], &result.lists[q], filter, q);
  });
  return result;
}

absl::Status Bm25Index::CheckLiveId(std::int64_t id, absl::string_view what) const {
  if (id < 0 || id >= num_ids()) {
    return absl::OutOfRangeError(absl::StrCat(what, "document id ", id, " is outside [0, ", num_ids(), ")"));
  }
  if (deleted_[static_cast<std::size_t>(id)]) {
    return absl::NotFoundError(absl::StrCat(what, "document id ", id, " (\"", doc_names_[static_cast<std::size_t>(id)],
                                            "\") is deleted"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<float>> Bm25Index::Score(const WeightedQuery& query,
                                                    absl::Span<const std::int64_t> doc_ids) const {
  ReaderLock lock(turnstile_, mutex_);
  return ScoreLocked(query, doc_ids);
}

absl::StatusOr<std::vector<float>> Bm25Index::ScoreLocked(const WeightedQuery& query,
                                                          absl::Span<const std::int64_t> doc_ids) const {
  DENSEFB_RETURN_IF_ERROR(CheckWeights(query, 0));
  for (std::int64_t d : doc_ids) DENSEFB_RETURN_IF_ERROR(CheckLiveId(d, ""));
  const sparse::TermWeights resolved = Bm25Searcher::Resolve(*this, query);
  std::vector<float> out(doc_ids.size());
  for (std::size_t i = 0; i < doc_ids.size(); ++i) out[i] = Bm25Searcher::ScoreDoc(*this, resolved, doc_ids[i]);
  return out;
}

absl::StatusOr<std::vector<float>> Bm25Index::Score(absl::string_view query,
                                                    absl::Span<const std::int64_t> doc_ids) const {
  return Score(AnalyzeQuery(query), doc_ids);
}

absl::StatusOr<BatchRanking> Bm25Index::Rescore(absl::Span<const std::string> queries,
                                                const BatchRanking& candidates, int num_threads) const {
  DENSEFB_RETURN_IF_ERROR(CheckK(0, num_threads));
  if (candidates.size() != queries.size()) {
    return absl::InvalidArgumentError(absl::StrCat("got ", candidates.size(), " candidate lists for ",
                                                   queries.size(), " queries"));
  }
  ReaderLock lock(turnstile_, mutex_);
  for (std::size_t q = 0; q < candidates.size(); ++q) {
    for (const ScoredDoc& d : candidates.lists[q]) {
      DENSEFB_RETURN_IF_ERROR(CheckLiveId(d.id, absl::StrCat("candidate list ", q, ": ")));
    }
  }
  BatchRanking result;
  result.lists.resize(queries.size());
  const int threads = ResolveThreads(num_threads);
  std::vector<std::vector<std::string>> scratch(threads);
  ParallelFor(static_cast<std::int64_t>(queries.size()), threads, [&](std::int64_t q, int worker) {
    WeightedQuery wq;
    Bm25Searcher::AnalyzeQuery(*this, queries[q], &scratch[worker], &wq);
    const sparse::TermWeights resolved = Bm25Searcher::Resolve(*this, wq);
    Ranking& list = result.lists[q];
    for (const ScoredDoc& d : candidates.lists[q]) list.push_back({d.id, Bm25Searcher::ScoreDoc(*this, resolved, d.id)});
    SortRanking(list);
  });
  return result;
}

// ---- Bm25Collection ---------------------------------------------------------------------------

absl::StatusOr<std::vector<WeightedQuery>> Bm25Index::AnalyzeQueries(absl::Span<const std::string> texts) const {
  std::vector<WeightedQuery> out;
  out.reserve(texts.size());
  for (const std::string& t : texts) out.push_back(AnalyzeQuery(t));
  return out;
}

absl::StatusOr<std::vector<std::vector<float>>> Bm25Index::ScoreDocuments(
    absl::Span<const WeightedQuery> queries, absl::Span<const std::vector<std::int64_t>> ids) const {
  if (queries.size() != ids.size()) {
    return absl::InvalidArgumentError(absl::StrCat(queries.size(), " queries but ", ids.size(), " id lists"));
  }
  ReaderLock lock(turnstile_, mutex_);
  std::vector<std::vector<float>> out(queries.size());
  for (std::size_t q = 0; q < queries.size(); ++q) {
    DENSEFB_ASSIGN_OR_RETURN(out[q], ScoreLocked(queries[q], ids[q]));
  }
  return out;
}

absl::StatusOr<std::vector<std::vector<Rm3FeedbackDoc>>> Bm25Index::FeedbackDocuments(const BatchRanking& docs) const {
  ReaderLock lock(turnstile_, mutex_);
  std::vector<std::vector<Rm3FeedbackDoc>> out(docs.size());
  for (std::size_t q = 0; q < docs.size(); ++q) {
    DENSEFB_ASSIGN_OR_RETURN(out[q], TermVectorsLocked(docs.lists[q]));
  }
  return out;
}

absl::StatusOr<std::vector<Rm3FeedbackDoc>> Bm25Index::TermVectors(const Ranking& docs) const {
  ReaderLock lock(turnstile_, mutex_);
  return TermVectorsLocked(docs);
}

absl::StatusOr<std::vector<Rm3FeedbackDoc>> Bm25Index::TermVectorsLocked(const Ranking& docs) const {
  for (const ScoredDoc& d : docs) DENSEFB_RETURN_IF_ERROR(CheckLiveId(d.id, "feedback "));
  std::vector<Rm3FeedbackDoc> out(docs.size());
  for (std::size_t i = 0; i < docs.size(); ++i) {
    const auto terms = DocTerms(docs[i].id);
    const auto freqs = DocFreqs(docs[i].id);
    out[i].score = docs[i].score;
    out[i].terms.reserve(terms.size());
    for (std::size_t e = 0; e < terms.size(); ++e) {
      out[i].terms.push_back({Term(terms[e]), freqs[e], CollectionDocFreq(terms[e])});
    }
  }
  return out;
}

// ---- live updates ------------------------------------------------------------------------------

struct Bm25Index::AnalysedDoc {
  std::vector<std::pair<std::string, std::int32_t>> terms;  // distinct terms sorted, with their tf
  std::int64_t length = 0;
};

namespace {

// Analyses texts in parallel, each as the builder does (distinct terms sorted by term string).
absl::StatusOr<std::vector<std::vector<std::pair<std::string, std::int32_t>>>> AnalyseTexts(
    const EnglishAnalyzer& analyzer, absl::Span<const std::string> texts, int num_threads,
    std::vector<std::int64_t>* lengths) {
  if (num_threads < 0) {
    return absl::InvalidArgumentError(absl::StrCat("num_threads = ", num_threads, " is negative"));
  }
  const int threads = ResolveThreads(num_threads);
  std::vector<std::vector<std::pair<std::string, std::int32_t>>> out(texts.size());
  lengths->assign(texts.size(), 0);
  std::vector<std::vector<std::string>> scratch(threads);
  ParallelFor(static_cast<std::int64_t>(texts.size()), threads, [&](std::int64_t i, int worker) {
    std::vector<std::string>& tokens = scratch[worker];
    analyzer.AnalyzeInto(texts[static_cast<std::size_t>(i)], &tokens);
    std::sort(tokens.begin(), tokens.end());
    auto& terms = out[static_cast<std::size_t>(i)];
    for (std::size_t a = 0; a < tokens.size();) {
      std::size_t b = a + 1;
      while (b < tokens.size() && tokens[b] == tokens[a]) ++b;
      terms.emplace_back(std::move(tokens[a]), static_cast<std::int32_t>(b - a));
      a = b;
    }
    (*lengths)[static_cast<std::size_t>(i)] = static_cast<std::int64_t>(tokens.size());
  });
  for (std::size_t i = 0; i < texts.size(); ++i) {
    if ((*lengths)[i] > std::numeric_limits<std::int32_t>::max()) {
      return absl::InvalidArgumentError(absl::StrCat("text ", i, " has more than 2^31 - 1 terms"));
    }
  }
  return out;
}

}  // namespace

absl::Status Bm25Index::BuildNameMapLocked() {
  if (names_built_) return absl::OkStatus();
  absl::flat_hash_map<std::string, std::int32_t> ids;
  ids.reserve(doc_names_.size() - static_cast<std::size_t>(num_deleted_));
  for (std::size_t d = 0; d < doc_names_.size(); ++d) {
    if (deleted_[d]) continue;
    const auto [it, inserted] = ids.emplace(doc_names_[d], static_cast<std::int32_t>(d));
    if (!inserted) {
      return absl::FailedPreconditionError(absl::StrCat("document name \"", doc_names_[d], "\" is held by documents ",
                                                        it->second, " and ", d,
                                                        ": changes by name need unique names"));
    }
  }
  name_ids_ = std::move(ids);
  names_built_ = true;
  return absl::OkStatus();
}

absl::Status Bm25Index::ApplyLocked(const std::vector<std::int32_t>& remove,
                                    const std::vector<std::pair<std::int32_t, const AnalysedDoc*>>& replace,
                                    std::vector<std::string> add_names, const std::vector<AnalysedDoc>& add_docs) {
  // Everything that can fail is checked first, so that an error changes nothing.
  std::size_t new_entries = 0;
  for (const auto& r : replace) new_entries += r.second->terms.size();
  for (const AnalysedDoc& d : add_docs) new_entries += d.terms.size();
  if (terms_.size() + new_entries >= static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max())) {
    // Only a bound: most entries are known terms. Counted exactly before giving up.
    absl::flat_hash_map<absl::string_view, bool> fresh;
    auto count = [&](const AnalysedDoc& d) {
      for (const auto& e : d.terms) {
        if (term_ids_.find(e.first) == term_ids_.end()) fresh.emplace(e.first, true);
      }
    };
    for (const auto& r : replace) count(*r.second);
    for (const AnalysedDoc& d : add_docs) count(d);
    if (terms_.size() + fresh.size() >= static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max())) {
      return absl::ResourceExhaustedError("more than 2^31 - 1 distinct terms");
    }
  }
  if (static_cast<std::int64_t>(doc_lengths_.size() + add_docs.size()) > kMaxDocs) {
    return absl::InvalidArgumentError(absl::StrCat(doc_lengths_.size(), " + ", add_docs.size(),
                                                   " document ids exceed the limit of ", kMaxDocs));
  }

  // Term ids: new terms are numbered in document order, within a document in term order, as the
  // builder numbers them (so after Adds alone the vocabulary is a fresh build's).
  auto intern = [&](const AnalysedDoc& doc) {
    std::vector<std::pair<std::int32_t, std::int32_t>> row;
    row.reserve(doc.terms.size());
    for (const auto& [term, tf] : doc.terms) {
      auto [it, inserted] = term_ids_.try_emplace(term, static_cast<std::int32_t>(terms_.size()));
      if (inserted) terms_.push_back(term);
      row.emplace_back(it->second, tf);
    }
    std::sort(row.begin(), row.end());
    return row;
  };
  std::vector<std::vector<std::pair<std::int32_t, std::int32_t>>> replaced_rows, added_rows;
  for (const auto& r : replace) replaced_rows.push_back(intern(*r.second));
  for (const AnalysedDoc& d : add_docs) added_rows.push_back(intern(d));

  const std::size_t old_n = doc_lengths_.size();
  for (std::int32_t d : remove) {
    deleted_[d] = 1;
    doc_lengths_[d] = 0;
    ++num_deleted_;
    if (names_built_) name_ids_.erase(doc_names_[d]);
  }
  if (!remove.empty() || !replace.empty()) {
    // The forward index is rebuilt: deleted documents get empty rows, replaced ones their new
    // terms, the others keep theirs.
    std::vector<std::int32_t> slot(old_n, -1);
    for (std::size_t i = 0; i < replace.size(); ++i) {
      slot[replace[i].first] = static_cast<std::int32_t>(i);
      doc_lengths_[replace[i].first] = static_cast<std::int32_t>(replace[i].second->length);
    }
    std::vector<std::uint64_t> offsets(old_n + 1, 0);
    std::vector<std::int32_t> terms, freqs;
    terms.reserve(fwd_terms_.size() + new_entries);
    freqs.reserve(fwd_terms_.size() + new_entries);
    for (std::size_t d = 0; d < old_n; ++d) {
      if (slot[d] >= 0) {
        for (const auto& [t, tf] : replaced_rows[slot[d]]) {
          terms.push_back(t);
          freqs.push_back(tf);
        }
      } else if (!deleted_[d]) {
        terms.insert(terms.end(), fwd_terms_.begin() + fwd_offsets_[d], fwd_terms_.begin() + fwd_offsets_[d + 1]);
        freqs.insert(freqs.end(), fwd_freqs_.begin() + fwd_offsets_[d], fwd_freqs_.begin() + fwd_offsets_[d + 1]);
      }
      offsets[d + 1] = terms.size();
    }
    fwd_offsets_ = std::move(offsets);
    fwd_terms_ = std::move(terms);
    fwd_freqs_ = std::move(freqs);
    // Term numbering and vocabulary may now differ from a fresh build's (terms of deleted or
    // replaced text, new terms numbered late).
    dirty_ = true;
  }
  for (std::size_t i = 0; i < add_docs.size(); ++i) {
    for (const auto& [t, tf] : added_rows[i]) {
      fwd_terms_.push_back(t);
      fwd_freqs_.push_back(tf);
    }
    fwd_offsets_.push_back(fwd_terms_.size());
    doc_lengths_.push_back(static_cast<std::int32_t>(add_docs[i].length));
    deleted_.push_back(0);
    if (names_built_) name_ids_.emplace(add_names[i], static_cast<std::int32_t>(doc_names_.size()));
    doc_names_.push_back(std::move(add_names[i]));
  }

  // Postings from the forward index: documents ascending, deleted ones absent, so every df is
  // the posting length and every search path is a fresh build's.
  TransposeCsr(fwd_offsets_, fwd_terms_, fwd_freqs_, terms_.size(), &post_offsets_, &post_docs_, &post_freqs_);
  live_docs_ = num_ids() - num_deleted_;
  doc_count_ = 0;
  total_terms_ = 0;
  for (std::int32_t len : doc_lengths_) {
    if (len > 0) ++doc_count_;
    total_terms_ += len;
  }
  // The collection changed, so statistics summed over shards are stale: the caller merges the
  // shards' LocalStats again (a shard never scores with figures that no longer describe it).
  ClearCollectionStatsLocked();  // also recomputes idf and the norms
  return absl::OkStatus();
}

absl::Status Bm25Index::Add(absl::Span<const std::string> names, absl::Span<const std::string> texts,
                            int num_threads) {
  if (!names.empty() && names.size() != texts.size()) {
    return absl::InvalidArgumentError(absl::StrCat("got ", names.size(), " document names for ", texts.size(), " texts"));
  }
  // Analysis needs only the analyser (never changed): it runs before the lock, so searches
  // continue meanwhile.
  std::vector<std::int64_t> lengths;
  DENSEFB_ASSIGN_OR_RETURN(auto analysed, AnalyseTexts(analyzer_, texts, num_threads, &lengths));
  std::vector<AnalysedDoc> docs(texts.size());
  for (std::size_t i = 0; i < texts.size(); ++i) docs[i] = {std::move(analysed[i]), lengths[i]};

  WriterLock lock(turnstile_, mutex_);
  DENSEFB_RETURN_IF_ERROR(BuildNameMapLocked());
  std::vector<std::string> owned;
  owned.reserve(texts.size());
  for (std::size_t i = 0; i < texts.size(); ++i) {
    owned.push_back(names.empty() ? std::to_string(doc_lengths_.size() + i) : names[i]);
  }
  absl::flat_hash_map<absl::string_view, std::size_t> batch;
  batch.reserve(owned.size());
  for (std::size_t i = 0; i < owned.size(); ++i) {
    if (const auto it = name_ids_.find(owned[i]); it != name_ids_.end()) {
      return absl::AlreadyExistsError(absl::StrCat("document name \"", owned[i], "\" (text ", i,
                                                   ") is already in the index (document ", it->second, ")"));
    }
    if (const auto [it, inserted] = batch.emplace(owned[i], i); !inserted) {
      return absl::AlreadyExistsError(absl::StrCat("document name \"", owned[i], "\" is given twice (texts ",
                                                   it->second, " and ", i, ")"));
    }
  }
  return ApplyLocked({}, {}, std::move(owned), docs);
}

absl::Status Bm25Index::Delete(absl::Span<const std::string> names) {
  WriterLock lock(turnstile_, mutex_);
  DENSEFB_RETURN_IF_ERROR(BuildNameMapLocked());
  std::vector<std::int32_t> ids;
  ids.reserve(names.size());
  absl::flat_hash_map<absl::string_view, std::size_t> batch;
  for (std::size_t i = 0; i < names.size(); ++i) {
    const auto it = name_ids_.find(names[i]);
    if (it == name_ids_.end()) {
      return absl::NotFoundError(absl::StrCat("cannot delete document \"", names[i], "\": no such document"));
    }
    if (const auto [b, inserted] = batch.emplace(names[i], i); !inserted) {
      return absl::InvalidArgumentError(absl::StrCat("document name \"", names[i], "\" is given twice (names ",
                                                     b->second, " and ", i, ")"));
    }
    ids.push_back(it->second);
  }
  return ApplyLocked(ids, {}, {}, {});
}

absl::Status Bm25Index::DeleteIds(absl::Span<const std::int64_t> ids) {
  // By id: no name map needed (so an index with repeated names can still delete).
  WriterLock lock(turnstile_, mutex_);
  std::vector<std::int32_t> out;
  out.reserve(ids.size());
  absl::flat_hash_map<std::int64_t, std::size_t> batch;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    DENSEFB_RETURN_IF_ERROR(CheckLiveId(ids[i], "cannot delete: "));
    if (const auto [b, inserted] = batch.emplace(ids[i], i); !inserted) {
      return absl::InvalidArgumentError(absl::StrCat("document id ", ids[i], " is given twice (positions ",
                                                     b->second, " and ", i, ")"));
    }
    out.push_back(static_cast<std::int32_t>(ids[i]));
  }
  return ApplyLocked(out, {}, {}, {});
}

absl::Status Bm25Index::Update(absl::Span<const std::string> names, absl::Span<const std::string> texts,
                               int num_threads) {
  if (names.size() != texts.size()) {
    return absl::InvalidArgumentError(absl::StrCat("got ", names.size(), " document names for ", texts.size(), " texts"));
  }
  std::vector<std::int64_t> lengths;
  DENSEFB_ASSIGN_OR_RETURN(auto analysed, AnalyseTexts(analyzer_, texts, num_threads, &lengths));
  std::vector<AnalysedDoc> docs(texts.size());
  for (std::size_t i = 0; i < texts.size(); ++i) docs[i] = {std::move(analysed[i]), lengths[i]};

  WriterLock lock(turnstile_, mutex_);
  DENSEFB_RETURN_IF_ERROR(BuildNameMapLocked());
  std::vector<std::pair<std::int32_t, const AnalysedDoc*>> replace;
  replace.reserve(names.size());
  absl::flat_hash_map<absl::string_view, std::size_t> batch;
  for (std::size_t i = 0; i < names.size(); ++i) {
    const auto it = name_ids_.find(names[i]);
    if (it == name_ids_.end()) {
      return absl::NotFoundError(absl::StrCat("cannot update document \"", names[i], "\": no such document"));
    }
    if (const auto [b, inserted] = batch.emplace(names[i], i); !inserted) {
      return absl::InvalidArgumentError(absl::StrCat("document name \"", names[i], "\" is given twice (names ",
                                                     b->second, " and ", i, ")"));
    }
    replace.emplace_back(it->second, &docs[i]);
  }
  return ApplyLocked({}, replace, {}, {});
}

std::unique_ptr<Bm25Index> Bm25Index::CompactedCopyLocked(std::vector<std::int32_t>* term_map) const {
  auto out = std::unique_ptr<Bm25Index>(new Bm25Index());
  out->analyzer_ = analyzer_;
  out->params_ = params_;
  std::vector<std::int32_t> map(terms_.size(), -1);
  const std::size_t live = doc_lengths_.size() - static_cast<std::size_t>(num_deleted_);
  out->doc_names_.reserve(live);
  out->doc_lengths_.reserve(live);
  out->fwd_offsets_.reserve(live + 1);
  out->fwd_offsets_.push_back(0);
  out->fwd_terms_.reserve(fwd_terms_.size());
  out->fwd_freqs_.reserve(fwd_freqs_.size());
  std::vector<std::pair<std::int32_t, std::int32_t>> row;
  for (std::size_t d = 0; d < doc_lengths_.size(); ++d) {
    if (deleted_[d]) continue;
    // The builder numbers a document's new terms in term-string order.
    row.clear();
    for (std::uint64_t e = fwd_offsets_[d]; e < fwd_offsets_[d + 1]; ++e) row.emplace_back(fwd_terms_[e], fwd_freqs_[e]);
    std::sort(row.begin(), row.end(), [&](const auto& a, const auto& b) { return terms_[a.first] < terms_[b.first]; });
    for (auto& [t, tf] : row) {
      if (map[t] < 0) {
        map[t] = static_cast<std::int32_t>(out->terms_.size());
        out->terms_.push_back(terms_[t]);
      }
      t = map[t];
    }
    std::sort(row.begin(), row.end());
    for (const auto& [t, tf] : row) {
      out->fwd_terms_.push_back(t);
      out->fwd_freqs_.push_back(tf);
    }
    out->fwd_offsets_.push_back(out->fwd_terms_.size());
    out->doc_names_.push_back(doc_names_[d]);
    out->doc_lengths_.push_back(doc_lengths_[d]);
  }
  TransposeCsr(out->fwd_offsets_, out->fwd_terms_, out->fwd_freqs_, out->terms_.size(), &out->post_offsets_,
               &out->post_docs_, &out->post_freqs_);
  // Cannot fail: the parameters were checked when set.
  absl::Status finished = out->Finish();
  (void)finished;
  if (term_map != nullptr) *term_map = std::move(map);
  return out;
}

absl::Status Bm25Index::Compact() {
  WriterLock lock(turnstile_, mutex_);
  if (num_deleted_ == 0 && !dirty_) return absl::OkStatus();
  std::vector<std::int32_t> map;
  std::unique_ptr<Bm25Index> c = CompactedCopyLocked(&map);
  // The live documents are the same, so collection statistics still hold: only the term ids
  // of their document frequencies change.
  if (coll_set_) {
    std::vector<std::int64_t> df(c->terms_.size(), 0);
    for (std::size_t t = 0; t < map.size(); ++t) {
      if (map[t] >= 0) df[map[t]] = coll_df_[t];
    }
    coll_df_ = std::move(df);
  }
  doc_names_ = std::move(c->doc_names_);
  doc_lengths_ = std::move(c->doc_lengths_);
  terms_ = std::move(c->terms_);
  term_ids_ = std::move(c->term_ids_);
  post_offsets_ = std::move(c->post_offsets_);
  post_docs_ = std::move(c->post_docs_);
  post_freqs_ = std::move(c->post_freqs_);
  fwd_offsets_ = std::move(c->fwd_offsets_);
  fwd_terms_ = std::move(c->fwd_terms_);
  fwd_freqs_ = std::move(c->fwd_freqs_);
  deleted_ = std::move(c->deleted_);
  doc_count_ = c->doc_count_;
  total_terms_ = c->total_terms_;
  num_deleted_ = 0;
  live_docs_ = num_ids();
  dirty_ = false;
  names_built_ = false;  // ids changed; rebuilt by the next change
  name_ids_.clear();
  ComputeScoringTables();
  return absl::OkStatus();
}

std::vector<std::string> Bm25Index::DocNames() const {
  ReaderLock lock(turnstile_, mutex_);
  return doc_names_;
}

std::vector<std::uint8_t> Bm25Index::DeletedFlags() const {
  ReaderLock lock(turnstile_, mutex_);
  return deleted_;
}

}  // namespace densefb
