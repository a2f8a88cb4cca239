#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <random>

#include "densefb/data.h"
#include "test_util.h"

namespace densefb {
namespace {

using testing::TempDir;
using testing::WriteFile;
using Catch::Matchers::Contains;

TEST_CASE("BEIR corpus: plain jsonl with optional title, numeric ids") {
  const std::string dir = TempDir("beir_corpus");
  WriteFile(dir + "/corpus.jsonl",
            "{\"_id\": \"d1\", \"title\": \"T\", \"text\": \"hello\"}\n"
            "\n"
            "{\"_id\": 7, \"text\": \"no title\", \"metadata\": {}}\r\n");
  auto corpus = ReadBeirCorpus(dir + "/corpus.jsonl");
  REQUIRE(corpus.ok());
  REQUIRE(corpus->size() == 2);
  CHECK(corpus->FullText(0) == "T hello");
  CHECK((*corpus)[1].id == "7");
  CHECK(corpus->FullText(1) == "no title");
  CHECK(corpus->ids().Find("d1") == 0);
  CHECK(corpus->ids().Find("missing") == IdMap::kMissing);
}

TEST_CASE("BEIR corpus errors name the file and the line") {
  const std::string dir = TempDir("beir_errors");
  struct Case { std::string content; std::string message; };
  const std::vector<Case> cases = {
      {"{\"_id\": \"a\", \"text\": \"x\"}\n{\"_id\": \"b\", \"text\": \n", "line 2: bad JSON"},
      {"{\"text\": \"x\"}\n", "line 1: missing \"_id\""},
      {"{\"_id\": \"a\"}\n", "line 1: missing \"text\""},
      {"{\"_id\": \"a\", \"text\": 5}\n", "line 1: \"text\" must be a string"},
      {"{\"_id\": \"a\", \"text\": \"x\"}\n{\"_id\": \"a\", \"text\": \"y\"}\n", "line 2: duplicate id \"a\""},
      {"[1, 2]\n", "line 1: expected a JSON object"},
      {"", "empty file"},
      {"\n  \n", "empty file"},
  };
  for (const Case& c : cases) {
    WriteFile(dir + "/corpus.jsonl", c.content);
    auto corpus = ReadBeirCorpus(dir + "/corpus.jsonl");
    INFO(c.content);
    REQUIRE_FALSE(corpus.ok());
    CHECK_THAT(std::string(corpus.status().message()), Contains(dir + "/corpus.jsonl"));
    CHECK_THAT(std::string(corpus.status().message()), Contains(c.message));
  }
  auto missing = ReadBeirCorpus(dir + "/nope.jsonl");
  CHECK(absl::IsNotFound(missing.status()));
  auto directory = ReadBeirCorpus(dir);
  CHECK(absl::IsInvalidArgument(directory.status()));
}

TEST_CASE("Truncated gzip is reported, not silently accepted") {
  const std::string path = testing::DataDir() + "/scifact/corpus.jsonl.gz";
  if (!std::filesystem::exists(path)) DENSEFB_SKIP("no scifact at " << path);
  const std::string bytes = testing::ReadFile(path);
  const std::string dir = TempDir("beir_gz");
  WriteFile(dir + "/corpus.jsonl.gz", bytes.substr(0, bytes.size() / 2));
  auto corpus = ReadBeirCorpus(dir + "/corpus.jsonl.gz");
  REQUIRE_FALSE(corpus.ok());
  CHECK_THAT(std::string(corpus.status().message()), Contains("truncated"));
}

TEST_CASE("BEIR dataset: real SciFact loads with the counts of its README") {
  const std::string dir = testing::DataDir() + "/scifact";
  if (!std::filesystem::exists(dir)) DENSEFB_SKIP("no scifact at " << dir);
  auto ds = LoadBeirDataset(dir, "test");
  REQUIRE(ds.ok());
  CHECK(ds->corpus.size() == 5183);
  CHECK(ds->queries.size() == 300);
  CHECK(ds->qrels.num_queries() == 300);
  CHECK(ds->qrels.num_judgments() == 339);
  // Every judged document is in the corpus.
  for (std::size_t q = 0; q < ds->qrels.num_queries(); ++q) {
    for (const auto& j : ds->qrels.judgments(q)) CHECK(ds->corpus.ids().Contains(j.doc_id));
  }
}

TEST_CASE("BEIR dataset: qrels naming unknown ids fail with file and line") {
  const std::string dir = TempDir("beir_ds");
  std::filesystem::create_directories(dir + "/qrels");
  WriteFile(dir + "/corpus.jsonl", "{\"_id\": \"d1\", \"text\": \"a\"}\n");
  WriteFile(dir + "/queries.jsonl", "{\"_id\": \"q1\", \"text\": \"a\"}\n{\"_id\": \"q2\", \"text\": \"b\"}\n");
  WriteFile(dir + "/qrels/test.tsv", "query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td9\t1\n");
  auto ds = LoadBeirDataset(dir, "test");
  REQUIRE_FALSE(ds.ok());
  CHECK_THAT(std::string(ds.status().message()), Contains("test.tsv line 3: document \"d9\""));
  WriteFile(dir + "/qrels/test.tsv", "query-id\tcorpus-id\tscore\nq1\td1\t1\n");
  ds = LoadBeirDataset(dir, "test");
  REQUIRE(ds.ok());
  CHECK(ds->queries.size() == 1);  // q2 is not judged in this split
  WriteFile(dir + "/qrels/test.tsv", "query-id\tcorpus-id\tscore\nq1\td1\tx\n");
  CHECK_THAT(std::string(LoadBeirDataset(dir, "test").status().message()), Contains("line 2: score \"x\""));
  CHECK(absl::IsNotFound(LoadBeirDataset(dir + "/nope", "test").status()));
}

TEST_CASE("TREC run round trip keeps every score exactly and ranks as trec_eval") {
  const std::string dir = TempDir("trec_run");
  Run run;
  run.name = "tag";
  auto q = run.AddQuery("q1");
  REQUIRE(q.ok());
  run.list(*q) = {{"a", 0.1}, {"c", 0.30000000000000004}, {"b", 0.30000000000000004}};
  REQUIRE(WriteTrecRun(dir + "/run.txt", run).ok());
  const std::string text = testing::ReadFile(dir + "/run.txt");
  CHECK_THAT(text, Contains("q1 Q0 c 1 "));  // tie: docid descending
  CHECK_THAT(text, Contains("q1 Q0 b 2 "));
  auto back = ReadTrecRun(dir + "/run.txt");
  REQUIRE(back.ok());
  CHECK(back->name == "tag");
  REQUIRE(back->list(0).size() == 3);
  CHECK(back->list(0)[0].score == 0.30000000000000004);
  CHECK(back->list(0)[2].score == 0.1);
  CHECK(std::filesystem::directory_iterator(dir)->path().filename() == "run.txt");  // no temp left
}

TEST_CASE("TREC run and qrels errors") {
  const std::string dir = TempDir("trec_err");
  WriteFile(dir + "/run.txt", "q1 Q0 a 1 0.5 t\nq1 Q0 b 2 zero t\n");
  CHECK_THAT(std::string(ReadTrecRun(dir + "/run.txt").status().message()), Contains("run.txt line 2: score \"zero\""));
  WriteFile(dir + "/run.txt", "q1 Q0 a 1 0.5\n");
  CHECK_THAT(std::string(ReadTrecRun(dir + "/run.txt").status().message()), Contains("line 1: expected 6 fields"));
  // Regression (fuzzing): a carriage return or form feed separates fields, as in trec_eval, so
  // five fields and a run of \r are five fields, not a tag "\r" that would not survive a write.
  WriteFile(dir + "/run.txt", "1 Q0 d3 1 2\r\r\r\r\r\t\r\r\n");
  CHECK_THAT(std::string(ReadTrecRun(dir + "/run.txt").status().message()), Contains("line 1: expected 6 fields"));
  WriteFile(dir + "/run.txt", "q1\fQ0 a\r1 0.5 t\r\n");
  auto separated = ReadTrecRun(dir + "/run.txt");
  REQUIRE(separated.ok());
  CHECK(separated->name == "t");
  CHECK(separated->list(0)[0].doc_id == "a");
  WriteFile(dir + "/run.txt", "q1 Q0 a 1 0.5 t\nq1 Q0 a 2 0.4 t\n");
  CHECK_THAT(std::string(ReadTrecRun(dir + "/run.txt").status().message()), Contains("line 2: document \"a\" listed twice"));
  WriteFile(dir + "/run.txt", "");
  CHECK_THAT(std::string(ReadTrecRun(dir + "/run.txt").status().message()), Contains("empty run file"));
  WriteFile(dir + "/qrels.txt", "q1 0 a 1\nq1 0 b\n");
  CHECK_THAT(std::string(ReadTrecQrels(dir + "/qrels.txt").status().message()), Contains("qrels.txt line 2: expected 4 fields"));
  WriteFile(dir + "/qrels.txt", "q1 0 a 1\nq2 0 b 2\nq1 0 a 3\n");
  auto qrels = ReadTrecQrels(dir + "/qrels.txt");
  REQUIRE(qrels.ok());
  CHECK(qrels->num_queries() == 2);
  CHECK(qrels->judgments(0).size() == 1);
  CHECK(qrels->judgments(0)[0].grade == 3);  // last one wins
  REQUIRE(WriteTrecQrels(dir + "/qrels2.txt", *qrels).ok());
  auto again = ReadTrecQrels(dir + "/qrels2.txt");
  REQUIRE(again.ok());
  CHECK(again->num_judgments() == 2);
}

TEST_CASE("MakeRun maps result ids to document ids and skips padding") {
  const std::vector<std::string> qids = {"q1", "q2"};
  const std::vector<std::string> docs = {"d0", "d1", "d2"};
  const std::int64_t ids[] = {2, 0, 1, -1};
  const float scores[] = {0.9f, 0.5f, 0.7f, -1.0f};
  auto run = MakeRun(qids, ids, scores, 2, docs);
  REQUIRE(run.ok());
  CHECK(run->list(0).size() == 2);
  CHECK(run->list(0)[0].doc_id == "d2");
  CHECK(run->list(1).size() == 1);
  const std::int64_t bad[] = {5, 0, 1, -1};
  CHECK(absl::IsOutOfRange(MakeRun(qids, bad, scores, 2, docs).status()));
}

std::string Message(const absl::Status& status) { return std::string(status.message()); }

TEST_CASE("MakeRun refuses non-finite scores and a document twice in a row, naming both") {
  const std::vector<std::string> qids = {"q1", "q2"};
  const std::vector<std::string> docs = {"d0", "d1", "d2"};
  const std::int64_t ids[] = {2, 0, 1, 1};
  const float fine[] = {0.9f, 0.5f, 0.7f, 0.7f};
  // Regression: the repeated d1 of q2 was merged, keeping the last score.
  const std::string repeated = Message(MakeRun(qids, ids, fine, 2, docs).status());
  CHECK_THAT(repeated, Contains("document \"d1\" of query \"q2\" at position 1 is already in the row"));
  const std::int64_t distinct[] = {2, 0, 1, -1};
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity()}) {
    const float scores[] = {0.9f, bad, 0.7f, 0.1f};
    const absl::Status status = MakeRun(qids, distinct, scores, 2, docs).status();
    CHECK(absl::IsInvalidArgument(status));
    CHECK_THAT(Message(status), Contains("of document \"d0\" of query \"q1\" at position 1 is not a finite number"));
  }
  const std::vector<std::string> spaced = {"d 0", "d1", "d2"};
  CHECK_THAT(Message(MakeRun(qids, distinct, fine, 2, spaced).status()),
             Contains("document id \"d 0\" holds a space"));
  CHECK_THAT(Message(MakeRun({"q\n1", "q2"}, distinct, fine, 2, docs).status()),
             Contains("query id \"q\\n1\" holds a line feed"));
}

TEST_CASE("ValidateId refuses what a text format cannot hold, quoting the id on one line") {
  for (const char* good : {"1", "doc-7", "MED-10", "\xC3\xA9t\xC3\xA9", "\xF0\x9F\x98\x80", "a\"b", "x/y:z#1"}) {
    INFO(good);
    CHECK(ValidateId(good, "id").ok());
  }
  struct Case { std::string id; std::string message; };
  const std::vector<Case> cases = {
      {"", "empty document id"},
      {"a b", "document id \"a b\" holds a space at byte 1"},
      {"a\tb", "\"a\\tb\" holds a tab"},
      {"a\nb", "\"a\\nb\" holds a line feed"},
      {"a\r", "\"a\\r\" holds a carriage return"},
      {std::string("a\0b", 3), "\"a\\u{0000}b\" holds a control character"},
      {"a\x7F", "holds a control character"},
      {"\xC2\x85x", "\"\\u{0085}x\" holds a line-breaking control character"},
      {"a\xC2\xA0" "b", "\"a\\u{00A0}b\" holds a Unicode space"},
      {"a\xE2\x80\xA8", "holds a line separator"},
      {"\xEF\xBB\xBF" "1", "\"\\u{FEFF}1\" holds a byte order mark at byte 0"},
      {"a\xFF" "b", "\"a\\xFFb\" holds bytes that are not UTF-8 at byte 1"},
      {"\xC0\xAF", "not UTF-8"},          // overlong "/"
      {"\xED\xA0\x80", "not UTF-8"},      // a surrogate
      {"\xF4\x90\x80\x80", "not UTF-8"},  // above U+10FFFF
      {"\xE2\x82", "not UTF-8"},          // truncated
  };
  for (const Case& c : cases) {
    INFO(c.id);
    const absl::Status status = ValidateId(c.id, "document id");
    CHECK(absl::IsInvalidArgument(status));
    CHECK_THAT(Message(status), Contains(c.message));
    CHECK(Message(status).find('\n') == std::string::npos);
  }
  CHECK(QuoteId(std::string(1000, 'x')).size() < 250);
  CHECK(FindInvalidUtf8("ok \xC3\xA9") == absl::string_view::npos);
  CHECK(FindInvalidUtf8("ok\x80") == 2);
}

TEST_CASE("Every reader and add refuses an invalid id, naming file, line and id") {
  const std::string dir = TempDir("bad_ids");
  struct Case { std::string file; std::string content; std::string message; };
  const std::vector<Case> cases = {
      // Regression for the shifted docids: an id with a newline indexed, then split in two.
      {"corpus.jsonl", "{\"_id\": \"ok\", \"text\": \"x\"}\n{\"_id\": \"a\\nb\", \"text\": \"wing\"}\n",
       "corpus.jsonl line 2: document id \"a\\nb\" holds a line feed"},
      {"corpus.jsonl", "{\"_id\": \"a b\", \"text\": \"x\"}\n", "line 1: document id \"a b\" holds a space"},
      {"corpus.jsonl", "{\"_id\": \"\", \"text\": \"x\"}\n", "line 1: empty document id"},
      {"queries.jsonl", "{\"_id\": \"q\\u00a01\", \"text\": \"x\"}\n", "line 1: query id \"q\\u{00A0}1\""},
      {"run.txt", "q1 Q0 a 1 0.5 t\nq1 Q0 b\x01 2 0.4 t\n", "run.txt line 2: document id \"b\\u{0001}\""},
      {"run.txt", "q\x02 Q0 a 1 0.5 t\n", "run.txt line 1: query id \"q\\u{0002}\""},
      {"run.txt", "q Q0 a 1 0.5 t\x7F\n", "run.txt line 1: run tag \"t\\u{007F}\""},
      {"qrels.txt", "q1 0 a\xC2\xA0" "b 1\n", "qrels.txt line 1: document id \"a\\u{00A0}b\""},
      {"qrels.tsv", "query-id\tcorpus-id\tscore\nq1\ta b\t1\n", "qrels.tsv line 2: document id \"a b\""},
      {"topics.tsv", "1\tok\n2 3\ttwo\n", "topics.tsv line 2: query id \"2 3\" holds a space"},
  };
  for (const Case& c : cases) {
    INFO(c.content);
    const std::string path = dir + "/" + c.file;
    WriteFile(path, c.content);
    absl::Status status;
    if (c.file == "corpus.jsonl") status = ReadBeirCorpus(path).status();
    if (c.file == "queries.jsonl") status = ReadBeirQueries(path).status();
    if (c.file == "run.txt") status = ReadTrecRun(path).status();
    if (c.file == "qrels.txt") status = ReadTrecQrels(path).status();
    if (c.file == "qrels.tsv") status = ReadBeirQrels(path).status();
    if (c.file == "topics.tsv") status = ReadTopicsTsv(path).status();
    CHECK(absl::IsInvalidArgument(status));
    CHECK_THAT(Message(status), Contains(c.message));
  }
  Corpus corpus;
  CHECK_THAT(Message(corpus.Add({"a\tb", "", "x"})), Contains("document id \"a\\tb\" holds a tab"));
  CHECK(corpus.size() == 0);
  Queries queries;
  CHECK_THAT(Message(queries.Add({"", "x"})), Contains("empty query id"));
  Qrels qrels;
  CHECK_THAT(Message(qrels.Set("q", "d d", 1)), Contains("document id \"d d\""));
  CHECK(qrels.num_queries() == 0);
  Run run;
  CHECK_THAT(Message(run.AddQuery("q q").status()), Contains("query id \"q q\""));
  const std::size_t q = *run.AddQuery("q");
  CHECK_THAT(Message(run.Append(q, "\xFF", 1.0)), Contains("not UTF-8"));
  CHECK(run.Append(q, "d", 1.0).ok());
  CHECK(run.list(q).size() == 1);
}

TEST_CASE("Line reader: BOM skipped, CRLF, invalid UTF-8 named by file and line") {
  const std::string dir = TempDir("line_reader");
  const std::string bom = "\xEF\xBB\xBF";
  // Regression: a BOM was kept in the first id of TREC runs, qrels and topics ("\ufeff1").
  WriteFile(dir + "/run.txt", bom + "1 Q0 a 1 0.5 t\r\n1 Q0 b 2 0.25 t\r\n");
  auto run = ReadTrecRun(dir + "/run.txt");
  REQUIRE(run.ok());
  CHECK(run->query_ids() == std::vector<std::string>{"1"});
  CHECK(run->list(0).size() == 2);
  WriteFile(dir + "/qrels.txt", bom + "1 0 a 1\r\n");
  auto qrels = ReadTrecQrels(dir + "/qrels.txt");
  REQUIRE(qrels.ok());
  CHECK(qrels->FindQuery("1") == 0);
  WriteFile(dir + "/qrels.tsv", bom + "query-id\tcorpus-id\tscore\r\n1\ta\t2\r\n");
  auto beir = ReadBeirQrels(dir + "/qrels.tsv");
  REQUIRE(beir.ok());
  CHECK(beir->judgments(0)[0].grade == 2);
  WriteFile(dir + "/topics.tsv", bom + "1\tfirst query\r\n\r\n2\tsecond\twith tab\n");
  auto topics = ReadTopicsTsv(dir + "/topics.tsv");
  REQUIRE(topics.ok());
  REQUIRE(topics->size() == 2);
  CHECK((*topics)[0].id == "1");
  CHECK((*topics)[0].text == "first query");
  CHECK((*topics)[1].text == "second\twith tab");
  // A BOM is only a BOM at the start of the file.
  WriteFile(dir + "/topics.tsv", "1\tok\n" + bom + "2\tx\n");
  CHECK_THAT(Message(ReadTopicsTsv(dir + "/topics.tsv").status()), Contains("line 2: query id \"\\u{FEFF}2\""));
  WriteFile(dir + "/topics.tsv", "1\tok\n1\tagain\n");
  CHECK_THAT(Message(ReadTopicsTsv(dir + "/topics.tsv").status()), Contains("topics.tsv line 2: duplicate id \"1\""));
  WriteFile(dir + "/topics.tsv", "\n \n");
  CHECK_THAT(Message(ReadTopicsTsv(dir + "/topics.tsv").status()), Contains("topics.tsv: no queries"));
  // Invalid UTF-8 anywhere in a line, in every format.
  for (const std::string name : {"corpus.jsonl", "queries.jsonl", "run.txt", "qrels.txt", "qrels.tsv", "topics.tsv"}) {
    INFO(name);
    const std::string path = dir + "/" + name;
    const std::string first = name == "corpus.jsonl" || name == "queries.jsonl"
                                  ? "{\"_id\": \"1\", \"text\": \"x\"}\n"
                                  : name == "run.txt" ? "1 Q0 a 1 0.5 t\n"
                                  : name == "qrels.txt" ? "1 0 a 1\n" : "1\ta\t1\n";
    WriteFile(path, first + "ab\xC3(\n");
    absl::Status status;
    if (name == "corpus.jsonl") status = ReadBeirCorpus(path).status();
    if (name == "queries.jsonl") status = ReadBeirQueries(path).status();
    if (name == "run.txt") status = ReadTrecRun(path).status();
    if (name == "qrels.txt") status = ReadTrecQrels(path).status();
    if (name == "qrels.tsv") status = ReadBeirQrels(path).status();
    if (name == "topics.tsv") status = ReadTopicsTsv(path).status();
    CHECK_THAT(Message(status), Contains(path + " line 2: not UTF-8 (byte 0xC3 at byte 3 of the line)"));
  }
}

TEST_CASE("WriteTrecRun writes nothing that ReadTrecRun would refuse") {
  const std::string dir = TempDir("write_refuses");
  const std::string path = dir + "/run.txt";
  auto refused = [&](Run run, const std::string& message) {
    const absl::Status status = WriteTrecRun(path, run);
    CHECK(absl::IsInvalidArgument(status));
    CHECK_THAT(Message(status), Contains(message));
    CHECK(!std::filesystem::exists(path));
  };
  Run run;
  const std::size_t q = *run.AddQuery("q");
  run.list(q) = {{"a", 1.0}, {"b", std::nan("")}};  // the list is open to direct edits
  refused(run, "query \"q\" document \"b\" has a NaN score");
  run.list(q) = {{"a", 1.0}, {"b c", 0.5}};
  refused(run, "document id \"b c\" holds a space");
  run.list(q) = {{"a", 1.0}, {"a", 0.5}};
  refused(run, "query \"q\" lists document \"a\" more than once");
  run.list(q) = {{"a", 1.0}};
  run.name = "my run";
  refused(run, "run tag \"my run\" holds a space");
}

// A seeded generator of hostile but valid values: ids with multi-byte UTF-8 (accents, CJK,
// emoji, combining marks, zero-width joiners), scores at the edges of double.
struct Hostile {
  std::mt19937 rng;
  explicit Hostile(std::uint32_t seed) : rng(seed) {}
  std::string Id() {
    static const std::vector<std::string> pieces = {
        "a", "Z", "0", "9", "-", "_", ".", "/", "#", "\"", "'", "\\", "Q0", "\xC3\xA9", "\xE4\xB8\xAD",
        "\xF0\x9F\x98\x80", "\xCC\x81", "\xE2\x80\x8D", "\xE2\x80\x8B", "\xEF\xBC\xA1", "nan", "inf"};
    std::string id;
    const int n = 1 + static_cast<int>(rng() % 6);
    for (int i = 0; i < n; ++i) id += pieces[rng() % pieces.size()];
    return id;
  }
  double Score() {
    static const std::vector<double> edges = {
        0.0, -0.0, 1e-308, -1e-308, 4.9406564584124654e-324, 2.2250738585072009e-308,
        1.7976931348623157e308, -1.7976931348623157e308, std::numeric_limits<double>::infinity(),
        -std::numeric_limits<double>::infinity(), 0.1, 0.30000000000000004, 1.0 / 3, 0.5, 0.5};
    if (rng() % 3 == 0) {
      double x;
      std::uint64_t bits = (static_cast<std::uint64_t>(rng()) << 32) | rng();
      std::memcpy(&x, &bits, sizeof x);
      if (!std::isnan(x)) return x;
    }
    return edges[rng() % edges.size()];
  }
};

bool SameBits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

// The bytes of `text` with a BOM in front and "\r\n" line ends, as an editor on Windows saves it.
std::string WindowsCopy(const std::string& text) {
  std::string out = "\xEF\xBB\xBF";
  for (char c : text) out += c == '\n' ? std::string("\r\n") : std::string(1, c);
  return out;
}

TEST_CASE("Round trip property: TREC runs and qrels read back exactly what was written") {
  const std::string dir = TempDir("roundtrip");
  for (std::uint32_t seed = 1; seed <= 60; ++seed) {
    INFO("seed " << seed);
    Hostile gen(seed);
    Run run;
    run.name = gen.Id();
    Qrels qrels;
    const int n_queries = 1 + static_cast<int>(gen.rng() % 5);
    for (int i = 0; i < n_queries; ++i) {
      const std::string qid = gen.Id();
      if (run.FindQuery(qid) >= 0) continue;
      const std::size_t q = *run.AddQuery(qid);
      const int n_docs = 1 + static_cast<int>(gen.rng() % 12);
      for (int j = 0; j < n_docs; ++j) {
        const std::string doc = gen.Id();
        bool dup = false;
        for (const auto& e : run.list(q)) dup = dup || e.doc_id == doc;
        if (dup) continue;
        REQUIRE(run.Append(q, doc, gen.Score()).ok());
        REQUIRE(qrels.Set(qid, doc, static_cast<int>(gen.rng() % 7) - 2).ok());
      }
    }
    REQUIRE(WriteTrecRun(dir + "/run.txt", run).ok());
    REQUIRE(WriteTrecQrels(dir + "/qrels.txt", qrels).ok());
    WriteFile(dir + "/run-crlf.txt", WindowsCopy(testing::ReadFile(dir + "/run.txt")));
    WriteFile(dir + "/qrels-crlf.txt", WindowsCopy(testing::ReadFile(dir + "/qrels.txt")));
    for (const std::string suffix : {"", "-crlf"}) {
      auto back = ReadTrecRun(dir + "/run" + suffix + ".txt");
      REQUIRE(back.ok());
      CHECK(back->name == run.name);
      REQUIRE(back->query_ids() == run.query_ids());
      Run sorted = run;
      sorted.SortAndTruncate();  // the file holds each list in trec_eval's order
      for (std::size_t q = 0; q < run.num_queries(); ++q) {
        REQUIRE(back->list(q).size() == sorted.list(q).size());
        for (std::size_t j = 0; j < sorted.list(q).size(); ++j) {
          CHECK(back->list(q)[j].doc_id == sorted.list(q)[j].doc_id);
          CHECK(SameBits(back->list(q)[j].score, sorted.list(q)[j].score));
        }
      }
      auto qback = ReadTrecQrels(dir + "/qrels" + suffix + ".txt");
      REQUIRE(qback.ok());
      REQUIRE(qback->query_ids() == qrels.query_ids());
      for (std::size_t q = 0; q < qrels.num_queries(); ++q) {
        REQUIRE(qback->judgments(q).size() == qrels.judgments(q).size());
        for (std::size_t j = 0; j < qrels.judgments(q).size(); ++j) {
          CHECK(qback->judgments(q)[j].doc_id == qrels.judgments(q)[j].doc_id);
          CHECK(qback->judgments(q)[j].grade == qrels.judgments(q)[j].grade);
        }
      }
    }
  }
}

}  // namespace
}  // namespace densefb
