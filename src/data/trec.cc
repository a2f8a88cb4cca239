// TREC runs ("qid Q0 docid rank score tag") and qrels ("qid iter docid grade").
#include <cmath>
#include <unistd.h>

#include <cstdio>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "data/line_reader.h"
#include "densefb/data.h"
#include "densefb/file_format.h"

namespace densefb {
namespace {

// Fields separated by any ASCII whitespace, as trec_eval reads them (scanf's %s): a stray
// carriage return or form feed separates fields rather than ending up inside one.
constexpr char kWhitespace[] = " \t\r\n\v\f";

std::vector<absl::string_view> Fields(absl::string_view line) {
  return absl::StrSplit(line, absl::ByAnyChar(kWhitespace), absl::SkipEmpty());
}

// Writes `text` to `path` through densefb's one atomic writer (densefb/file_format.h).
absl::Status WriteTextAtomically(const std::string& path, const std::string& text) {
  return WriteFileAtomically(path, text);
}

}  // namespace

absl::StatusOr<Run> ReadTrecRun(const std::string& path) {
  DENSEFB_ASSIGN_OR_RETURN(auto reader, LineReader::Open(path));
  Run run;
  std::vector<absl::flat_hash_set<std::string>> seen;
  std::string line;
  while (true) {
    DENSEFB_ASSIGN_OR_RETURN(bool more, reader->Next(&line));
    if (!more) break;
    const std::vector<absl::string_view> f = Fields(line);
    if (f.empty()) continue;
    if (f.size() != 6) {
      return reader->Error(absl::StrCat("expected 6 fields \"qid Q0 docid rank score tag\", got ",
                                        f.size()));
    }
    double score = 0;
    if (!absl::SimpleAtod(f[4], &score) || std::isnan(score)) {
      return reader->Error(absl::StrCat("score ", QuoteId(f[4]), " is not a number"));
    }
    if (absl::Status tag = ValidateId(f[5], "run tag"); !tag.ok()) return reader->Error(tag.message());
    std::int64_t q = run.FindQuery(f[0]);
    if (q < 0) {
      absl::StatusOr<std::size_t> added = run.AddQuery(f[0]);
      if (!added.ok()) return reader->Error(added.status().message());
      q = static_cast<std::int64_t>(*added);
      seen.emplace_back();
    }
    if (!seen[q].emplace(f[2]).second) {
      return reader->Error(absl::StrCat("document ", QuoteId(f[2]), " listed twice for query ",
                                        QuoteId(f[0])));
    }
    if (absl::Status appended = run.Append(q, f[2], score); !appended.ok()) {
      return reader->Error(appended.message());
    }
    if (run.name.empty()) run.name = std::string(f[5]);
  }
  if (run.num_queries() == 0) return absl::InvalidArgumentError(absl::StrCat(path, ": empty run file"));
  return run;
}

absl::Status WriteTrecRun(const std::string& path, const Run& run) {
  const std::string tag = run.name.empty() ? "densefb" : run.name;
  const auto refused = [&](const absl::Status& why) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not written: ", why.message()));
  };
  if (absl::Status ok = ValidateId(tag, "run tag"); !ok.ok()) return refused(ok);
  // Refuse what ReadTrecRun would refuse, before sorting (NaN has no place in the order).
  absl::flat_hash_set<absl::string_view> seen;
  for (std::size_t q = 0; q < run.num_queries(); ++q) {
    const std::string& qid = run.query_ids()[q];
    seen.clear();
    for (const Run::Entry& e : run.list(q)) {
      if (absl::Status ok = ValidateId(e.doc_id, "document id"); !ok.ok()) {
        return refused(absl::InvalidArgumentError(absl::StrCat(ok.message(), " (query ", QuoteId(qid), ")")));
      }
      if (std::isnan(e.score)) {
        return refused(absl::InvalidArgumentError(absl::StrCat(
            "query ", QuoteId(qid), " document ", QuoteId(e.doc_id), " has a NaN score")));
      }
      if (!seen.insert(e.doc_id).second) {
        return refused(absl::InvalidArgumentError(absl::StrCat(
            "query ", QuoteId(qid), " lists document ", QuoteId(e.doc_id), " more than once")));
      }
    }
  }
  Run sorted = run;
  sorted.SortAndTruncate();
  std::string text;
  for (std::size_t q = 0; q < sorted.num_queries(); ++q) {
    const std::string& qid = sorted.query_ids()[q];
    int rank = 0;
    for (const Run::Entry& e : sorted.list(q)) {
      // %.17g round-trips a double exactly, so evaluation of the file equals the in-memory run.
      absl::StrAppendFormat(&text, "%s Q0 %s %d %.17g %s\n", qid, e.doc_id, ++rank, e.score, tag);
    }
  }
  return WriteTextAtomically(path, text);
}

absl::StatusOr<Qrels> ReadTrecQrels(const std::string& path) {
  DENSEFB_ASSIGN_OR_RETURN(auto reader, LineReader::Open(path));
  Qrels qrels;
  std::string line;
  while (true) {
    DENSEFB_ASSIGN_OR_RETURN(bool more, reader->Next(&line));
    if (!more) break;
    const std::vector<absl::string_view> f = Fields(line);
    if (f.empty()) continue;
    if (f.size() != 4) {
      return reader->Error(absl::StrCat("expected 4 fields \"qid iter docid grade\", got ", f.size()));
    }
    int grade = 0;
    if (!absl::SimpleAtoi(f[3], &grade)) {
      return reader->Error(absl::StrCat("grade ", QuoteId(f[3]), " is not an integer"));
    }
    if (absl::Status set = qrels.Set(f[0], f[2], grade); !set.ok()) return reader->Error(set.message());
  }
  if (qrels.num_queries() == 0) return absl::InvalidArgumentError(absl::StrCat(path, ": empty qrels file"));
  return qrels;
}

absl::Status WriteTrecQrels(const std::string& path, const Qrels& qrels) {
  std::string text;
  for (std::size_t q = 0; q < qrels.num_queries(); ++q) {
    for (const Qrels::Judgment& j : qrels.judgments(q)) {
      absl::StrAppend(&text, qrels.query_ids()[q], " 0 ", j.doc_id, " ", j.grade, "\n");
    }
  }
  return WriteTextAtomically(path, text);
}

}  // namespace densefb
