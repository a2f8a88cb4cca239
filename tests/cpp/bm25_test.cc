#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "densefb/bm25.h"
#include "densefb/data.h"
#include "densefb/feedback.h"
#include "densefb/file_format.h"
#include "densefb/pipeline.h"
#include "densefb/retrievers.h"
#include "test_util.h"

namespace densefb {
namespace {

using Catch::Matchers::Contains;
using testing::ReadFile;
using testing::TempDir;
using testing::WriteFile;
using Strings = std::vector<std::string>;

TEST_CASE("Porter stemmer: examples of Porter's paper and Lucene's reference departures") {
  const std::map<std::string, std::string> cases = {
      // step 1a
      {"caresses", "caress"}, {"ponies", "poni"}, {"ties", "ti"}, {"caress", "caress"}, {"cats", "cat"},
      // step 1b
      {"feed", "feed"}, {"agreed", "agre"}, {"plastered", "plaster"}, {"bled", "bled"},
      {"motoring", "motor"}, {"sing", "sing"}, {"conflated", "conflat"}, {"troubled", "troubl"},
      {"sized", "size"}, {"hopping", "hop"}, {"tanned", "tan"}, {"falling", "fall"},
      {"hissing", "hiss"}, {"fizzed", "fizz"}, {"failing", "fail"}, {"filing", "file"},
      // step 1c
      {"happy", "happi"}, {"sky", "sky"},
      // step 2
      {"relational", "relat"}, {"conditional", "condit"}, {"rational", "ration"}, {"valenci", "valenc"},
      {"hesitanci", "hesit"}, {"digitizer", "digit"}, {"radicalli", "radic"}, {"differentli", "differ"},
      {"vileli", "vile"}, {"analogousli", "analog"}, {"vietnamization", "vietnam"},
      {"predication", "predic"}, {"operator", "oper"}, {"feudalism", "feudal"}, {"decisiveness", "decis"},
      {"hopefulness", "hope"}, {"callousness", "callous"}, {"formaliti", "formal"},
      {"sensitiviti", "sensit"}, {"sensibiliti", "sensibl"},
      // step 3
      {"triplicate", "triplic"}, {"formative", "form"}, {"formalize", "formal"},
      {"electriciti", "electr"}, {"electrical", "electr"}, {"hopeful", "hope"}, {"goodness", "good"},
      // step 4
      {"revival", "reviv"}, {"allowance", "allow"}, {"inference", "infer"}, {"airliner", "airlin"},
      {"gyroscopic", "gyroscop"}, {"adjustable", "adjust"}, {"defensible", "defens"},
      {"irritant", "irrit"}, {"replacement", "replac"}, {"adjustment", "adjust"},
      {"dependent", "depend"}, {"adoption", "adopt"}, {"homologou", "homolog"}, {"communism", "commun"},
      {"activate", "activ"}, {"angulariti", "angular"}, {"homologous", "homolog"},
      {"effective", "effect"}, {"bowdlerize", "bowdler"},
      // step 5
      {"probate", "probat"}, {"rate", "rate"}, {"cease", "ceas"}, {"controll", "control"}, {"roll", "roll"},
      // Lucene / reference-implementation departures from the paper
      {"conformabli", "conform"}, {"archaeology", "archaeolog"}, {"us", "us"}, {"as", "as"},
      // digits and non-ASCII letters are consonants
      {"1990s", "1990"}, {"naïvely", "naïv"}, {"cafés", "café"}, {"", ""}, {"a", "a"},
  };
  for (const auto& [word, stem] : cases) {
    INFO(word);
    CHECK(PorterStem(word) == stem);
  }
}

TEST_CASE("StandardTokenizer follows the UAX #29 word rules Lucene applies") {
  CHECK(EnglishAnalyzer::Tokenize("Hello, world!") == Strings{"Hello", "world"});
  CHECK(EnglishAnalyzer::Tokenize("Don't stop: U.S.A. e.g. a.b.c a..b") ==
        Strings{"Don't", "stop", "U.S.A", "e.g", "a.b.c", "a", "b"});
  CHECK(EnglishAnalyzer::Tokenize("3.14 1,000,000 2.5mg x1.5 1.a") ==
        Strings{"3.14", "1,000,000", "2.5mg", "x1.5", "1", "a"});
  CHECK(EnglishAnalyzer::Tokenize("covid-19 IL-6 p<0.05 h1n1 snake_case _x_ __") ==
        Strings{"covid", "19", "IL", "6", "p", "0.05", "h1n1", "snake_case", "_x_"});
  CHECK(EnglishAnalyzer::Tokenize("John\u2019s caf\u00e9 cafe\u0301 na\u00efve") ==
        Strings{"John\u2019s", "caf\u00e9", "cafe\u0301", "na\u00efve"});
  CHECK(EnglishAnalyzer::Tokenize("\u6771\u4eac\u30bf\u30ef\u30fc \u3072\u3089 \u0e44\u0e17\u0e22") ==
        Strings{"\u6771", "\u4eac", "\u30bf\u30ef\u30fc", "\u3072", "\u3089", "\u0e44\u0e17\u0e22"});
  CHECK(EnglishAnalyzer::Tokenize("\u00a9 2015 \U0001F600 x\u00b2") == Strings{"\u00a9", "2015", "\U0001F600", "x"});
  CHECK(EnglishAnalyzer::Tokenize("").empty());
  CHECK(EnglishAnalyzer::Tokenize(" ... --- ").empty());
  CHECK(EnglishAnalyzer::Tokenize("bad \xff\xfe utf8") == Strings{"bad", "utf8"});
  const std::string long_word(600, 'x');
  const Strings pieces = EnglishAnalyzer::Tokenize(long_word);
  REQUIRE(pieces.size() == 3);
  CHECK(pieces[0].size() == 255);
  CHECK(pieces[2].size() == 90);
}

bool ValidUtf8(const std::string& s) {
  for (std::size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    const std::size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (std::size_t j = 1; j < n; ++j) {
      if ((static_cast<unsigned char>(s[i + j]) & 0xC0) != 0x80) return false;
    }
    i += n;
  }
  return true;
}

TEST_CASE("EnglishAnalyzer survives arbitrary bytes and mixed scripts") {
  const std::vector<std::string> pieces = {
      "a", "Z", "7", "_", ".", ",", "'", ":", ";", " ", "\n", "-", "\xe2\x80\x99", "\xcc\x81",
      "\xe2\x80\x8d", "\xe6\x9d\xb1", "\xe3\x82\xbf", "\xe0\xb9\x84", "\xf0\x9f\x98\x80", "\xc3\xa9",
      "\xff", "\xc3", "\xed\xa0\x80", "\xf0\x9f\x87\xba", "'s", "ies", "ational", "\xc2\xa9"};
  std::mt19937 gen(7);
  const EnglishAnalyzer english;
  for (int trial = 0; trial < 3000; ++trial) {
    std::string text;
    const int len = static_cast<int>(gen() % 60);
    for (int i = 0; i < len; ++i) text += pieces[gen() % pieces.size()];
    for (const std::string& term : english.Analyze(text)) {
      INFO(text);
      CHECK_FALSE(term.empty());
      CHECK(ValidUtf8(term));
    }
    for (const std::string& token : EnglishAnalyzer::Tokenize(text)) CHECK(ValidUtf8(token));
  }
}

TEST_CASE("EnglishAnalyzer: possessives, lower case, stop words, stemming; each switchable") {
  const EnglishAnalyzer english;
  CHECK(english.Analyze("The John's PONIES were Running, it's relational!") ==
        Strings{"john", "poni", "were", "run", "relat"});
  CHECK(english.Analyze("the of and a an ...").empty());
  CHECK(EnglishAnalyzer({false, Stemmer::kPorter}).Analyze("The ponies") == Strings{"the", "poni"});
  CHECK(EnglishAnalyzer({true, Stemmer::kNone}).Analyze("The ponies") == Strings{"ponies"});
  CHECK(EnglishStopWords().size() == 33);
  CHECK(IsEnglishStopWord("there"));
  CHECK_FALSE(IsEnglishStopWord("which"));
  CHECK(ParseStemmer("Porter").value() == Stemmer::kPorter);
  CHECK(ParseStemmer("none").value() == Stemmer::kNone);
  CHECK_FALSE(ParseStemmer("krovetz").ok());
}

// Three documents whose analysed forms are easy to count by hand:
//   d0 "cat chase mice"        (3 terms)
//   d1 "dog chase cat cat run" (5 terms; "and" is a stop word)
//   d2 "mous hide"             (2 terms; "A" is a stop word)
std::unique_ptr<Bm25Index> TinyIndex(Bm25Params params = {}) {
  Bm25BuildOptions options;
  options.bm25 = params;
  return Bm25Index::Build(Strings{"d0", "d1", "d2"},
                          Strings{"Cats chase mice.", "Dogs chase cats and cats run.", "A mouse hides."},
                          options)
      .value();
}

double Bm25(double tf, double df, double n, double dl, double avgdl, double k1 = 0.9, double b = 0.4) {
  const double idf = std::log(1 + (n - df + 0.5) / (df + 0.5));
  return idf * tf / (tf + k1 * (1 - b + b * dl / avgdl));
}

TEST_CASE("BM25 on a tiny corpus equals the formula computed by hand") {
  const auto index = TinyIndex();
  REQUIRE(index->num_docs() == 3);
  CHECK(index->doc_count() == 3);
  CHECK(index->total_terms() == 10);
  CHECK(index->avgdl() == Approx(10.0 / 3));
  CHECK(index->DocLength(1) == 5);
  const std::int32_t cat = index->TermId("cat");
  REQUIRE(cat >= 0);
  CHECK(index->DocFreq(cat) == 2);
  CHECK(index->TermId("and") == -1);

  const double avgdl = 10.0 / 3;
  const BatchRanking r = index->Search(Strings{"cats", "chasing mice", "the", ""}, 10).value();
  REQUIRE(r.size() == 4);
  REQUIRE(r.lists[0].size() == 2);
  CHECK(r.lists[0][0].id == 1);  // tf 2 beats tf 1
  CHECK(r.lists[0][0].score == Approx(Bm25(2, 2, 3, 5, avgdl)).epsilon(1e-6));
  CHECK(r.lists[0][1].id == 0);
  CHECK(r.lists[0][1].score == Approx(Bm25(1, 2, 3, 3, avgdl)).epsilon(1e-6));
  // "chasing mice" -> chase (df 2) + mice (df 1)
  REQUIRE(r.lists[1].size() == 2);
  CHECK(r.lists[1][0].id == 0);
  CHECK(r.lists[1][0].score == Approx(Bm25(1, 2, 3, 3, avgdl) + Bm25(1, 1, 3, 3, avgdl)).epsilon(1e-6));
  CHECK(r.lists[1][1].score == Approx(Bm25(1, 2, 3, 5, avgdl)).epsilon(1e-6));
  CHECK(r.lists[2].empty());  // stop words only
  CHECK(r.lists[3].empty());  // empty query

  // A repeated query term counts once per occurrence.
  const auto twice = index->Score("cats cats", std::vector<std::int64_t>{1, 2}).value();
  CHECK(twice[0] == Approx(2 * Bm25(2, 2, 3, 5, avgdl)).epsilon(1e-6));
  CHECK(twice[1] == 0.0f);
  // Score() gives the same float as Search().
  CHECK(index->Score("cats", std::vector<std::int64_t>{1}).value()[0] == r.lists[0][0].score);
  CHECK(index->Score("cats", std::vector<std::int64_t>{3}).status().code() == absl::StatusCode::kOutOfRange);
  // k limits the list; k = 0 gives empty lists; k < 0 is an error.
  CHECK(index->Search(Strings{"cats"}, 1).value().lists[0].size() == 1);
  CHECK(index->Search(Strings{"cats"}, 0).value().lists[0].empty());
  CHECK_FALSE(index->Search(Strings{"cats"}, -1).ok());

  // Other parameters, and weighted queries.
  Bm25Params p;
  p.k1 = 1.2f;
  p.b = 0.75f;
  const auto other = TinyIndex(p);
  CHECK(other->Score("cats", std::vector<std::int64_t>{0}).value()[0] ==
        Approx(Bm25(1, 2, 3, 3, avgdl, 1.2, 0.75)).epsilon(1e-6));
  const WeightedQuery wq = {{"cat", 0.5f}, {"run", 2.0f}, {"unknown", 1.0f}};
  CHECK(index->Score(wq, std::vector<std::int64_t>{1}).value()[0] ==
        Approx(0.5 * Bm25(2, 2, 3, 5, avgdl) + 2 * Bm25(1, 1, 3, 5, avgdl)).epsilon(1e-6));
  CHECK_FALSE(Bm25Index::Build(Strings{}, Strings{"x"}, {{}, {0.9f, 2.0f}, 0}).ok());  // b > 1
}

TEST_CASE("Lucene norm quantisation is the default; exact lengths are an option; files keep the flag") {
  // A 100-token document: Lucene stores its length as 96 (SmallFloat.intToByte4); avgdl is exact.
  std::string long_doc;
  for (int i = 0; i < 99; ++i) long_doc += "filler" + std::to_string(i) + " ";
  long_doc += "target";
  const Strings texts = {long_doc, "target short"};
  const double avgdl = 102.0 / 2;
  CHECK(Bm25Params{}.lucene_norms);
  const auto quantised = Bm25Index::Build(Strings{}, texts).value();
  CHECK(quantised->params().lucene_norms);
  const auto s = quantised->Score("target", std::vector<std::int64_t>{0, 1}).value();
  CHECK(s[0] == Approx(Bm25(1, 2, 2, 96, avgdl)).epsilon(1e-6));
  CHECK(s[1] == Approx(Bm25(1, 2, 2, 2, avgdl)).epsilon(1e-6));

  Bm25BuildOptions exact_options;
  exact_options.bm25.lucene_norms = false;
  const auto exact = Bm25Index::Build(Strings{}, texts, exact_options).value();
  const auto e = exact->Score("target", std::vector<std::int64_t>{0, 1}).value();
  CHECK(e[0] == Approx(Bm25(1, 2, 2, 100, avgdl)).epsilon(1e-6));
  CHECK(e[1] == s[1]);

  // The flag is stored in the file and Load keeps it: an index saved with exact lengths (as
  // every index built with the earlier default was) still scores with exact lengths.
  const std::string dir = TempDir("bm25_norms");
  REQUIRE(exact->Save(dir + "/exact").ok());
  REQUIRE(quantised->Save(dir + "/quantised").ok());
  const auto le = Bm25Index::Load(dir + "/exact").value();
  const auto lq = Bm25Index::Load(dir + "/quantised").value();
  CHECK_FALSE(le->params().lucene_norms);
  CHECK(lq->params().lucene_norms);
  CHECK(le->Score("target", std::vector<std::int64_t>{0}).value()[0] == e[0]);
  CHECK(lq->Score("target", std::vector<std::int64_t>{0}).value()[0] == s[0]);
  // SetParams switches either way.
  Bm25Params p = le->params();
  p.lucene_norms = true;
  REQUIRE(le->SetParams(p).ok());
  CHECK(le->Score("target", std::vector<std::int64_t>{0}).value()[0] == s[0]);
}

TEST_CASE("RM3 expansion of a tiny corpus by hand") {
  // Ten documents so that a term in one of them has df / N = 0.1 (kept) and one in two has 0.2
  // (dropped by the 10% rule).
  Strings texts = {"apple banana banana cherry", "apple durian", "zebra", "yak", "xenon",
                   "walrus", "vulture", "urchin", "tiger", "sloth"};
  const std::shared_ptr<const Bm25Index> index = Bm25Index::Build(Strings{}, texts).value();
  const WeightedQuery q = index->AnalyzeQuery("apple");
  REQUIRE(q.size() == 1);
  const BatchRanking first = index->Search(Strings{"apple"}, 10).value();
  REQUIRE(first.lists[0].size() == 2);
  Rm3Options o;
  const WeightedQuery rm3 = Rm3ExpandQuery(*index, q, first.lists[0], o).value();
  // Feedback vectors: d0 {banana 2, cherri 1} (appl has df 2/10 > 0.1), d1 {durian 1}.
  const double s0 = first.lists[0][0].score, s1 = first.lists[0][1].score;
  REQUIRE(first.lists[0][0].id == 1);  // the shorter document ranks first
  const double banana = 2.0 / 3 * s1, cherri = 1.0 / 3 * s1, durian = s0;
  const double total = banana + cherri + durian;
  std::map<std::string, double> got;
  for (const auto& [t, w] : rm3) got[t] = w;
  REQUIRE(got.size() == 4);
  CHECK(got["appl"] == Approx(0.5));
  CHECK(got["banana"] == Approx(0.5 * banana / total));
  CHECK(got["cherri"] == Approx(0.5 * cherri / total));
  CHECK(got["durian"] == Approx(0.5 * durian / total));
  // fb_terms = 1: each document keeps its best term, the model keeps the best overall.
  o.fb_terms = 1;
  const WeightedQuery one = Rm3ExpandQuery(*index, q, first.lists[0], o).value();
  REQUIRE(one.size() == 2);
  CHECK(one[0].second == Approx(0.5));
  // The pipeline bm25 >> rm3 leaves the expansion in the query state; bm25 >> rm3 >> bm25
  // ranks with it.
  const auto bm25 = std::make_shared<Bm25Retriever>(index);
  const auto model = std::make_shared<Rm3>(index);
  QueryState state;
  state.query_ids = {"q1", "q2"};
  state.query_texts = {"apple", "the"};
  state.options.num_threads = 1;
  REQUIRE((bm25 >> model).Run(state).ok());
  const std::vector<WeightedQuery>& expanded = state.bm25_queries;
  REQUIRE(expanded.size() == 2);
  CHECK(expanded[0] == Rm3ExpandQuery(*index, q, first.lists[0], Rm3Options{}).value());
  state.bm25_queries.clear();
  const BatchRanking second =
      (bm25 >> model >> std::make_shared<Bm25Retriever>(index, Bm25Retriever::Config{5, -1, -1})).Run(state).value();
  CHECK(expanded[0].size() == 4);
  CHECK(expanded[1].empty());
  CHECK(second.lists[1].empty());
  CHECK(second.lists[0].size() == 2);
  o.fb_terms = 0;
  CHECK_FALSE(Rm3ExpandQuery(*index, q, first.lists[0], o).ok());
}

TEST_CASE("Bm25Index save / load round trip and corrupt files") {
  const std::string dir = TempDir("bm25");
  const auto index = TinyIndex();
  const std::string path = dir + "/tiny.bm25";
  REQUIRE(index->Save(path).ok());
  const auto loaded = Bm25Index::Load(path);
  REQUIRE(loaded.ok());
  const Bm25Index& l = **loaded;
  CHECK(l.doc_names() == index->doc_names());
  CHECK(l.num_terms() == index->num_terms());
  CHECK(l.avgdl() == index->avgdl());
  for (std::int64_t d = 0; d < 3; ++d) {
    CHECK(std::vector<std::int32_t>(l.DocTerms(d).begin(), l.DocTerms(d).end()) ==
          std::vector<std::int32_t>(index->DocTerms(d).begin(), index->DocTerms(d).end()));
  }
  const Strings queries = {"cats", "chasing mice", "mouse dogs"};
  const BatchRanking a = index->Search(queries, 10).value(), b = l.Search(queries, 10).value();
  for (std::size_t q = 0; q < queries.size(); ++q) {
    REQUIRE(a.lists[q].size() == b.lists[q].size());
    for (std::size_t j = 0; j < a.lists[q].size(); ++j) {
      CHECK(a.lists[q][j].id == b.lists[q][j].id);
      CHECK(a.lists[q][j].score == b.lists[q][j].score);
    }
  }

  const std::string bytes = ReadFile(path);
  WriteFile(dir + "/cut", bytes.substr(0, bytes.size() - 3));
  CHECK(Bm25Index::Load(dir + "/cut").status().code() == absl::StatusCode::kDataLoss);
  std::string flipped = bytes;
  flipped[bytes.size() / 2] ^= 0x04;
  WriteFile(dir + "/flip", flipped);
  const auto bad = Bm25Index::Load(dir + "/flip");
  CHECK(bad.status().code() == absl::StatusCode::kDataLoss);
  CHECK_THAT(std::string(bad.status().message()), Contains("flip"));
  CHECK(Bm25Index::Load(dir + "/missing").status().code() == absl::StatusCode::kNotFound);

  // An empty corpus saves and loads, and searches to nothing.
  const auto empty = Bm25Index::Build(Strings{}, Strings{}).value();
  REQUIRE(empty->Save(dir + "/empty").ok());
  const auto e = Bm25Index::Load(dir + "/empty").value();
  CHECK(e->num_docs() == 0);
  CHECK(e->Search(Strings{"anything"}, 5).value().lists[0].empty());
}

// Writes a "BM25" container with the given structures (valid checksums), to reach Load's own
// validation.
struct RawIndex {
  std::uint32_t stopwords = 1, stemmer = 1;
  float k1 = 0.9f, b = 0.4f;
  std::uint32_t lucene_norms = 0;
  std::uint64_t n_override = 0;  // if nonzero, the document count written
  Strings names = {"d0", "d1"};
  std::vector<std::int32_t> lengths = {1, 1};
  Strings terms = {"x"};
  std::vector<std::uint64_t> offsets = {0, 2};
  std::vector<std::int32_t> docs = {0, 1};
  std::vector<std::int32_t> freqs = {1, 1};

  void Write(const std::string& path) const {
    auto w = AtomicFileWriter::Open(path, "BM25", 1).value();
    REQUIRE(w->WritePod(stopwords).ok());
    REQUIRE(w->WritePod(stemmer).ok());
    REQUIRE(w->WritePod(k1).ok());
    REQUIRE(w->WritePod(b).ok());
    REQUIRE(w->WritePod(lucene_norms).ok());
    REQUIRE(w->WritePod<std::uint64_t>(n_override ? n_override : names.size()).ok());
    for (const auto& s : names) REQUIRE(w->WriteString(s).ok());
    REQUIRE(w->Write(lengths.data(), lengths.size() * 4).ok());
    REQUIRE(w->WritePod<std::uint64_t>(terms.size()).ok());
    for (const auto& s : terms) REQUIRE(w->WriteString(s).ok());
    REQUIRE(w->Write(offsets.data(), offsets.size() * 8).ok());
    REQUIRE(w->WritePod<std::uint64_t>(docs.size()).ok());
    REQUIRE(w->Write(docs.data(), docs.size() * 4).ok());
    REQUIRE(w->Write(freqs.data(), freqs.size() * 4).ok());
    REQUIRE(w->Commit().ok());
  }
};

TEST_CASE("Bm25Index::Load validates every structure") {
  const std::string dir = TempDir("bm25_raw");
  const std::string path = dir + "/raw";
  auto load_error = [&](const RawIndex& raw) {
    raw.Write(path);
    return std::string(Bm25Index::Load(path).status().message());
  };
  RawIndex good;
  good.Write(path);
  REQUIRE(Bm25Index::Load(path).ok());
  CHECK(Bm25Index::Load(path).value()->Search(Strings{"x"}, 5).value().lists[0].size() == 2);

  RawIndex r = good;
  r.docs = {1, 0};
  CHECK_THAT(load_error(r), Contains("not increasing"));
  r = good;
  r.docs = {0, 7};
  CHECK_THAT(load_error(r), Contains("out of range"));
  r = good;
  r.freqs = {1, 0};
  CHECK_THAT(load_error(r), Contains("frequency"));
  r = good;
  r.lengths = {1, 3};
  CHECK_THAT(load_error(r), Contains("add up"));
  r = good;
  r.terms = {"x", "x"};
  r.offsets = {0, 1, 2};
  CHECK_THAT(load_error(r), Contains("twice"));
  r = good;
  r.offsets = {0, 3};
  CHECK_THAT(load_error(r), Contains("does not match"));
  r = good;
  r.n_override = std::uint64_t{1} << 40;  // cannot fit in the payload
  CHECK_FALSE(load_error(r).empty());
  r = good;
  r.b = 3.0f;
  CHECK_THAT(load_error(r), Contains("b = 3"));
  r = good;
  r.stemmer = 9;
  CHECK_THAT(load_error(r), Contains("stemmer"));
  r = good;
  r.terms = {""};
  CHECK_THAT(load_error(r), Contains("empty"));
}

TEST_CASE("Bm25Index on SciFact: deterministic over threads, consistent scores") {
  const std::string dir = testing::DataDir() + "/scifact";
  if (!std::filesystem::exists(dir + "/corpus.jsonl.gz") && !std::filesystem::exists(dir + "/corpus.jsonl")) {
    DENSEFB_SKIP("SciFact not found under " << dir);
  }
  const BeirDataset data = LoadBeirDataset(dir, "test").value();
  Bm25BuildOptions one, many;
  one.num_threads = 1;
  many.num_threads = 3;
  const auto a = Bm25Index::Build(data.corpus, one).value();
  const auto b = Bm25Index::Build(data.corpus, many).value();
  CHECK(a->num_docs() == 5183);
  CHECK(a->num_terms() == b->num_terms());
  CHECK(a->num_postings() == b->num_postings());
  Strings queries;
  for (const Query& q : data.queries.queries()) queries.push_back(q.text);
  const BatchRanking ra = a->Search(queries, 100, 1).value();
  const BatchRanking rb = b->Search(queries, 100, 4).value();
  std::size_t nonempty = 0;
  for (std::size_t q = 0; q < queries.size(); ++q) {
    REQUIRE(ra.lists[q].size() == rb.lists[q].size());
    nonempty += !ra.lists[q].empty();
    for (std::size_t j = 0; j < ra.lists[q].size(); ++j) {
      CHECK(ra.lists[q][j].id == rb.lists[q][j].id);
      CHECK(ra.lists[q][j].score == rb.lists[q][j].score);
      if (j > 0) CHECK_FALSE(RanksBefore(ra.lists[q][j], ra.lists[q][j - 1]));
    }
  }
  CHECK(nonempty == queries.size());
  const auto s = a->Score(queries[0], std::vector<std::int64_t>{ra.lists[0][0].id}).value();
  CHECK(s[0] == ra.lists[0][0].score);
}

// ---- sharded collections -------------------------------------------------------------------

// 60 documents of pseudo-random terms t0..t199 (skewed towards small numbers, so dfs vary),
// lengths 0..89 (beyond 40 Lucene's norms are lossy), and a document of stop words only.
Strings ShardCorpus() {
  Strings texts;
  std::uint64_t x = 12345;
  auto next = [&x](std::uint64_t m) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    return (x >> 33) % m;
  };
  for (int d = 0; d < 60; ++d) {
    std::string text;
    const std::uint64_t len = d == 7 ? 0 : next(90);
    for (std::uint64_t i = 0; i < len; ++i) text += "t" + std::to_string(next(1 + next(200))) + " ";
    if (d == 13) text = "the and of";
    texts.push_back(text);
  }
  return texts;
}

struct Shards {
  std::vector<std::unique_ptr<Bm25Index>> shards;
  std::vector<std::int64_t> offsets;
  Bm25CollectionStats stats;
};

// Uneven contiguous shards [0, 11), [11, 47), [47, 60) with the collection's statistics.
Shards MakeShards(const Strings& texts, const Bm25BuildOptions& options) {
  Shards out;
  const std::int64_t bounds[] = {0, 11, 47, 60};
  std::vector<Bm25CollectionStats> local;
  for (int i = 0; i < 3; ++i) {
    const Strings part(texts.begin() + bounds[i], texts.begin() + bounds[i + 1]);
    out.shards.push_back(Bm25Index::Build(Strings{}, part, options).value());
    out.offsets.push_back(bounds[i]);
    local.push_back(out.shards.back()->LocalStats());
  }
  out.stats = Bm25CollectionStats::Merge(local).value();
  for (auto& s : out.shards) REQUIRE(s->SetCollectionStats(out.stats).ok());
  return out;
}

// The shards' top-k lists merged: score descending, ties by the smaller global id.
Ranking MergedSearch(const Shards& s, const std::string& query, std::int64_t k) {
  Ranking all;
  for (std::size_t i = 0; i < s.shards.size(); ++i) {
    const BatchRanking r = s.shards[i]->Search(Strings{query}, k).value();
    for (const ScoredDoc& d : r.lists[0]) all.push_back({d.id + s.offsets[i], d.score});
  }
  SortRanking(all, k);
  return all;
}

const Strings kShardQueries = {"t1 t5 t17", "t3 t3 t150", "t0", "t42 t99 t7 t2", "t180 t190 t2 t8 t8 t8"};

void CheckShardsEqualSingle(const Bm25Index& single, const Shards& s) {
  for (const std::string& q : kShardQueries) {
    CAPTURE(q);
    const Ranking want = single.Search(Strings{q}, 1000).value().lists[0];
    const Ranking got = MergedSearch(s, q, 1000);
    REQUIRE(got.size() == want.size());
    for (std::size_t r = 0; r < want.size(); ++r) {
      CHECK(got[r].id == want[r].id);
      CHECK(got[r].score == want[r].score);  // bit-equal
    }
    for (std::size_t i = 0; i < s.shards.size(); ++i) {
      for (std::int64_t d = 0; d < s.shards[i]->num_docs(); ++d) {
        const std::int64_t g = d + s.offsets[i];
        CHECK(s.shards[i]->Score(q, std::vector<std::int64_t>{d}).value()[0] ==
              single.Score(q, std::vector<std::int64_t>{g}).value()[0]);
      }
    }
  }
}

TEST_CASE("Shards scoring with the collection's statistics equal one index over the collection") {
  const Strings texts = ShardCorpus();
  for (const bool lucene_norms : {true, false}) {
    CAPTURE(lucene_norms);
    Bm25BuildOptions options;
    options.bm25.lucene_norms = lucene_norms;
    options.num_threads = 1;
    const auto single = Bm25Index::Build(Strings{}, texts, options).value();
    REQUIRE(single->doc_count() < single->num_docs());  // empty and stop-word-only documents
    Shards s = MakeShards(texts, options);
    const Bm25CollectionStats whole = single->LocalStats();
    CHECK(s.stats.num_docs == whole.num_docs);
    CHECK(s.stats.doc_count == whole.doc_count);
    CHECK(s.stats.total_terms == whole.total_terms);
    CHECK(s.stats.doc_freqs == whole.doc_freqs);
    for (const auto& shard : s.shards) {
      CHECK(shard->has_collection_stats());
      CHECK(shard->avgdl() == single->avgdl());
      CHECK(shard->CollectionNumDocs() == 60);
      const std::int32_t t = shard->TermId("t1");
      CHECK(shard->CollectionDocFreq(t) == single->DocFreq(single->TermId("t1")));
      CHECK(shard->DocFreq(t) < shard->CollectionDocFreq(t));
    }
    CheckShardsEqualSingle(*single, s);
    // Rescore on a shard and SearchWeighted
    const BatchRanking cand{{{{0, 0.0f}, {3, 0.0f}, {9, 0.0f}}}};
    const BatchRanking rescored = s.shards[2]->Rescore(Strings{kShardQueries[0]}, cand).value();
    for (const ScoredDoc& d : rescored.lists[0]) {
      CHECK(d.score == single->Score(kShardQueries[0], std::vector<std::int64_t>{d.id + 47}).value()[0]);
    }
    const WeightedQuery wq = {{"t1", 0.25f}, {"t5", 1.5f}, {"t17", 0.75f}};
    const Ranking w_single = single->SearchWeighted({wq}, 1000).value().lists[0];
    const Ranking w_shard = s.shards[1]->SearchWeighted({wq}, 1000).value().lists[0];
    for (const ScoredDoc& d : w_shard) {
      auto it = std::find_if(w_single.begin(), w_single.end(), [&](const ScoredDoc& e) { return e.id == d.id + 11; });
      REQUIRE(it != w_single.end());
      CHECK(it->score == d.score);
    }
    // SetParams keeps the collection statistics.
    Bm25Params p = single->params();
    p.k1 = 1.2f;
    p.b = 0.75f;
    REQUIRE(single->SetParams(p).ok());
    for (auto& shard : s.shards) REQUIRE(shard->SetParams(p).ok());
    CheckShardsEqualSingle(*single, s);
    // Without them, shards score with their own statistics: the oracle above can fail.
    s.shards[0]->ClearCollectionStats();
    CHECK_FALSE(s.shards[0]->has_collection_stats());
    CHECK(s.shards[0]->Score(kShardQueries[0], std::vector<std::int64_t>{0}).value()[0] !=
          single->Score(kShardQueries[0], std::vector<std::int64_t>{0}).value()[0]);
  }
}

TEST_CASE("Collection statistics that cannot hold the index are refused, naming the problem") {
  const Strings texts = ShardCorpus();
  Shards s = MakeShards(texts, {});
  Bm25Index& shard = *s.shards[0];
  const float before = shard.Score("t1", std::vector<std::int64_t>{0}).value()[0];
  const std::string term = shard.Term(0);
  auto message = [&](const Bm25CollectionStats& bad) {
    const absl::Status st = shard.SetCollectionStats(bad);
    CHECK(st.code() == absl::StatusCode::kInvalidArgument);
    return std::string(st.message());
  };
  Bm25CollectionStats bad = s.stats;
  bad.doc_freqs.erase(term);
  CHECK_THAT(message(bad), Contains("term \"" + term + "\"") && Contains("missing"));
  bad = s.stats;
  bad.doc_freqs[term] = shard.DocFreq(0) - 1;
  CHECK_THAT(message(bad), Contains("doc_freq of term \"" + term + "\"") && Contains("smaller than this index's own"));
  bad = s.stats;
  bad.doc_freqs[term] = bad.doc_count + 1;
  CHECK_THAT(message(bad), Contains("exceeds doc_count"));
  bad = s.stats;
  bad.doc_freqs["elsewhere"] = -1;
  CHECK_THAT(message(bad), Contains("doc_freq of term \"elsewhere\" = -1 is negative"));
  bad = s.stats;
  bad.num_docs = 5;
  CHECK_THAT(message(bad), Contains("num_docs = 5 is smaller than this index's own (11)"));
  bad = s.stats;
  bad.total_terms = -3;
  CHECK_THAT(message(bad), Contains("total_terms = -3 is negative"));
  bad = s.stats;
  bad.doc_count = bad.num_docs + 1;
  CHECK_THAT(message(bad), Contains("doc_count"));
  // A refused call changes nothing.
  CHECK(shard.Score("t1", std::vector<std::int64_t>{0}).value()[0] == before);
  // Merge names the shard.
  Bm25CollectionStats neg;
  neg.doc_count = -2;
  const auto merged = Bm25CollectionStats::Merge({s.stats, neg});
  REQUIRE_FALSE(merged.ok());
  CHECK_THAT(std::string(merged.status().message()), Contains("shard 1") && Contains("doc_count = -2 is negative"));
  Bm25CollectionStats big;
  big.num_docs = std::numeric_limits<std::int64_t>::max();
  CHECK_THAT(std::string(Bm25CollectionStats::Merge({s.stats, big}).status().message()),
             Contains("num_docs") && Contains("exceeds"));
}

TEST_CASE("RM3 on explicit feedback documents equals RM3 on the index, also across shards") {
  const Strings texts = ShardCorpus();
  Bm25BuildOptions options;
  options.num_threads = 1;
  const auto single = Bm25Index::Build(Strings{}, texts, options).value();
  const Shards s = MakeShards(texts, options);
  for (const std::string& text : kShardQueries) {
    CAPTURE(text);
    const WeightedQuery q = single->AnalyzeQuery(text);
    for (const int fb_terms : {3, 10}) {
      Rm3Options o;
      o.fb_terms = fb_terms;
      o.fb_docs = 5;
      const Ranking first = single->Search(Strings{text}, o.fb_docs).value().lists[0];
      const WeightedQuery want = Rm3ExpandQuery(*single, q, first, o).value();
      REQUIRE(!want.empty());
      // by hand from the forward index, terms in reverse order
      std::vector<Rm3FeedbackDoc> docs;
      for (const ScoredDoc& d : first) {
        Rm3FeedbackDoc doc;
        doc.score = d.score;
        const auto terms = single->DocTerms(d.id);
        const auto freqs = single->DocFreqs(d.id);
        for (std::size_t e = terms.size(); e-- > 0;) {
          doc.terms.push_back({single->Term(terms[e]), freqs[e], single->DocFreq(terms[e])});
        }
        docs.push_back(std::move(doc));
      }
      CHECK(Rm3Expand(q, docs, single->num_docs(), o).value() == want);
      // from the shards holding the documents, with the shards' first passes merged
      const Ranking merged = MergedSearch(s, text, o.fb_docs);
      REQUIRE(merged.size() == first.size());
      std::vector<Rm3FeedbackDoc> from_shards;
      for (const ScoredDoc& d : merged) {
        std::size_t i = s.offsets.size() - 1;
        while (s.offsets[i] > d.id) --i;
        const Ranking one = {{d.id - s.offsets[i], d.score}};
        from_shards.push_back(Rm3FeedbackDocs(*s.shards[i], one).value()[0]);
      }
      CHECK(Rm3Expand(q, from_shards, s.stats.num_docs, o).value() == want);
      // Rm3ExpandQuery on a shard reads the collection's num_docs and dfs: a feedback list of
      // the shard's own documents expands as on the single index.
      const Ranking local = s.shards[1]->Search(Strings{text}, o.fb_docs).value().lists[0];
      Ranking global = local;
      for (ScoredDoc& d : global) d.id += 11;
      CHECK(Rm3ExpandQuery(*s.shards[1], q, local, o).value() == Rm3ExpandQuery(*single, q, global, o).value());
    }
  }
  // Invalid feedback documents name the document and term.
  const WeightedQuery q = {{"t1", 1.0f}};
  std::vector<Rm3FeedbackDoc> docs(2);
  docs[0] = {1.0f, {{"t2", 1, 1}}};
  docs[1] = {0.5f, {{"t3", 1, 1}, {"t3", 2, 1}}};
  CHECK_THAT(std::string(Rm3Expand(q, docs, 60, {}).status().message()),
             Contains("feedback document 1: term \"t3\" is repeated"));
  docs[1] = {0.5f, {{"t3", 0, 1}}};
  CHECK_THAT(std::string(Rm3Expand(q, docs, 60, {}).status().message()), Contains("tf = 0"));
  docs[1] = {0.5f, {{"t3", 1, 61}}};
  CHECK_THAT(std::string(Rm3Expand(q, docs, 60, {}).status().message()), Contains("df = 61 outside [1, num_docs = 60]"));
  docs[1] = {std::numeric_limits<float>::infinity(), {}};
  CHECK_THAT(std::string(Rm3Expand(q, docs, 60, {}).status().message()), Contains("feedback document 1: score"));
  CHECK(Rm3Expand(q, docs, 60, Rm3Options{1, 1, 0.5f, true}).ok());  // only the first fb_docs are read
  CHECK(Rm3FeedbackDocs(*single, {{60, 1.0f}}).status().code() == absl::StatusCode::kOutOfRange);
}


// ---- live updates ---------------------------------------------------------------------------

namespace live {

// Texts over a small vocabulary (many shared terms, ties, stop words, empty documents), so that
// each change moves N, df and avgdl.
std::string RandomText(std::mt19937* rng) {
  static const Strings words = {"the", "of", "cell", "cells", "protein", "gene", "genes", "tumor", "growth",
                                "virus", "immune", "response", "mouse", "human", "signal", "binding",
                                "receptor", "expression", "level", "drug", "dose", "trial", "risk", "blood"};
  std::uniform_int_distribution<int> len(0, 14), word(0, static_cast<int>(words.size()) - 1), rare(0, 40);
  std::string out;
  const int n = len(*rng) == 0 ? 0 : len(*rng) + 1;
  for (int i = 0; i < n; ++i) {
    if (!out.empty()) out += ' ';
    const int r = rare(*rng);
    out += r < 3 ? "rare" + std::to_string(rare(*rng)) : words[static_cast<std::size_t>(word(*rng))];
  }
  return out;
}

const Strings kQueries = {"cell growth", "protein binding receptor", "tumor tumor risk", "rare3 rare7 gene",
                          "the of", "immune response in mouse and human", "drug dose trial blood level"};

bool Same(const BatchRanking& a, const BatchRanking& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t q = 0; q < a.size(); ++q) {
    if (a.lists[q].size() != b.lists[q].size()) return false;
    for (std::size_t j = 0; j < a.lists[q].size(); ++j) {
      if (a.lists[q][j].id != b.lists[q][j].id || a.lists[q][j].score != b.lists[q][j].score) return false;
    }
  }
  return true;
}

// The live collection as a list in id order, the oracle of the index under test.
struct Model {
  Strings names, texts;
  std::int64_t Find(const std::string& name) const {
    auto it = std::find(names.begin(), names.end(), name);
    return it == names.end() ? -1 : it - names.begin();
  }
};

// Every query's full ranking (names and exact scores) and the statistics equal a fresh build's.
void CheckEqualsFresh(const Bm25Index& index, const Model& m, const Bm25BuildOptions& options) {
  const auto fresh = Bm25Index::Build(m.names, m.texts, options).value();
  CHECK(index.num_docs() == fresh->num_docs());
  CHECK(index.doc_count() == fresh->doc_count());
  CHECK(index.total_terms() == fresh->total_terms());
  CHECK(index.avgdl() == fresh->avgdl());
  const Bm25CollectionStats a = index.LocalStats(), b = fresh->LocalStats();
  CHECK(a.num_docs == b.num_docs);
  CHECK(a.doc_freqs == b.doc_freqs);
  const Strings names = index.DocNames();
  for (const std::int64_t k : {3, 10, 1000}) {
    const BatchRanking got = index.Search(kQueries, k, 1).value();
    const BatchRanking want = fresh->Search(kQueries, k, 1).value();
    for (std::size_t q = 0; q < kQueries.size(); ++q) {
      REQUIRE(got.lists[q].size() == want.lists[q].size());
      for (std::size_t j = 0; j < got.lists[q].size(); ++j) {
        CHECK(names[static_cast<std::size_t>(got.lists[q][j].id)] == m.names[static_cast<std::size_t>(want.lists[q][j].id)]);
        CHECK(got.lists[q][j].score == want.lists[q][j].score);
      }
    }
  }
  // Scores of given documents, by id.
  std::vector<std::int64_t> ids, fresh_ids;
  for (std::size_t i = 0; i < m.names.size(); ++i) {
    fresh_ids.push_back(static_cast<std::int64_t>(i));
    ids.push_back(std::find(names.begin(), names.end(), m.names[i]) - names.begin());
    while (index.IsDeleted(ids.back())) {  // a re-added name: the live one comes later
      ids.back() = std::find(names.begin() + ids.back() + 1, names.end(), m.names[i]) - names.begin();
    }
  }
  CHECK(index.Score(kQueries[1], ids).value() == fresh->Score(kQueries[1], fresh_ids).value());
}

}  // namespace live

TEST_CASE("Live updates: after any sequence of add, delete and update, scores equal a fresh build") {
  std::mt19937 rng(7);
  for (const bool lucene_norms : {true, false}) {
    CAPTURE(lucene_norms);
    Bm25BuildOptions options;
    options.bm25.lucene_norms = lucene_norms;
    options.num_threads = 2;
    live::Model m;
    for (int i = 0; i < 40; ++i) {
      m.names.push_back("d" + std::to_string(i));
      m.texts.push_back(live::RandomText(&rng));
    }
    auto index = Bm25Index::Build(m.names, m.texts, options).value();
    std::vector<std::string> deleted;
    int next = 40;
    for (int step = 0; step < 40; ++step) {
      CAPTURE(step);
      std::uniform_int_distribution<int> op(0, 3), batch(1, 6);
      const int kind = op(rng), count = batch(rng);
      if (kind == 0 || m.names.size() < 8) {  // add: new names and deleted ones again
        Strings names, texts;
        for (int i = 0; i < count; ++i) {
          if (!deleted.empty() && rng() % 2 == 0) {
            names.push_back(deleted.back());
            deleted.pop_back();
          } else {
            names.push_back("d" + std::to_string(next++));
          }
          texts.push_back(live::RandomText(&rng));
        }
        REQUIRE(index->Add(names, texts).ok());
        m.names.insert(m.names.end(), names.begin(), names.end());
        m.texts.insert(m.texts.end(), texts.begin(), texts.end());
      } else if (kind == 1) {  // delete
        Strings names;
        for (int i = 0; i < count; ++i) {
          const std::size_t at = rng() % m.names.size();
          names.push_back(m.names[at]);
          deleted.push_back(m.names[at]);
          m.names.erase(m.names.begin() + static_cast<std::ptrdiff_t>(at));
          m.texts.erase(m.texts.begin() + static_cast<std::ptrdiff_t>(at));
        }
        REQUIRE(index->Delete(names).ok());
      } else if (kind == 2) {  // update, sometimes to the text of another document
        Strings names, texts;
        for (int i = 0; i < count; ++i) {
          const std::size_t at = rng() % m.names.size();
          if (std::find(names.begin(), names.end(), m.names[at]) != names.end()) continue;
          names.push_back(m.names[at]);
          texts.push_back(rng() % 3 == 0 ? m.texts[rng() % m.texts.size()] : live::RandomText(&rng));
        }
        REQUIRE(index->Update(names, texts).ok());
        for (std::size_t i = 0; i < names.size(); ++i) m.texts[static_cast<std::size_t>(m.Find(names[i]))] = texts[i];
      } else {  // delete by id
        const Strings all = index->DocNames();
        const std::size_t at = rng() % m.names.size();
        std::int64_t id = -1;
        for (std::size_t d = 0; d < all.size(); ++d) {
          if (all[d] == m.names[at] && !index->IsDeleted(static_cast<std::int64_t>(d))) id = static_cast<std::int64_t>(d);
        }
        REQUIRE(index->DeleteIds(std::vector<std::int64_t>{id}).ok());
        deleted.push_back(m.names[at]);
        m.names.erase(m.names.begin() + static_cast<std::ptrdiff_t>(at));
        m.texts.erase(m.texts.begin() + static_cast<std::ptrdiff_t>(at));
      }
      live::CheckEqualsFresh(*index, m, options);
      CHECK(index->num_ids() == index->num_docs() + index->num_deleted());
    }
    REQUIRE(index->num_deleted() > 0);

    // Deleted ids are refused by every by-id path.
    std::int64_t gone = 0;
    while (!index->IsDeleted(gone)) ++gone;
    const auto score = index->Score(live::kQueries[0], std::vector<std::int64_t>{gone});
    CHECK(score.status().code() == absl::StatusCode::kNotFound);
    CHECK_THAT(std::string(score.status().message()), Contains("is deleted"));
    CHECK(index->Rescore(Strings{live::kQueries[0]}, BatchRanking{{{{gone, 0.0f}}}}).status().code() ==
          absl::StatusCode::kNotFound);
    CHECK(index->TermVectors(Ranking{{gone, 1.0f}}).status().code() == absl::StatusCode::kNotFound);
    // A filter allowing deleted ids returns only live ones (both the one-by-one and the
    // accumulating paths), and equals the fresh build's filtered result.
    const auto fresh = Bm25Index::Build(m.names, m.texts, options).value();
    const Strings names = index->DocNames();
    for (const std::size_t every : {1, 2, 50}) {
      std::vector<std::int64_t> allowed, fresh_allowed;
      for (std::int64_t d = 0; d < index->num_ids(); d += static_cast<std::int64_t>(every)) {
        allowed.push_back(d);
        if (!index->IsDeleted(d)) fresh_allowed.push_back(m.Find(names[static_cast<std::size_t>(d)]));
      }
      std::sort(fresh_allowed.begin(), fresh_allowed.end());
      const Filter f = Filter::FromIds(allowed).value(), g = Filter::FromIds(fresh_allowed).value();
      const BatchRanking got = index->Search(live::kQueries, 10, 1, &f).value();
      const BatchRanking want = fresh->Search(live::kQueries, 10, 1, &g).value();
      for (std::size_t q = 0; q < live::kQueries.size(); ++q) {
        REQUIRE(got.lists[q].size() == want.lists[q].size());
        for (std::size_t j = 0; j < got.lists[q].size(); ++j) {
          CHECK(!index->IsDeleted(got.lists[q][j].id));
          CHECK(names[static_cast<std::size_t>(got.lists[q][j].id)] == m.names[static_cast<std::size_t>(want.lists[q][j].id)]);
          CHECK(got.lists[q][j].score == want.lists[q][j].score);
        }
      }
    }

    // Save writes the compacted index: the very file of a fresh build; Load scores the same.
    const std::string dir = testing::TempDir("bm25_live");
    REQUIRE(index->Save(dir + "/live.bm25").ok());
    REQUIRE(fresh->Save(dir + "/fresh.bm25").ok());
    CHECK(ReadFile(dir + "/live.bm25") == ReadFile(dir + "/fresh.bm25"));
    const auto loaded = Bm25Index::Load(dir + "/live.bm25").value();
    live::CheckEqualsFresh(*loaded, m, options);

    // Compact: the fresh build exactly, ids and term ids included.
    REQUIRE(index->Compact().ok());
    CHECK(index->num_deleted() == 0);
    CHECK(index->doc_names() == m.names);
    CHECK(index->num_terms() == fresh->num_terms());
    for (std::int32_t t = 0; t < fresh->num_terms(); ++t) CHECK(index->Term(t) == fresh->Term(t));
    CHECK(live::Same(index->Search(live::kQueries, 1000, 1).value(), fresh->Search(live::kQueries, 1000, 1).value()));
    live::CheckEqualsFresh(*index, m, options);
    // and keeps working afterwards
    REQUIRE(index->Add(Strings{"late"}, Strings{"rare1 cell cell"}).ok());
    REQUIRE(index->Delete(Strings{m.names[0]}).ok());
    m.names.erase(m.names.begin());
    m.texts.erase(m.texts.begin());
    m.names.push_back("late");
    m.texts.push_back("rare1 cell cell");
    live::CheckEqualsFresh(*index, m, options);
  }
}

TEST_CASE("Live updates: bad input is refused, naming the document, and changes nothing") {
  const Strings names = {"a", "b", "c"}, texts = {"cell growth", "tumor cell", "protein"};
  auto index = Bm25Index::Build(names, texts).value();
  const BatchRanking before = index->Search(live::kQueries, 10).value();
  auto expect = [&](const absl::Status& s, absl::StatusCode code, const std::string& text) {
    CHECK(s.code() == code);
    CHECK_THAT(std::string(s.message()), Contains(text));
    CHECK(index->num_ids() == 3);
    CHECK(index->num_docs() == 3);
    CHECK(live::Same(index->Search(live::kQueries, 10).value(), before));
  };
  expect(index->Add(Strings{"d", "b"}, Strings{"x", "y"}), absl::StatusCode::kAlreadyExists, "\"b\"");
  expect(index->Add(Strings{"d", "d"}, Strings{"x", "y"}), absl::StatusCode::kAlreadyExists, "given twice");
  expect(index->Add(Strings{"d"}, Strings{"x", "y"}), absl::StatusCode::kInvalidArgument, "1 document names for 2");
  expect(index->Delete(Strings{"a", "zz"}), absl::StatusCode::kNotFound, "\"zz\"");
  expect(index->Delete(Strings{"a", "a"}), absl::StatusCode::kInvalidArgument, "given twice");
  expect(index->DeleteIds(std::vector<std::int64_t>{0, 7}), absl::StatusCode::kOutOfRange, "7");
  expect(index->Update(Strings{"a", "zz"}, Strings{"x", "y"}), absl::StatusCode::kNotFound, "\"zz\"");
  expect(index->Update(Strings{"a"}, Strings{"x", "y"}), absl::StatusCode::kInvalidArgument, "1 document names for 2");
  REQUIRE(index->Delete(Strings{"b"}).ok());
  CHECK(index->Delete(Strings{"b"}).code() == absl::StatusCode::kNotFound);
  CHECK(index->DeleteIds(std::vector<std::int64_t>{1}).code() == absl::StatusCode::kNotFound);
  CHECK(index->Update(Strings{"b"}, Strings{"x"}).code() == absl::StatusCode::kNotFound);
  REQUIRE(index->Add(Strings{"b"}, Strings{"gene"}).ok());  // a deleted name comes back
  CHECK(index->num_ids() == 4);
  CHECK(index->DocNames() == Strings{"a", "b", "c", "b"});
}

TEST_CASE("Live updates: shards with changes still merge into the statistics of the whole") {
  std::mt19937 rng(11);
  const Bm25BuildOptions options;
  live::Model m0, m1;
  for (int i = 0; i < 30; ++i) {
    live::Model& m = i < 15 ? m0 : m1;
    m.names.push_back((i < 15 ? "a" : "b") + std::to_string(i));
    m.texts.push_back(live::RandomText(&rng));
  }
  auto s0 = Bm25Index::Build(m0.names, m0.texts, options).value();
  auto s1 = Bm25Index::Build(m1.names, m1.texts, options).value();
  for (int round = 0; round < 2; ++round) {
    REQUIRE(s0->SetCollectionStats(Bm25CollectionStats::Merge({s0->LocalStats(), s1->LocalStats()}).value()).ok());
    // A change drops the (now stale) statistics.
    const std::string gone = m0.names[3];
    REQUIRE(s0->Delete(Strings{gone}).ok());
    m0.texts.erase(m0.texts.begin() + m0.Find(gone));
    m0.names.erase(m0.names.begin() + m0.Find(gone));
    CHECK_FALSE(s0->has_collection_stats());
    const std::string text = live::RandomText(&rng);
    REQUIRE(s1->Update(Strings{m1.names[2]}, Strings{text}).ok());
    m1.texts[2] = text;
    const std::string name = "x" + std::to_string(round);
    REQUIRE(s1->Add(Strings{name}, Strings{"rare99 cell growth"}).ok());
    m1.names.push_back(name);
    m1.texts.push_back("rare99 cell growth");
  }
  const auto stats = Bm25CollectionStats::Merge({s0->LocalStats(), s1->LocalStats()}).value();
  REQUIRE(s0->SetCollectionStats(stats).ok());
  REQUIRE(s1->SetCollectionStats(stats).ok());
  live::Model all = m0;
  all.names.insert(all.names.end(), m1.names.begin(), m1.names.end());
  all.texts.insert(all.texts.end(), m1.texts.begin(), m1.texts.end());
  const auto single = Bm25Index::Build(all.names, all.texts, options).value();
  CHECK(stats.doc_freqs == single->LocalStats().doc_freqs);
  CHECK(stats.doc_count == single->doc_count());
  CHECK(stats.total_terms == single->total_terms());
  CHECK(stats.num_docs == single->num_docs());
  int compared = 0;
  for (const Bm25Index* s : {s0.get(), s1.get()}) {
    const BatchRanking r = s->Search(live::kQueries, 100, 1).value();
    const Strings n = s->DocNames();
    for (std::size_t q = 0; q < live::kQueries.size(); ++q) {
      for (const ScoredDoc& d : r.lists[q]) {
        const std::int64_t at = all.Find(n[static_cast<std::size_t>(d.id)]);
        CHECK(single->Score(live::kQueries[q], std::vector<std::int64_t>{at}).value()[0] == d.score);
        ++compared;
      }
    }
  }
  CHECK(compared > 20);
  // Compact keeps the collection statistics (the live documents are the same).
  const float before = s0->Search(live::kQueries, 1, 1).value().lists[0][0].score;
  REQUIRE(s0->Compact().ok());
  CHECK(s0->has_collection_stats());
  CHECK(s0->Search(live::kQueries, 1, 1).value().lists[0][0].score == before);
}

TEST_CASE("Live updates: searches from other threads run during changes and never see a deleted document") {
  std::mt19937 rng(3);
  Strings names, texts;
  for (int i = 0; i < 300; ++i) {
    names.push_back("gone" + std::to_string(i));
    texts.push_back("cell " + live::RandomText(&rng));
  }
  auto index = Bm25Index::Build(names, texts).value();
  std::atomic<int> deleted_upto{0};  // gone0 .. gone(n-1) are deleted
  std::atomic<bool> stop{false};
  std::atomic<int> searches{0}, violations{0}, failures{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&] {
      while (!stop) {
        const int upto = deleted_upto.load();
        const auto r = index->Search(Strings{"cell growth", "tumor"}, 50, 1);
        if (!r.ok()) {
          ++failures;
          continue;
        }
        const Strings all = index->DocNames();  // ids are never reused before Compact
        for (const Ranking& list : r->lists) {
          for (const ScoredDoc& d : list) {
            const std::string& n = all[static_cast<std::size_t>(d.id)];
            if (n.rfind("gone", 0) == 0 && std::stoi(n.substr(4)) < upto) ++violations;
          }
        }
        ++searches;
      }
    });
  }
  std::mt19937 wrng(5);
  while (searches == 0) std::this_thread::yield();
  for (int i = 0; i < 150; i += 3) {
    std::this_thread::sleep_for(std::chrono::microseconds(300));  // let searches interleave
    REQUIRE(index->Delete(Strings{"gone" + std::to_string(i), "gone" + std::to_string(i + 1),
                                  "gone" + std::to_string(i + 2)}).ok());
    deleted_upto = i + 3;
    REQUIRE(index->Add(Strings{"new" + std::to_string(i)}, Strings{"cell tumor " + live::RandomText(&wrng)}).ok());
    if (i % 30 == 0) REQUIRE(index->Update(Strings{"gone299"}, Strings{live::RandomText(&wrng)}).ok());
  }
  stop = true;
  for (auto& t : readers) t.join();
  CHECK(failures == 0);
  CHECK(violations == 0);
  CHECK(searches > 0);
  CHECK(index->num_docs() == 300 - 150 + 50);
}

}  // namespace
}  // namespace densefb

namespace densefb {
namespace {

// Pruned (MaxScore) and exhaustive searches of the same index.
void RequirePrunedEqualsExhaustive(Bm25Index* index, const Strings& queries,
                                   const std::vector<WeightedQuery>& weighted) {
  for (const std::int64_t k : {1, 2, 5, 10, 37, 200}) {
    CAPTURE(k);
    index->set_dynamic_pruning(false);
    const BatchRanking plain = index->Search(queries, k, 2).value();
    const BatchRanking plain_w = index->SearchWeighted(weighted, k, 2).value();
    index->set_dynamic_pruning(true);
    const BatchRanking pruned = index->Search(queries, k, 2).value();
    const BatchRanking pruned_w = index->SearchWeighted(weighted, k, 2).value();
    REQUIRE(live::Same(plain, pruned));
    REQUIRE(live::Same(plain_w, pruned_w));
  }
}

TEST_CASE("MaxScore pruning returns the exhaustive rankings and scores, ties included") {
  std::mt19937 rng(11);
  Strings names, texts;
  for (int i = 0; i < 3000; ++i) {
    names.push_back("d" + std::to_string(i));
    texts.push_back(live::RandomText(&rng));  // small vocabulary: long posting lists, many ties
  }
  Strings queries = live::kQueries;
  static const Strings words = {"cell", "gene", "tumor", "risk", "blood", "rare1", "rare2", "virus", "the"};
  for (int q = 0; q < 60; ++q) {
    std::string text;
    for (int j = 0, n = 1 + static_cast<int>(rng() % 6); j < n; ++j) text += words[rng() % words.size()] + " ";
    queries.push_back(text);
  }
  std::vector<WeightedQuery> weighted;  // RM3-like weights, repeated terms, tiny and huge ratios
  std::uniform_real_distribution<float> weight(0.001f, 3.0f);
  for (const std::string& q : queries) {
    WeightedQuery wq;
    std::string term;
    for (char c : q + " ") {
      if (c != ' ') { term += c; continue; }
      if (!term.empty()) wq.push_back({term, weight(rng)});
      term.clear();
    }
    weighted.push_back(wq);
  }
  for (const bool lucene_norms : {true, false}) {
    CAPTURE(lucene_norms);
    Bm25BuildOptions options;
    options.bm25.lucene_norms = lucene_norms;
    options.analyzer.stemmer = Stemmer::kNone;
    auto index = Bm25Index::Build(names, texts, options).value();
    REQUIRE_FALSE(index->dynamic_pruning());
    RequirePrunedEqualsExhaustive(index.get(), queries, weighted);
    // After changes (tombstones, re-numbered postings) and under other parameters.
    Strings gone(names.begin(), names.begin() + 400);
    REQUIRE(index->Delete(gone).ok());
    REQUIRE(index->Update({names[500], names[900]}, {"cell cell cell gene", ""}).ok());
    REQUIRE(index->Add({"new1", "new2"}, {"tumor risk blood", "rare1 rare1 rare2"}).ok());
    RequirePrunedEqualsExhaustive(index.get(), queries, weighted);
    Bm25Params params = index->params();
    params.k1 = 1.2f;
    params.b = 0.75f;
    REQUIRE(index->SetParams(params).ok());
    RequirePrunedEqualsExhaustive(index.get(), queries, weighted);
    REQUIRE(index->Compact().ok());
    RequirePrunedEqualsExhaustive(index.get(), queries, weighted);
  }
}

}  // namespace
}  // namespace densefb
