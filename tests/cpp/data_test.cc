#include <catch2/catch.hpp>

#include <filesystem>

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

}  // namespace
}  // namespace densefb
