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
      return reader->Error(absl::StrCat("score \"", f[4], "\" is not a number"));
    }
    std::int64_t q = run.FindQuery(f[0]);
    if (q < 0) {
      DENSEFB_ASSIGN_OR_RETURN(std::size_t added, run.AddQuery(f[0]));
      q = static_cast<std::int64_t>(added);
      seen.emplace_back();
    }
    if (!seen[q].emplace(f[2]).second) {
      return reader->Error(absl::StrCat("document \"", f[2], "\" listed twice for query \"", f[0], "\""));
    }
    run.list(q).push_back({std::string(f[2]), score});
    if (run.name.empty()) run.name = std::string(f[5]);
  }
  if (run.num_queries() == 0) return absl::InvalidArgumentError(absl::StrCat(path, ": empty run file"));
  return run;
}

absl::Status WriteTrecRun(const std::string& path, const Run& run) {
  Run sorted = run;
  sorted.SortAndTruncate();
  const std::string tag = run.name.empty() ? "densefb" : run.name;
  if (tag.find_first_of(kWhitespace) != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("run tag \"", tag, "\" contains whitespace"));
  }
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
      return reader->Error(absl::StrCat("grade \"", f[3], "\" is not an integer"));
    }
    qrels.Set(f[0], f[2], grade);
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
