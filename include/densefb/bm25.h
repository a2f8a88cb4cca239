// Sparse retrieval: BM25 over an inverted index, with the English analysis of Lucene's
// EnglishAnalyzer (as Anserini's DefaultEnglishAnalyzer uses it, i.e. what Pyserini's
// prebuilt "flat" BEIR indexes were built with) and RM3 pseudo-relevance feedback as
// Pyserini codes it.
//
// ---- Analysis (EnglishAnalyzer) ---------------------------------------------------------
// The chain, in Lucene's order:
//   1. StandardTokenizer: word boundaries of Unicode UAX #29, the subset that matters for
//      text in Latin and other alphabetic scripts (details below);
//   2. EnglishPossessiveFilter: a trailing "'s" / "’s" / "＇s" (either case of s) is removed;
//   3. LowerCaseFilter: per code point simple lower-casing (utf8proc's, which follows
//      UnicodeData.txt like Java's Character.toLowerCase);
//   4. StopFilter with Lucene's English stop set, 33 words:
//        a an and are as at be but by for if in into is it no not of on or such
//        that the their then there these they this to was will with
//   5. PorterStemFilter: Porter's algorithm in the form of his reference implementation, which
//      is what Lucene ships: the published rules (Porter 1980) with the three departures that
//      implementation makes — step 2 maps -bli to -ble (the paper: -abli to -able) and adds
//      -logi to -log, and words of one or two letters are left alone. Characters other than
//      a e i o u (and y after a consonant) count as consonants, digits included.
// Stop words and stemming can be switched off (AnalyzerOptions).
//
// Tokenisation (UAX #29 word rules as Lucene's grammar applies them):
//   * a token is a maximal run of letters (Unicode L* and Nl; Hangul included) and decimal
//     digits (Nd), where letter-letter, letter-digit and digit-letter pairs join (WB5, WB9,
//     WB10) and underscores / connector punctuation (Pc) join anything (WB13a/b);
//   * letter (":" "." "’" "'" "·" ...) letter stays one token (WB6/7: "don't", "e.g", "U.S");
//     digit ("," ";" "." "’" "'") digit stays one token (WB11/12: "1,000", "3.14");
//     nothing else joins: "covid-19" -> covid, 19; "a.1" -> a, 1; "p<0.05" -> p, 0.05;
//   * combining marks and format characters (Mn, Mc, Me, Cf but U+200B) attach to the
//     character before them (WB4) and stay in the token;
//   * Han ideographs and Hiragana are one token per character; Katakana runs are one token;
//     runs of South-East Asian scripts (Thai, Lao, Myanmar, Khmer, Tai) are one token each, as
//     in Lucene (which does no dictionary segmentation either);
//   * Extended_Pictographic characters (emoji, and also © ® ™ ↔ ...) are tokens of their own
//     (ZWJ sequences joined), as in Lucene 8+; regional-indicator pairs (flags) are one token;
//   * everything else (spaces, punctuation, symbols, No digits such as "²") separates tokens
//     and is dropped. Tokens longer than 255 code points are cut into 255-point pieces.
//   Simplifications (not in English text): Hebrew's special quote rules (WB7a-c) are not
//   applied; the ALetter property is approximated by general categories; supplementary-plane
//   characters count as one code point (Java counts two UTF-16 units). Invalid UTF-8 bytes
//   are read as U+FFFD and separate tokens.
//
// ---- BM25 ---------------------------------------------------------------------------------
// Lucene 8+ BM25Similarity (no (k1 + 1) factor), defaults k1 = 0.9, b = 0.4 (Pyserini's):
//   idf(t)     = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5))
//   score(q,d) = sum over query terms t of  w(t) * idf(t) * tf / (tf + k1 * (1 - b + b * dl / avgdl))
// where N is the number of documents with at least one indexed term (Lucene's docCount),
// df(t) the number of documents containing t, tf its count in d, dl the number of indexed
// tokens of d (after stop-word removal), avgdl = (sum of dl) / N. A query's weight w(t) is
// its number of occurrences in the analysed query: Lucene's bag-of-words query adds one
// SHOULD clause per occurrence (or one clause boosted by the count), which sums to the same.
// RM3 and SearchWeighted use arbitrary positive weights (Lucene's BoostQuery).
// Lucene stores dl lossily (SmallFloat.intToByte4: exact up to 40, then 4 significant bits)
// and scores with the decoded length (avgdl stays exact: sum of the true lengths / N). That
// is the default here too (Bm25Params::lucene_norms = true), so scores are Anserini's and
// Pyserini's; lucene_norms = false uses the exact dl of the formula above instead.
// Index files store the flag (a uint32 after b, in every version-1 file) and Load keeps it:
// a file written before quantised norms became the default stores 0 and still loads with
// exact lengths (SetParams / set_bm25 changes it).
// Scores are float (as in Lucene): idf and the length norm are computed in double and
// rounded, per-term contributions and their sums are float.
//
// ---- Sharded collections (global statistics) ------------------------------------------------
// A collection split into shards, each a Bm25Index over its own documents, scores exactly as one
// index over the whole collection when every shard scores with the collection's statistics
// (Elasticsearch's DFS query-then-fetch): N (doc_count), avgdl (total_terms / doc_count) and
// df(t) enter idf and the length norms; RM3 also reads num_docs and df(t) (its 10% rule). Each
// shard's LocalStats() are added up (Bm25CollectionStats::Merge) and given to every shard with
// SetCollectionStats(); the arithmetic is then the single index's, so scores are bit-identical
// (document lengths, and Lucene's quantisation of them, are per document and need nothing).
// Merging the shards' top-k lists (score descending, ties by the smaller collection-wide
// position) gives the single index's top-k. For RM3 the feedback documents' term vectors come
// from the shards that hold them (Rm3FeedbackDocs) and the expansion is computed once
// (Rm3Expand).
//
// ---- Live updates -----------------------------------------------------------------------------
// Add, Delete / DeleteIds and Update change the collection in place; Compact reclaims the space
// of deleted documents. Every statistic stays exact: N (doc_count), num_docs, total_terms (so
// avgdl) and each term's df are those of the live documents, the postings hold live documents
// only, and idf and the length norms are recomputed, so every score equals that of a fresh Build
// over the live documents in id order (bit for bit: the same arithmetic on the same numbers).
//   * Add appends documents with new ids num_ids(), num_ids() + 1, ...: ids only grow, so the
//     relative order of live documents (ties go to the smaller id) is a fresh build's.
//   * Delete leaves a tombstone: the id stays reserved (num_ids() is unchanged, its name stays in
//     doc_names()), the document is in no posting and no statistic, so no search returns it;
//     Score, Rescore, ScoreDocuments and the term vectors of RM3 refuse it (NotFound). A deleted
//     name may be added again (under a new id).
//   * Update replaces the text of live documents, which keep their ids.
//   * Compact drops the tombstones and renumbers documents densely in their order (ids change,
//     names do not) and terms as a fresh build numbers them: the index is then identical to a
//     fresh Build over the live documents. Save writes that compacted form (the file of a fresh
//     build), so a loaded index has the renumbered ids too.
// Each change costs O(postings) (the postings are rebuilt from the forward index), so apply
// changes in batches; a Save after deletions or updates builds the compacted copy in memory
// first (transiently about twice the index). Errors name the document at fault (NotFound: an
// unknown or deleted name or id; AlreadyExists: a name that is live or repeated in an Add;
// InvalidArgument: lengths that differ, a name repeated in a Delete or Update) and change
// nothing. Changes by name need unique names among the live documents (FailedPrecondition
// otherwise, e.g. an index built from a corpus with repeated ids; DeleteIds still works). A
// change drops the collection statistics (SetCollectionStats): the collection changed, so add
// up every shard's LocalStats again and set them again.
//
// ---- Thread safety ------------------------------------------------------------------------------
// Search, SearchWeighted, Score, Rescore, ScoreDocuments, FeedbackDocuments, TermVectors,
// LocalStats, DocNames and Save may run from many threads at once, and concurrently with Add,
// Delete, Update, Compact, SetParams and the collection-statistics setters: a reader-writer lock
// per index makes each call see the index wholly before or wholly after a change (a search never
// returns a document deleted before it started). The other accessors (doc_names(), DocTerms,
// PostingDocs, DocFreq, Idf, DocLength, the statistics but num_docs()) read without the lock:
// call them when no change runs at the same time, and re-read references after a change. A
// pipeline reads the index in several calls (e.g. RM3: search, feedback term vectors, search), so
// a change between two of them is seen by the later ones only (a feedback document deleted in
// between fails its term vector with NotFound).
//
// ---- RM3 ------------------------------------------------------------------------------------
// See Rm3Options and Rm3ExpandQuery below. The search itself (first pass, expansion, second
// pass) is the pipeline `bm25 >> rm3 >> bm25` (Rm3 in densefb/feedback.h).
#ifndef DENSEFB_BM25_H_
#define DENSEFB_BM25_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "densefb/data.h"
#include "densefb/filter.h"
#include "densefb/ranking.h"
#include "densefb/status.h"

namespace densefb {

// ---- analysis ----

enum class Stemmer : std::uint8_t { kNone = 0, kPorter = 1 };

// "porter" or "none" (also "" and "off"), case-insensitive; InvalidArgument otherwise.
absl::StatusOr<Stemmer> ParseStemmer(absl::string_view name);
absl::string_view StemmerName(Stemmer s);

struct AnalyzerOptions {
  bool stopwords = true;              // drop Lucene's 33 English stop words
  Stemmer stemmer = Stemmer::kPorter;
};

// Lucene's EnglishAnalyzer.ENGLISH_STOP_WORDS_SET, sorted.
const std::vector<std::string>& EnglishStopWords();
bool IsEnglishStopWord(absl::string_view word);

// Porter stem of one lower-case word (UTF-8), as Lucene's PorterStemmer computes it.
std::string PorterStem(absl::string_view word);

class EnglishAnalyzer {
 public:
  explicit EnglishAnalyzer(AnalyzerOptions options = {}) : options_(options) {}
  const AnalyzerOptions& options() const { return options_; }

  // The terms of `text` (UTF-8), in text order, repetitions kept.
  std::vector<std::string> Analyze(absl::string_view text) const;
  // The same into `out` (cleared first), reusing its storage.
  void AnalyzeInto(absl::string_view text, std::vector<std::string>* out) const;

  // Step 1 alone: the StandardTokenizer tokens of `text`, unchanged (original case).
  static std::vector<std::string> Tokenize(absl::string_view text);

 private:
  AnalyzerOptions options_;
};

// ---- index ----

struct Bm25Params {
  float k1 = 0.9f;            // >= 0
  float b = 0.4f;             // in [0, 1]
  // Quantise document lengths as Lucene's 1-byte norms do (Anserini / Pyserini); false =
  // exact lengths. The one place this default is written (bindings and Python read it).
  bool lucene_norms = true;
};

struct Bm25BuildOptions {
  AnalyzerOptions analyzer;
  Bm25Params bm25;
  int num_threads = 0;  // analysis threads; 0 = all cores. The index does not depend on it.
};

// An analysed query: (term, weight) pairs, terms distinct. Terms absent from the index are
// allowed (they score nothing).
using WeightedQuery = std::vector<std::pair<std::string, float>>;

struct Rm3Options {
  int fb_terms = 10;                   // >= 1: terms kept per feedback document and in the model
  int fb_docs = 10;                    // >= 1: feedback documents (top of the first BM25 pass)
  float original_query_weight = 0.5f;  // in [0, 1]
  // Pyserini's filter_terms (default True): a feedback term must be alphanumeric (Unicode
  // letters and digits only, Python's str.isalnum). Length 2..20 code points and
  // df / num_docs <= 0.1 are required either way (Anserini's and Pyserini's rules).
  bool filter_terms = true;
};

// The statistics BM25 and RM3 read from a collection: those of one index (LocalStats), or of a
// whole collection added up from its shards (Merge).
struct Bm25CollectionStats {
  std::int64_t num_docs = 0;     // all documents (Lucene's numDocs; RM3's df / num_docs)
  std::int64_t doc_count = 0;    // documents with >= 1 indexed term (BM25's N, Lucene's docCount)
  std::int64_t total_terms = 0;  // indexed tokens of all documents (avgdl = total_terms / doc_count)
  // df(t): documents containing each term; terms absent are in no document.
  absl::flat_hash_map<std::string, std::int64_t> doc_freqs;

  // The statistics of the union of shards with disjoint documents: every figure summed.
  // InvalidArgument, naming the shard and the field or term, for a negative value or a sum
  // beyond int64.
  static absl::StatusOr<Bm25CollectionStats> Merge(absl::Span<const Bm25CollectionStats> shards);
};

// One feedback document as RM3 reads it: its first-pass score s_d and its term vector, each
// term with its tf in the document and its df in the collection.
struct Rm3FeedbackTerm {
  std::string term;
  std::int64_t tf = 0;  // >= 1
  std::int64_t df = 0;  // in [1, num_docs]
};
struct Rm3FeedbackDoc {
  float score = 0;  // finite
  std::vector<Rm3FeedbackTerm> terms;  // distinct terms, any order
};

// A collection as the bm25, rm3 and llm_terms stages read it: BM25 search, query analysis,
// BM25 scores of given documents and the feedback documents' term vectors, all with the
// collection's statistics. Bm25Index is the in-memory one; the sharded collection of
// densefb.distributed (shards scoring with the statistics of the whole collection) is written
// in Python through the bindings (densefb.Bm25Collection). Documents are 0..num_docs()-1 (for a
// Bm25Index with deleted documents, ids below num_ids()).
class Bm25Collection {
 public:
  virtual ~Bm25Collection() = default;
  virtual std::int64_t num_docs() const = 0;
  // RM3's N (df / N filter): every document of the collection, Lucene's numDocs.
  virtual std::int64_t CollectionNumDocs() const = 0;
  // k1, b and the length norms the collection scores with.
  virtual const Bm25Params& params() const = 0;
  // Each text analysed: (term, weight = occurrences), terms in order of first occurrence.
  virtual absl::StatusOr<std::vector<WeightedQuery>> AnalyzeQueries(absl::Span<const std::string> texts) const = 0;
  // Top-k of each query, best first (score descending, ties by smaller id); only documents
  // containing a query term and, with a filter (densefb/filter.h), allowed for the query.
  virtual absl::StatusOr<BatchRanking> Search(absl::Span<const std::string> queries, std::int64_t k,
                                              int num_threads = 0, const Filter* filter = nullptr) const = 0;
  virtual absl::StatusOr<BatchRanking> SearchWeighted(absl::Span<const WeightedQuery> queries,
                                                      std::int64_t k, int num_threads = 0,
                                                      const Filter* filter = nullptr) const = 0;
  // BM25 scores of documents ids[q] for queries[q], in that order.
  virtual absl::StatusOr<std::vector<std::vector<float>>> ScoreDocuments(
      absl::Span<const WeightedQuery> queries, absl::Span<const std::vector<std::int64_t>> ids) const = 0;
  // The term vectors of the documents of docs.lists[q] (with their scores), in that order.
  virtual absl::StatusOr<std::vector<std::vector<Rm3FeedbackDoc>>> FeedbackDocuments(const BatchRanking& docs) const = 0;
};

class Bm25Index final : public Bm25Collection {
 public:
  static constexpr std::uint32_t kFormatVersion = 1;

  // Indexes corpus.FullText(i) ("title text", as Pyserini's flat BEIR indexes do); document
  // i gets id i and name corpus[i].id.
  static absl::StatusOr<std::unique_ptr<Bm25Index>> Build(const Corpus& corpus,
                                                           const Bm25BuildOptions& options = {});
  // Indexes texts[i] as document i named names[i] (names may be empty: then "0", "1", ...).
  static absl::StatusOr<std::unique_ptr<Bm25Index>> Build(absl::Span<const std::string> names,
                                                           absl::Span<const std::string> texts,
                                                           const Bm25BuildOptions& options = {});
  // Reads a file written by Save(); every structure is validated (term and document ids in
  // range, postings strictly increasing, lengths consistent), errors name the file.
  static absl::StatusOr<std::unique_ptr<Bm25Index>> Load(const std::string& path);
  // Writes the index atomically (container kind "BM25", version 1). Collection statistics are
  // not saved: the file holds this index's own documents, and a loaded index scores with its
  // own statistics until SetCollectionStats is called again. After deletions or updates the file
  // holds the compacted index (see Compact): what a fresh Build over the live documents writes.
  absl::Status Save(const std::string& path) const;

  ~Bm25Index() override;
  Bm25Index(const Bm25Index&) = delete;
  Bm25Index& operator=(const Bm25Index&) = delete;

  // ---- live updates (see "Live updates" above) ----
  // Indexes texts[i] (analysed with this index's analyser) as a new document named names[i],
  // with id num_ids() + i. names may be empty: then the names are the new ids in decimal.
  // AlreadyExists for a name of a live document or one given twice; InvalidArgument when the
  // lengths differ. num_threads: analysis threads, 0 = all cores.
  absl::Status Add(absl::Span<const std::string> names, absl::Span<const std::string> texts,
                   int num_threads = 0);
  // Deletes the live documents named (NotFound for an unknown or deleted name, InvalidArgument
  // for a name given twice).
  absl::Status Delete(absl::Span<const std::string> names);
  // The same by id (OutOfRange outside [0, num_ids()), NotFound for a deleted id).
  absl::Status DeleteIds(absl::Span<const std::int64_t> ids);
  // Replaces the texts of the live documents named; they keep their ids.
  absl::Status Update(absl::Span<const std::string> names, absl::Span<const std::string> texts,
                      int num_threads = 0);
  // Drops deleted documents: ids become 0..num_docs()-1 in the order of the old ids, terms are
  // renumbered as a fresh build numbers them. Collection statistics are kept (they do not change).
  absl::Status Compact();
  // Ids in use, deleted ones included (ids are in [0, num_ids())).
  std::int64_t num_ids() const { return static_cast<std::int64_t>(doc_lengths_.size()); }
  // Deleted documents still holding an id (0 after Compact).
  std::int64_t num_deleted() const { return num_deleted_; }
  bool IsDeleted(std::int64_t id) const {  // id in [0, num_ids())
    return deleted_[static_cast<std::size_t>(id)] != 0;
  }
  // A copy of doc_names() taken under the lock, and of the deletion flags (1 = deleted), by id.
  std::vector<std::string> DocNames() const;
  std::vector<std::uint8_t> DeletedFlags() const;

  // ---- statistics ----
  // This index's own figures (its live documents and postings), whatever the collection
  // statistics. num_docs() counts live documents (ids may be larger: num_ids()).
  // Atomic: stages read it (to cap k) outside the lock while changes may run.
  std::int64_t num_docs() const override { return live_docs_.load(std::memory_order_relaxed); }
  std::int64_t doc_count() const { return doc_count_; }  // documents with >= 1 term (BM25's N)
  std::int64_t num_terms() const { return static_cast<std::int64_t>(terms_.size()); }
  std::int64_t num_postings() const { return static_cast<std::int64_t>(post_docs_.size()); }
  std::int64_t total_terms() const { return total_terms_; }  // sum of document lengths
  // The average document length BM25 scores with: total_terms / doc_count of the collection
  // statistics when set, else of this index.
  double avgdl() const;

  // This index's statistics, to be merged with other shards' (Bm25CollectionStats::Merge).
  Bm25CollectionStats LocalStats() const;
  // Scores from now on with the statistics of a collection this index is a shard of: idf, the
  // length norms (avgdl) and RM3's num_docs and df (CollectionNumDocs, CollectionDocFreq) use
  // them, so Search, SearchWeighted, Score, Rescore and RM3 give the scores of one index over
  // the whole collection. InvalidArgument, naming the field or term, unless they can describe a
  // collection containing this index: every value >= 0 and >= this index's own, doc_count <=
  // num_docs and <= total_terms, every term of this index's live documents present with
  // doc_count >= df >= its local df. Kept by SetParams and Compact; dropped by Add, Delete and
  // Update; not saved (Save). Searches running meanwhile see the old or the new statistics.
  absl::Status SetCollectionStats(const Bm25CollectionStats& stats);
  // Back to this index's own statistics.
  void ClearCollectionStats();
  bool has_collection_stats() const { return coll_set_; }
  // num_docs and DocFreq as scoring sees them: the collection's when set, else this index's.
  std::int64_t CollectionNumDocs() const override { return coll_set_ ? coll_num_docs_ : num_docs(); }
  std::int64_t CollectionDocFreq(std::int32_t term_id) const {
    return coll_set_ ? coll_df_[term_id] : DocFreq(term_id);
  }
  const std::vector<std::string>& doc_names() const { return doc_names_; }
  const EnglishAnalyzer& analyzer() const { return analyzer_; }
  const Bm25Params& params() const override { return params_; }
  // Changes k1 / b / lucene_norms (InvalidArgument if out of range). Searches running meanwhile
  // see the old or the new parameters.
  absl::Status SetParams(const Bm25Params& params);
  // Dynamic pruning of Search / SearchWeighted without a filter (off by default): MaxScore
  // (Turtle and Flood, 1995), document at a time, with each term's bound w * idf * max over
  // its postings of tf / (tf + norm), and block-max bounds (the same max over each block of
  // kPruningBlock postings) that are checked for a candidate before the non-essential terms'
  // postings are searched for it. A document is scored only if the bounds say it can still
  // enter the top k, and then with the exhaustive evaluation's arithmetic in the query's term
  // order, so rankings and scores are identical to exhaustive term-at-a-time scoring (ties by
  // smaller id included). Off by default: the exhaustive evaluation, over precomputed
  // tf / (tf + norm) per posting, was faster at k = 1000 everywhere measured and at k = 10 up
  // to 200k documents; MaxScore was 2.2x faster at k = 10 on 1M documents (benchmarks/
  // bench_bm25.py, docs/benchmarks.md "BM25"). The switch changes speed, never results.
  static constexpr std::uint64_t kPruningBlock = 64;  // postings per block-max bound
  void set_dynamic_pruning(bool on) { dynamic_pruning_.store(on, std::memory_order_relaxed); }
  bool dynamic_pruning() const { return dynamic_pruning_.load(std::memory_order_relaxed); }

  // ---- terms and documents ----
  std::int32_t TermId(absl::string_view term) const;  // -1 if absent
  const std::string& Term(std::int32_t term_id) const { return terms_[term_id]; }
  // Documents of this index containing the term (its postings length).
  std::int64_t DocFreq(std::int32_t term_id) const {
    return static_cast<std::int64_t>(post_offsets_[term_id + 1] - post_offsets_[term_id]);
  }
  // The idf BM25 scores with (from the collection statistics when set).
  float Idf(std::int32_t term_id) const { return idf_[term_id]; }
  std::int32_t DocLength(std::int64_t doc) const { return doc_lengths_[doc]; }
  // Postings of a term: document ids (increasing) and term frequencies.
  absl::Span<const std::int32_t> PostingDocs(std::int32_t term_id) const;
  absl::Span<const std::int32_t> PostingFreqs(std::int32_t term_id) const;
  // Forward index (term vector) of a document: term ids (increasing) and frequencies.
  absl::Span<const std::int32_t> DocTerms(std::int64_t doc) const;
  absl::Span<const std::int32_t> DocFreqs(std::int64_t doc) const;

  // ---- queries ----
  // The analysed query with weight = number of occurrences, terms in order of first occurrence.
  WeightedQuery AnalyzeQuery(absl::string_view text) const;

  // Top-k documents of each query, best first (score descending, ties by smaller id). Only
  // documents that contain a query term are returned (so a list may be shorter than k; a
  // query without indexed terms gets an empty list). k >= 0; num_threads 0 = all cores. With a
  // filter, only allowed documents: the scores are those of the unfiltered search, the list the
  // unfiltered ranking's allowed documents (shorter than k when fewer of them match).
  absl::StatusOr<BatchRanking> Search(absl::Span<const std::string> queries, std::int64_t k,
                                      int num_threads = 0, const Filter* filter = nullptr) const override;
  // The same with weighted queries (weights must be finite; terms repeated are summed).
  absl::StatusOr<BatchRanking> SearchWeighted(absl::Span<const WeightedQuery> queries,
                                              std::int64_t k, int num_threads = 0,
                                              const Filter* filter = nullptr) const override;
  // BM25 scores of the given documents (any order, repeats allowed), in that order; a
  // document without any query term scores 0. OutOfRange for an id outside [0, num_ids()),
  // NotFound for a deleted one.
  absl::StatusOr<std::vector<float>> Score(const WeightedQuery& query,
                                           absl::Span<const std::int64_t> doc_ids) const;
  absl::StatusOr<std::vector<float>> Score(absl::string_view query,
                                           absl::Span<const std::int64_t> doc_ids) const;
  // Re-scores candidate lists (e.g. from dense retrieval) with BM25: list q of the result has
  // the documents of candidates.lists[q] with their BM25 scores for queries[q], sorted best
  // first. For reranking and fusion.
  absl::StatusOr<BatchRanking> Rescore(absl::Span<const std::string> queries,
                                       const BatchRanking& candidates, int num_threads = 0) const;

  // ---- Bm25Collection ----
  absl::StatusOr<std::vector<WeightedQuery>> AnalyzeQueries(absl::Span<const std::string> texts) const override;
  absl::StatusOr<std::vector<std::vector<float>>> ScoreDocuments(
      absl::Span<const WeightedQuery> queries, absl::Span<const std::vector<std::int64_t>> ids) const override;
  absl::StatusOr<std::vector<std::vector<Rm3FeedbackDoc>>> FeedbackDocuments(const BatchRanking& docs) const override;
  // The term vectors of `docs` (Rm3FeedbackDocs).
  absl::StatusOr<std::vector<Rm3FeedbackDoc>> TermVectors(const Ranking& docs) const;

 private:
  friend class Bm25Builder;
  friend class Bm25Searcher;
  Bm25Index() = default;
  absl::Status Finish();  // derives doc_count_, norms, idf; validates k1/b
  void ComputeScoringTables();
  // The unlocked bodies of the public methods of the same names (the lock is not reentrant).
  absl::Status SaveLocked(const std::string& path) const;
  absl::StatusOr<std::vector<float>> ScoreLocked(const WeightedQuery& query,
                                                 absl::Span<const std::int64_t> doc_ids) const;
  absl::StatusOr<std::vector<Rm3FeedbackDoc>> TermVectorsLocked(const Ranking& docs) const;
  absl::Status CheckLiveId(std::int64_t id, absl::string_view what) const;
  void ClearCollectionStatsLocked();
  // Live updates (writer lock held).
  struct AnalysedDoc;
  absl::Status BuildNameMapLocked();
  absl::Status ApplyLocked(const std::vector<std::int32_t>& remove,
                           const std::vector<std::pair<std::int32_t, const AnalysedDoc*>>& replace,
                           std::vector<std::string> add_names, const std::vector<AnalysedDoc>& add_docs);
  // A new index holding the live documents, numbered as a fresh build numbers them; `term_map`
  // (if given) gets the new id of each term (-1: in no live document).
  std::unique_ptr<Bm25Index> CompactedCopyLocked(std::vector<std::int32_t>* term_map) const;

  // Readers (searches, Save) share the lock, changes hold it alone (src/index/rw_lock.h).
  mutable std::mutex turnstile_;
  mutable std::shared_mutex mutex_;

  EnglishAnalyzer analyzer_;
  Bm25Params params_;
  std::vector<std::string> doc_names_;
  std::vector<std::int32_t> doc_lengths_;
  std::vector<std::string> terms_;
  absl::flat_hash_map<std::string, std::int32_t> term_ids_;
  // Postings, term-major: term t owns [post_offsets_[t], post_offsets_[t + 1]).
  std::vector<std::uint64_t> post_offsets_;
  std::vector<std::int32_t> post_docs_;
  std::vector<std::int32_t> post_freqs_;
  // Forward index, document-major (rebuilt from the postings on Load).
  std::vector<std::uint64_t> fwd_offsets_;
  std::vector<std::int32_t> fwd_terms_;
  std::vector<std::int32_t> fwd_freqs_;
  // Derived.
  std::int64_t doc_count_ = 0;
  std::int64_t total_terms_ = 0;
  // Collection statistics (SetCollectionStats): df per term of this index.
  bool coll_set_ = false;
  std::int64_t coll_num_docs_ = 0;
  std::int64_t coll_doc_count_ = 0;
  std::int64_t coll_total_terms_ = 0;
  std::vector<std::int64_t> coll_df_;
  std::vector<float> norms_;  // k1 * (1 - b + b * dl / avgdl) per document
  std::vector<float> idf_;    // per term
  std::vector<float> post_parts_;  // per posting: tf / (tf + norm of its document)
  std::vector<float> max_part_;    // per term: max of its postings' parts (MaxScore's bounds)
  // Block-max bounds: term t's postings cut into blocks of kPruningBlock from its first; block
  // j holds the max part of its postings at block_max_[block_offsets_[t] + j].
  std::vector<std::uint64_t> block_offsets_;
  std::vector<float> block_max_;
  std::atomic<bool> dynamic_pruning_{false};
  // Tombstones: a deleted document keeps its id and name but has length 0, an empty forward
  // row and no postings.
  std::vector<std::uint8_t> deleted_;
  std::int64_t num_deleted_ = 0;
  std::atomic<std::int64_t> live_docs_{0};  // num_ids() - num_deleted_
  // True when the term numbering is not a fresh build's (after a Delete or Update): Save then
  // writes the compacted index.
  bool dirty_ = false;
  // Live document name -> id, built by the first change (unused by searches).
  bool names_built_ = false;
  absl::flat_hash_map<std::string, std::int32_t> name_ids_;
};

// ---- RM3 --------------------------------------------------------------------------------
// Pyserini's RM3 (pyserini/search/lucene/rerank/rm3_reranker.py, the same formula as
// Anserini's Rm3Reranker), defaults fb_terms = 10, fb_docs = 10, original_query_weight = 0.5:
//   q      = the analysed query's term counts, L1-normalised (terms absent from the index
//            included: they take part in the normalisation);
//   for each of the top fb_docs documents d of the first pass, with BM25 score s_d:
//     v_d  = d's term vector {term: tf}, keeping only feedback-eligible terms (Rm3Options),
//            pruned to its fb_terms largest (ties: smaller term string first), and skipped if
//            its L1 norm |v_d| <= 0.001;
//   RM     = sum over d of (v_d / |v_d|) * s_d, pruned to its fb_terms largest (same ties),
//            L1-normalised;
//   final  = w * q + (1 - w) * RM with w = original_query_weight, terms with weight <= 0
//            dropped; searched with each term's BM25 contribution multiplied by its weight.
// df / num_docs uses all documents (Lucene's numDocs) and the df of the indexed term itself,
// as Anserini's Java RM3 does (Pyserini's port looks df up with get_term_counts, which
// re-analyses the already stemmed term, so a term that re-stems differently, e.g. "ceas" ->
// "cea", escapes its 10% rule there). Feedback term vectors come from the forward index, not
// from re-analysing text. Anserini's Java RM3 otherwise differs only in the alphanumeric test
// of filter_terms (ASCII [a-z0-9]+ instead of Unicode letters and digits).
// `feedback` is the first-pass ranking of `query` (its first fb_docs entries are used).
// Rm3FeedbackDocs then Rm3Expand, with the index's CollectionNumDocs.
absl::StatusOr<WeightedQuery> Rm3ExpandQuery(const Bm25Index& index, const WeightedQuery& query,
                                             const Ranking& feedback, const Rm3Options& options);

// The term vectors of `docs` (ids of this index) from the forward index, with df =
// CollectionDocFreq and score = the entry's score; terms in term-id order. OutOfRange for an
// id outside [0, num_ids()), NotFound for a deleted one. What a shard returns for the feedback
// documents it holds.
absl::StatusOr<std::vector<Rm3FeedbackDoc>> Rm3FeedbackDocs(const Bm25Index& index, const Ranking& docs);

// The RM3 formula above on explicit feedback documents (the first fb_docs of `feedback`, best
// first) of a collection of `num_docs` documents (all of them, Lucene's numDocs). The result
// does not depend on the order of terms within a document. InvalidArgument for invalid options,
// a non-finite query weight or score, a repeated term, tf < 1 or df outside [1, num_docs],
// naming the feedback document and term.
absl::StatusOr<WeightedQuery> Rm3Expand(const WeightedQuery& query, absl::Span<const Rm3FeedbackDoc> feedback,
                                        std::int64_t num_docs, const Rm3Options& options);

}  // namespace densefb

#endif  // DENSEFB_BM25_H_
