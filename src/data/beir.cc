// BEIR folders: corpus.jsonl[.gz], queries.jsonl[.gz], qrels/<split>.tsv; topics TSV files.
#include <filesystem>
#include <functional>

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "data/line_reader.h"
#include "densefb/data.h"
#include "densefb/file_format.h"

namespace densefb {
namespace {

using Json = nlohmann::json;

bool IsBlank(absl::string_view s) { return absl::StripAsciiWhitespace(s).empty(); }

// Reads field `name` of `obj` as a string. Numbers are accepted for ids (some BEIR-style
// files write integer ids); null counts as missing.
absl::StatusOr<std::string> StringField(const Json& obj, const char* name, bool required,
                                        bool allow_number, const LineReader& reader) {
  auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) {
    if (required) return reader.Error(absl::StrCat("missing \"", name, "\""));
    return std::string();
  }
  if (it->is_string()) return it->get<std::string>();
  if (allow_number && it->is_number_integer()) return it->dump();
  return reader.Error(absl::StrCat("\"", name, "\" must be a string, got ", it->type_name()));
}

// Calls `fn(object, reader)` for each non-blank line of a JSON-lines file.
absl::Status ForEachJsonLine(const std::string& path,
                             const std::function<absl::Status(const Json&, const LineReader&)>& fn) {
  DENSEFB_ASSIGN_OR_RETURN(auto reader, LineReader::Open(path));
  std::string line;
  std::int64_t objects = 0;
  while (true) {
    DENSEFB_ASSIGN_OR_RETURN(bool more, reader->Next(&line));
    if (!more) break;
    if (IsBlank(line)) continue;
    Json obj;
    try {
      obj = Json::parse(line);
    } catch (const Json::exception& e) {  // parse_error, and out_of_range for a number like 1e999
      return reader->Error(absl::StrCat("bad JSON: ", e.what()));
    }
    if (!obj.is_object()) return reader->Error("expected a JSON object");
    DENSEFB_RETURN_IF_ERROR(fn(obj, *reader));
    ++objects;
  }
  if (objects == 0) return absl::InvalidArgumentError(absl::StrCat(path, ": empty file"));
  return absl::OkStatus();
}

// An error of Corpus/Queries::Add (invalid or repeated id) at the reader's line.
absl::Status AddError(const LineReader& reader, const absl::Status& status) {
  return reader.Error(status.message());
}

// Parses qrels TSV lines "query-id<TAB>corpus-id<TAB>score" (first line may be a header),
// calling fn(qid, docid, grade, reader) for each judgment.
absl::Status ForEachQrelsLine(
    const std::string& path,
    const std::function<absl::Status(absl::string_view, absl::string_view, int,
                                     const LineReader&)>& fn) {
  DENSEFB_ASSIGN_OR_RETURN(auto reader, LineReader::Open(path));
  std::string line;
  std::int64_t judgments = 0;
  while (true) {
    DENSEFB_ASSIGN_OR_RETURN(bool more, reader->Next(&line));
    if (!more) break;
    if (IsBlank(line)) continue;
    std::vector<absl::string_view> fields = absl::StrSplit(line, '\t');
    if (fields.size() != 3) {
      return reader->Error(absl::StrCat("expected 3 tab-separated fields (query-id, corpus-id, "
                                        "score), got ", fields.size()));
    }
    int grade = 0;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(fields[2]), &grade)) {
      if (reader->line_number() == 1) continue;  // header
      return reader->Error(absl::StrCat("score ", QuoteId(fields[2]), " is not an integer"));
    }
    const absl::string_view qid = absl::StripAsciiWhitespace(fields[0]);
    const absl::string_view docid = absl::StripAsciiWhitespace(fields[1]);
    if (qid.empty() || docid.empty()) return reader->Error("empty query-id or corpus-id");
    DENSEFB_RETURN_IF_ERROR(fn(qid, docid, grade, *reader));
    ++judgments;
  }
  if (judgments == 0) return absl::InvalidArgumentError(absl::StrCat(path, ": no judgments"));
  return absl::OkStatus();
}

// The first of `names` that exists in `dir`.
absl::StatusOr<std::string> FindFile(const std::string& dir, std::initializer_list<const char*> names) {
  for (const char* name : names) {
    const std::filesystem::path p = std::filesystem::path(dir) / name;
    std::error_code ec;
    if (std::filesystem::exists(p, ec)) return p.string();
  }
  std::string tried;
  for (const char* name : names) absl::StrAppend(&tried, tried.empty() ? "" : " or ", name);
  return absl::NotFoundError(absl::StrCat(dir, ": no such file: ", tried));
}

}  // namespace

absl::StatusOr<Corpus> ReadBeirCorpus(const std::string& path) {
  Corpus corpus;
  DENSEFB_RETURN_IF_ERROR(ForEachJsonLine(path, [&](const Json& obj, const LineReader& r) -> absl::Status {
    Document doc;
    DENSEFB_ASSIGN_OR_RETURN(doc.id, StringField(obj, "_id", true, true, r));
    DENSEFB_ASSIGN_OR_RETURN(doc.title, StringField(obj, "title", false, false, r));
    DENSEFB_ASSIGN_OR_RETURN(doc.text, StringField(obj, "text", true, false, r));
    absl::Status added = corpus.Add(std::move(doc));
    return added.ok() ? added : AddError(r, added);
  }));
  return corpus;
}

absl::StatusOr<Queries> ReadBeirQueries(const std::string& path) {
  Queries queries;
  DENSEFB_RETURN_IF_ERROR(ForEachJsonLine(path, [&](const Json& obj, const LineReader& r) -> absl::Status {
    Query q;
    DENSEFB_ASSIGN_OR_RETURN(q.id, StringField(obj, "_id", true, true, r));
    DENSEFB_ASSIGN_OR_RETURN(q.text, StringField(obj, "text", true, false, r));
    absl::Status added = queries.Add(std::move(q));
    return added.ok() ? added : AddError(r, added);
  }));
  return queries;
}

absl::StatusOr<Qrels> ReadBeirQrels(const std::string& path) {
  Qrels qrels;
  DENSEFB_RETURN_IF_ERROR(ForEachQrelsLine(
      path, [&](absl::string_view qid, absl::string_view docid, int grade, const LineReader& r) {
        absl::Status set = qrels.Set(qid, docid, grade);
        return set.ok() ? set : r.Error(set.message());
      }));
  return qrels;
}

absl::StatusOr<Queries> ReadTopicsTsv(const std::string& path) {
  DENSEFB_ASSIGN_OR_RETURN(auto reader, LineReader::Open(path));
  Queries queries;
  std::string line;
  while (true) {
    DENSEFB_ASSIGN_OR_RETURN(bool more, reader->Next(&line));
    if (!more) break;
    if (IsBlank(line)) continue;
    const std::size_t tab = line.find('\t');
    if (tab == std::string::npos) {
      return reader->Error("expected 'qid<TAB>text' (or use a .jsonl file)");
    }
    Query q;
    q.id = std::string(absl::StripAsciiWhitespace(absl::string_view(line).substr(0, tab)));
    q.text = line.substr(tab + 1);
    absl::Status added = queries.Add(std::move(q));
    if (!added.ok()) return AddError(*reader, added);
  }
  if (queries.size() == 0) return absl::InvalidArgumentError(absl::StrCat(path, ": no queries"));
  return queries;
}

absl::StatusOr<BeirDataset> LoadBeirDataset(const std::string& dir, const std::string& split) {
  DENSEFB_RETURN_IF_ERROR(CheckPath(dir));
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return absl::NotFoundError(absl::StrCat(dir, ": no such directory (expected a BEIR folder)"));
  }
  BeirDataset ds;
  ds.path = dir;
  ds.split = split;
  DENSEFB_ASSIGN_OR_RETURN(std::string corpus_path, FindFile(dir, {"corpus.jsonl.gz", "corpus.jsonl"}));
  DENSEFB_ASSIGN_OR_RETURN(std::string queries_path, FindFile(dir, {"queries.jsonl.gz", "queries.jsonl"}));
  const std::string qrels_path = (std::filesystem::path(dir) / "qrels" / (split + ".tsv")).string();
  DENSEFB_ASSIGN_OR_RETURN(ds.corpus, ReadBeirCorpus(corpus_path));
  DENSEFB_ASSIGN_OR_RETURN(Queries all_queries, ReadBeirQueries(queries_path));
  DENSEFB_RETURN_IF_ERROR(ForEachQrelsLine(
      qrels_path,
      [&](absl::string_view qid, absl::string_view docid, int grade, const LineReader& r) {
        if (!all_queries.ids().Contains(qid)) {
          return r.Error(absl::StrCat("query ", QuoteId(qid), " is not in ", queries_path));
        }
        if (!ds.corpus.ids().Contains(docid)) {
          return r.Error(absl::StrCat("document ", QuoteId(docid), " is not in ", corpus_path));
        }
        absl::Status set = ds.qrels.Set(qid, docid, grade);
        return set.ok() ? set : r.Error(set.message());
      }));
  // Like BEIR's loader: keep the queries judged in this split, in the order of the file.
  for (const Query& q : all_queries.queries()) {
    if (ds.qrels.FindQuery(q.id) >= 0) DENSEFB_RETURN_IF_ERROR(ds.queries.Add(q));
  }
  return ds;
}

}  // namespace densefb
