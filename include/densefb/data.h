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

// A bijection between string ids and dense int32 ids 0..size()-1, in insertion order.
class IdMap {
 public:
  static constexpr std::int32_t kMissing = -1;

  // Adds `id` and returns its dense id; AlreadyExists if it was added before.
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
  absl::Status Add(Document doc);  // AlreadyExists on a duplicate id
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
  absl::Status Add(Query query);  // AlreadyExists on a duplicate id
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
  // Adds or overwrites the judgment of (query_id, doc_id), like trec_eval's last-one-wins.
  void Set(absl::string_view query_id, absl::string_view doc_id, int grade);
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
  // Appends a query and returns its index; AlreadyExists if the query is already present.
  absl::StatusOr<std::size_t> AddQuery(absl::string_view query_id);
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
// skipped, and an id outside [0, doc_ids.size()) is an OutOfRange error.
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

// Reads a TREC run "qid Q0 docid rank score tag" (whitespace-separated). The rank column is
// kept only as read order; a document listed twice for a query is an error.
absl::StatusOr<Run> ReadTrecRun(const std::string& path);
// Writes a TREC run atomically (temporary file + rename), entries ranked by score as
// trec_eval orders them, with `run.name` as the tag ("densefb" if empty).
absl::Status WriteTrecRun(const std::string& path, const Run& run);
// Reads TREC qrels "qid iter docid grade".
absl::StatusOr<Qrels> ReadTrecQrels(const std::string& path);
// Writes TREC qrels atomically.
absl::Status WriteTrecQrels(const std::string& path, const Qrels& qrels);

}  // namespace densefb

#endif  // DENSEFB_DATA_H_
