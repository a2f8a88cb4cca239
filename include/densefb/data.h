// The data model: corpora, queries, relevance judgments (qrels) and runs, with readers and
// writers for the BEIR and TREC file formats. String ids come in; inside, documents and
// queries are addressed by compact int32 ids (their position in the collection).
#ifndef DENSEFB_DATA_H_
#define DENSEFB_DATA_H_

#include <cstdint>
#include <string>
#include "absl/strings/string_view.h"
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/types/span.h"
#include "densefb/status.h"

namespace densefb {

// ---- Identifiers ----
// Every string id (document, query, run tag) is written to line- and whitespace-separated text
// files (TREC runs and qrels, BEIR and topics TSV, an index's docids.txt), and read back by
// densefb and by tools that split on Python's str.split(). So an id must be non-empty,
// well-formed UTF-8 and free of whitespace (ASCII, and Unicode's as str.isspace() sees it),
// control characters (U+0000-U+001F, U+007F-U+009F), line and paragraph separators and
// U+FEFF (a byte order mark). Every entry point that takes an id checks it with ValidateId.

// Offset of the first byte of `text` that is not well-formed UTF-8 (RFC 3629: no overlong
// forms, surrogates or code points above U+10FFFF), or npos when all of it is.
std::size_t FindInvalidUtf8(absl::string_view text);
// `text` quoted on one printable line for messages: control, separator and invisible
// characters as \n, \t, \u{2028}, bytes that are not UTF-8 as \xNN; cut after 200 bytes.
std::string QuoteId(absl::string_view text);
// OK if `id` is a valid identifier; else InvalidArgument naming `what` ("document id",
// "query id", ...), the quoted id and the offending character.
absl::Status ValidateId(absl::string_view id, absl::string_view what);

// A bijection between string ids and dense int32 ids 0..size()-1, in insertion order.
class IdMap {
 public:
  static constexpr std::int32_t kMissing = -1;

  // Adds `id` and returns its dense id; AlreadyExists if it was added before. The id is not
  // validated here (Corpus and Queries do it, naming what the id is).
  absl::StatusOr<std::int32_t> Add(absl::string_view id);
  // Dense id of `id`, or kMissing.
  std::int32_t Find(absl::string_view id) const;
  bool Contains(absl::string_view id) const { return Find(id) != kMissing; }
  const std::string& Name(std::int32_t dense_id) const { return names_[dense_id]; }
  const std::vector<std::string>& names() const { return names_; }
  std::size_t size() const { return names_.size(); }
  void Reserve(std::size_t n);

 private:
  std::vector<std::string> names_;
  absl::flat_hash_map<std::string, std::int32_t> index_;
};

struct Document {
  std::string id;
  std::string title;
  std::string text;
};

class Corpus {
 public:
  // InvalidArgument for an id that ValidateId refuses; AlreadyExists on a duplicate id.
  absl::Status Add(Document doc);
  std::size_t size() const { return docs_.size(); }
  const Document& operator[](std::size_t i) const { return docs_[i]; }
  const std::vector<Document>& documents() const { return docs_; }
  const IdMap& ids() const { return ids_; }
  // "title text" joined by a space when both are present (the convention of BEIR's
  // dense-retrieval models, e.g. sentence-transformers' evaluation).
  std::string FullText(std::size_t i) const;

 private:
  std::vector<Document> docs_;
  IdMap ids_;
};

struct Query {
  std::string id;
  std::string text;
};

class Queries {
 public:
  // InvalidArgument for an id that ValidateId refuses; AlreadyExists on a duplicate id.
  absl::Status Add(Query query);
  std::size_t size() const { return queries_.size(); }
  const Query& operator[](std::size_t i) const { return queries_[i]; }
  const std::vector<Query>& queries() const { return queries_; }
  const IdMap& ids() const { return ids_; }

 private:
  std::vector<Query> queries_;
  IdMap ids_;
};

// Relevance judgments: for each query, graded judgments of documents. A pair that is absent
// is unjudged. Queries keep the order in which they first appear in the file.
class Qrels {
 public:
  struct Judgment {
    std::string doc_id;
    int grade;
  };
  // Adds or overwrites the judgment of (query_id, doc_id), like trec_eval's last-one-wins;
  // InvalidArgument (nothing added) for an id that ValidateId refuses.
  absl::Status Set(absl::string_view query_id, absl::string_view doc_id, int grade);
  std::size_t num_queries() const { return query_ids_.size(); }
  const std::vector<std::string>& query_ids() const { return query_ids_; }
  // Judgments of a query (empty span if the query has none).
  const std::vector<Judgment>& judgments(std::size_t query_index) const {
    return judgments_[query_index];
  }
  // Index of a query among query_ids(), or -1.
  std::int64_t FindQuery(absl::string_view query_id) const;
  std::size_t num_judgments() const;

 private:
  std::vector<std::string> query_ids_;
  std::vector<std::vector<Judgment>> judgments_;
  absl::flat_hash_map<std::string, std::size_t> query_index_;
  std::vector<absl::flat_hash_map<std::string, std::size_t>> doc_index_;
};

// A ranked list of scored documents per query. Scores are "higher is better"; the order
// stored is the order given (evaluation re-sorts as trec_eval does).
class Run {
 public:
  struct Entry {
    std::string doc_id;
    double score;
  };
  // Appends a query and returns its index; AlreadyExists if the query is already present,
  // InvalidArgument for an id that ValidateId refuses.
  absl::StatusOr<std::size_t> AddQuery(absl::string_view query_id);
  // Appends (doc_id, score) to the list of query `query_index`; InvalidArgument for an id that
  // ValidateId refuses. Scores and duplicates are checked where whole lists are used: NaN and
  // repeated documents are refused by WriteTrecRun, evaluation and fusion (MakeRun and
  // ReadTrecRun refuse them on the way in).
  absl::Status Append(std::size_t query_index, absl::string_view doc_id, double score);
  std::vector<Entry>& list(std::size_t query_index) { return lists_[query_index]; }
  const std::vector<Entry>& list(std::size_t query_index) const { return lists_[query_index]; }
  // Index of a query, or -1.
  std::int64_t FindQuery(absl::string_view query_id) const;
  std::size_t num_queries() const { return query_ids_.size(); }
  const std::vector<std::string>& query_ids() const { return query_ids_; }
  std::size_t num_entries() const;
  // Sorts every list by score descending, ties by document id descending (trec_eval's order),
  // and keeps at most `depth` entries per query (0 keeps all).
  void SortAndTruncate(std::size_t depth = 0);

  std::string name;  // the run tag written in TREC files

 private:
  std::vector<std::string> query_ids_;
  std::vector<std::vector<Entry>> lists_;
  absl::flat_hash_map<std::string, std::size_t> query_index_;
};

// Builds a run from top-k search results: row q of the (n_queries x k) arrays `ids` and
// `scores` ranks documents for query_ids[q]; an id indexes `doc_ids`, -1 (padding) is
// skipped, and an id outside [0, doc_ids.size()) is an OutOfRange error. A score that is NaN
// or infinite, a document twice in one row, or an id that ValidateId refuses is an
// InvalidArgument error naming the query, the document and the position in the row.
absl::StatusOr<Run> MakeRun(absl::Span<const std::string> query_ids, const std::int64_t* ids,
                            const float* scores, std::int64_t k,
                            absl::Span<const std::string> doc_ids);

// ---- BEIR ----

// Reads corpus.jsonl[.gz]: one {"_id", "title"?, "text"} object a line. Errors name the file
// and line (bad JSON, missing or non-string "_id"/"text", duplicate id, empty file).
absl::StatusOr<Corpus> ReadBeirCorpus(const std::string& path);
// Reads queries.jsonl[.gz]: {"_id", "text"} a line.
absl::StatusOr<Queries> ReadBeirQueries(const std::string& path);
// Reads qrels/<split>.tsv: header "query-id<TAB>corpus-id<TAB>score", then one judgment a line.
absl::StatusOr<Qrels> ReadBeirQrels(const std::string& path);

struct BeirDataset {
  std::string path;
  std::string split;
  Corpus corpus;
  Queries queries;  // only the queries judged in the split, in the order of queries.jsonl
  Qrels qrels;
};
// Loads a BEIR folder: corpus.jsonl[.gz], queries.jsonl[.gz], qrels/<split>.tsv. Judgments of
// a query or document absent from the folder are errors naming the qrels file and line.
absl::StatusOr<BeirDataset> LoadBeirDataset(const std::string& dir, const std::string& split);

// ---- TREC ----

// Every text reader (BEIR, TREC, topics TSV) reads through one line reader: plain or gzip, a
// UTF-8 byte order mark at the start of the file is skipped, "\r\n" ends a line like "\n",
// and a line that is not well-formed UTF-8 is an error naming the file, line and byte.

// Reads a TREC run "qid Q0 docid rank score tag" (whitespace-separated). The rank column is
// kept only as read order; a document listed twice for a query is an error.
absl::StatusOr<Run> ReadTrecRun(const std::string& path);
// Writes a TREC run atomically (temporary file + rename), entries ranked by score as
// trec_eval orders them, with `run.name` as the tag ("densefb" if empty). Refuses (writing
// nothing) what ReadTrecRun would refuse: an invalid id or tag, a NaN score, a document
// listed twice for a query.
absl::Status WriteTrecRun(const std::string& path, const Run& run);
// Reads TREC qrels "qid iter docid grade".
absl::StatusOr<Qrels> ReadTrecQrels(const std::string& path);
// Writes TREC qrels atomically.
absl::Status WriteTrecQrels(const std::string& path, const Qrels& qrels);

// Reads topics "qid<TAB>text" a line (Pyserini's TSV topics; plain or gzip). Blank lines are
// skipped; the id is stripped of surrounding spaces, the text kept as it is after the first
// tab. Errors name the file and line: no tab, an invalid or repeated id, no topics at all.
absl::StatusOr<Queries> ReadTopicsTsv(const std::string& path);

}  // namespace densefb

#endif  // DENSEFB_DATA_H_
