// Bindings of include/densefb/bm25.h: the English analyser, the Porter stemmer, Bm25Index and
// RM3. The Python-facing class with full docstrings is densefb.sparse.Bm25Index.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "array.h"
#include "bindings.h"
#include "densefb/bm25.h"

namespace densefb::py_bindings {
namespace {

std::string PathArg(const py::object& path) {
  return py::str(py::module_::import("os").attr("fspath")(path)).cast<std::string>();
}

Bm25BuildOptions BuildOptions(float k1, float b, bool stopwords, const std::string& stemmer,
                              bool lucene_norms, const Int& num_threads) {
  Bm25BuildOptions o;
  o.analyzer.stopwords = stopwords;
  o.analyzer.stemmer = ValueOrThrow(ParseStemmer(stemmer));
  o.bm25 = {k1, b, lucene_norms};
  o.num_threads = num_threads.As<int>("num_threads", 0);
  return o;
}

Rm3Options MakeRm3(const Int& fb_terms, const Int& fb_docs, float original_query_weight, bool filter_terms) {
  Rm3Options o;
  o.fb_terms = fb_terms.Count<int>("fb_terms");
  o.fb_docs = fb_docs.Count<int>("fb_docs");
  o.original_query_weight = original_query_weight;
  o.filter_terms = filter_terms;
  return o;
}

// (n, k) float32 scores and int64 ids, best first, padded with (-inf, -1); k is already capped
// by what exists (SearchK).
py::tuple ToArrays(const BatchRanking& ranking, std::int64_t k) {
  SearchArrays out(static_cast<std::int64_t>(ranking.size()), k);
  float* scores = out.scores.mutable_data();
  std::int64_t* ids = out.ids.mutable_data();
  for (std::size_t q = 0; q < ranking.size(); ++q) {
    const Ranking& list = ranking.lists[q];
    for (std::int64_t j = 0; j < k; ++j) {
      const std::size_t o = q * static_cast<std::size_t>(k) + static_cast<std::size_t>(j);
      if (j < static_cast<std::int64_t>(list.size())) {
        scores[o] = list[j].score;
        ids[o] = list[j].id;
      } else {
        scores[o] = -std::numeric_limits<float>::infinity();
        ids[o] = -1;
      }
    }
  }
  return out.Tuple();
}

WeightedQuery QueryFromDict(const py::dict& d) {
  WeightedQuery q;
  for (auto item : d) q.emplace_back(item.first.cast<std::string>(), item.second.cast<float>());
  return q;
}

py::dict QueryToDict(const WeightedQuery& q) {
  py::dict out;
  for (const auto& [term, w] : q) out[py::str(term)] = w;
  return out;
}

// k of a search, capped by the number of documents before anything is allocated: a larger k
// returns every matching document, in min(k, num_docs) columns.
std::int64_t SearchK(const Bm25Index& index, const Int& k) {
  return std::min<std::int64_t>(k.Count<std::int64_t>("k"), index.num_docs());
}

// Document positions, exact: a list or array of integer ids (see IdArray).
std::vector<std::int64_t> DocIds(const IdArray& ids, const char* what) {
  const auto span = IdsArg(ids, what);
  return {span.begin(), span.end()};
}

}  // namespace

void RegisterBm25(py::module_& m) {
  // Python's default for lucene_norms (densefb.sparse reads it; Bm25Params holds it).
  m.attr("BM25_DEFAULT_LUCENE_NORMS") = Bm25Params{}.lucene_norms;
  m.def("porter_stem", [](const std::string& w) { return PorterStem(w); }, py::arg("word"),
        "Porter stem of a lower-case word, as Lucene's PorterStemFilter computes it.");
  m.def("english_stop_words", &EnglishStopWords, "Lucene's 33 English stop words, sorted.");
  m.def("analyze", [](const std::string& text, bool stopwords, const std::string& stemmer) {
          return EnglishAnalyzer({stopwords, ValueOrThrow(ParseStemmer(stemmer))}).Analyze(text);
        }, py::arg("text"), py::arg("stopwords") = true, py::arg("stemmer") = "porter",
        "Terms of text by Lucene's EnglishAnalyzer chain.");
  m.def("standard_tokenize", [](const std::string& t) { return EnglishAnalyzer::Tokenize(t); }, py::arg("text"),
        "Tokens of Lucene's StandardTokenizer (UAX #29 words), original case.");

  py::class_<Bm25Index>(m, "Bm25Index", "BM25 over an inverted index (see densefb.sparse.Bm25Index).")
      .def_static("build_corpus", [](const Corpus& corpus, float k1, float b, bool stopwords,
                                     const std::string& stemmer, bool lucene_norms, const Int& num_threads) {
             const Bm25BuildOptions o = BuildOptions(k1, b, stopwords, stemmer, lucene_norms, num_threads);
             return ValueOrThrow(WithoutGil([&] { return Bm25Index::Build(corpus, o); }));
           }, py::arg("corpus"), py::arg("k1") = 0.9f, py::arg("b") = 0.4f, py::arg("stopwords") = true,
           py::arg("stemmer") = "porter", py::arg("lucene_norms") = Bm25Params{}.lucene_norms, py::arg("num_threads") = 0)
      .def_static("build_texts", [](const std::vector<std::string>& names, const std::vector<std::string>& texts,
                                    float k1, float b, bool stopwords, const std::string& stemmer,
                                    bool lucene_norms, const Int& num_threads) {
             const Bm25BuildOptions o = BuildOptions(k1, b, stopwords, stemmer, lucene_norms, num_threads);
             return ValueOrThrow(WithoutGil([&] { return Bm25Index::Build(names, texts, o); }));
           }, py::arg("names"), py::arg("texts"), py::arg("k1") = 0.9f, py::arg("b") = 0.4f,
           py::arg("stopwords") = true, py::arg("stemmer") = "porter", py::arg("lucene_norms") = Bm25Params{}.lucene_norms,
           py::arg("num_threads") = 0)
      .def_static("load", [](const py::object& path) {
             const std::string p = PathArg(path);
             return ValueOrThrow(WithoutGil([&] { return Bm25Index::Load(p); }));
           }, py::arg("path"))
      .def("save", [](const Bm25Index& index, const py::object& path) {
             const std::string p = PathArg(path);
             ThrowIfError(WithoutGil([&] { return index.Save(p); }));
           }, py::arg("path"))
      .def("search", [](const Bm25Index& index, const std::vector<std::string>& queries, const Int& k_arg,
                        const Int& num_threads_arg) {
             const std::int64_t k = SearchK(index, k_arg);
             const int num_threads = num_threads_arg.As<int>("num_threads", 0);
             BatchRanking r = ValueOrThrow(WithoutGil([&] { return index.Search(queries, k, num_threads); }));
             return ToArrays(r, k);
           }, py::arg("queries"), py::arg("k"), py::arg("num_threads") = 0)
      .def("search_weighted", [](const Bm25Index& index, const std::vector<py::dict>& queries, const Int& k_arg,
                                 const Int& num_threads_arg) {
             const std::int64_t k = SearchK(index, k_arg);
             const int num_threads = num_threads_arg.As<int>("num_threads", 0);
             std::vector<WeightedQuery> qs;
             for (const py::dict& d : queries) qs.push_back(QueryFromDict(d));
             BatchRanking r = ValueOrThrow(WithoutGil([&] { return index.SearchWeighted(qs, k, num_threads); }));
             return ToArrays(r, k);
           }, py::arg("queries"), py::arg("k"), py::arg("num_threads") = 0)
      .def("rm3_expand", [](const Bm25Index& index, const py::dict& query, const IdArray& id_array,
                            const std::vector<float>& scores, const Int& fb_terms, const Int& fb_docs,
                            float original_query_weight, bool filter_terms) {
             const std::vector<std::int64_t> ids = DocIds(id_array, "feedback_ids");
             if (ids.size() != scores.size()) throw py::value_error("ids and scores differ in length");
             Ranking feedback;
             for (std::size_t i = 0; i < ids.size(); ++i) feedback.push_back({ids[i], scores[i]});
             const Rm3Options o = MakeRm3(fb_terms, fb_docs, original_query_weight, filter_terms);
             return QueryToDict(ValueOrThrow(Rm3ExpandQuery(index, QueryFromDict(query), feedback, o)));
           }, py::arg("query"), py::arg("feedback_ids"), py::arg("feedback_scores"), py::arg("fb_terms"),
           py::arg("fb_docs"), py::arg("original_query_weight"), py::arg("filter_terms"))
      .def("score", [](const Bm25Index& index, const py::object& query, const IdArray& id_array) {
             const std::vector<std::int64_t> ids = DocIds(id_array, "doc_ids");
             WeightedQuery q = py::isinstance<py::dict>(query) ? QueryFromDict(query.cast<py::dict>())
                                                             : index.AnalyzeQuery(query.cast<std::string>());
             std::vector<float> s = ValueOrThrow(index.Score(q, ids));
             return py::array_t<float>(static_cast<py::ssize_t>(s.size()), s.data());
           }, py::arg("query"), py::arg("doc_ids"))
      .def("rescore", [](const Bm25Index& index, const std::vector<std::string>& queries, const IdArray& ids,
                         const Int& num_threads_arg) {
             ids.Check("ids");
             const int num_threads = num_threads_arg.As<int>("num_threads", 0);
             if (ids.ndim() != 2 || static_cast<std::size_t>(ids.shape(0)) != queries.size()) {
               throw py::value_error("ids must be a (len(queries), k) array");
             }
             const std::int64_t k = ids.shape(1);
             BatchRanking cand;
             cand.lists.resize(queries.size());
             const auto view = ids.unchecked<2>();
             for (std::size_t q = 0; q < queries.size(); ++q) {
               for (std::int64_t j = 0; j < k; ++j) {
                 const std::int64_t id = view(static_cast<py::ssize_t>(q), j);
                 if (id >= 0) cand.lists[q].push_back({id, 0.0f});
               }
             }
             BatchRanking r = ValueOrThrow(WithoutGil([&] { return index.Rescore(queries, cand, num_threads); }));
             return ToArrays(r, k);
           }, py::arg("queries"), py::arg("ids"), py::arg("num_threads") = 0)
      .def("analyze", [](const Bm25Index& index, const std::string& text) { return index.analyzer().Analyze(text); },
           py::arg("text"))
      .def("analyze_query", [](const Bm25Index& index, const std::string& text) {
             return QueryToDict(index.AnalyzeQuery(text));
           }, py::arg("text"))
      .def("set_bm25", [](Bm25Index& index, float k1, float b, std::optional<bool> lucene_norms) {
             Bm25Params p = index.params();
             p.k1 = k1;
             p.b = b;
             if (lucene_norms) p.lucene_norms = *lucene_norms;
             ThrowIfError(index.SetParams(p));
           }, py::arg("k1"), py::arg("b"), py::arg("lucene_norms") = py::none())
      .def("doc_freq", [](const Bm25Index& index, const std::string& term) -> std::int64_t {
             const std::int32_t t = index.TermId(term);
             return t < 0 ? 0 : index.DocFreq(t);
           }, py::arg("term"))
      .def("idf", [](const Bm25Index& index, const std::string& term) {
             const std::int32_t t = index.TermId(term);
             if (t < 0) throw py::key_error("term \"" + term + "\" is not in the index");
             return index.Idf(t);
           }, py::arg("term"))
      .def("doc_length", [](const Bm25Index& index, const Int& doc_arg) {
             const auto doc = doc_arg.As<std::int64_t>("doc");
             if (doc < 0 || doc >= index.num_docs()) throw py::index_error("document id out of range");
             return index.DocLength(doc);
           }, py::arg("doc"))
      .def("doc_vector", [](const Bm25Index& index, const Int& doc_arg) {
             const auto doc = doc_arg.As<std::int64_t>("doc");
             if (doc < 0 || doc >= index.num_docs()) throw py::index_error("document id out of range");
             py::dict out;
             const auto terms = index.DocTerms(doc);
             const auto freqs = index.DocFreqs(doc);
             for (std::size_t i = 0; i < terms.size(); ++i) out[py::str(index.Term(terms[i]))] = freqs[i];
             return out;
           }, py::arg("doc"))
      .def_property_readonly("num_docs", &Bm25Index::num_docs)
      .def_property_readonly("doc_count", &Bm25Index::doc_count)
      .def_property_readonly("num_terms", &Bm25Index::num_terms)
      .def_property_readonly("num_postings", &Bm25Index::num_postings)
      .def_property_readonly("total_terms", &Bm25Index::total_terms)
      .def_property_readonly("avgdl", &Bm25Index::avgdl)
      .def_property_readonly("k1", [](const Bm25Index& i) { return i.params().k1; })
      .def_property_readonly("b", [](const Bm25Index& i) { return i.params().b; })
      .def_property_readonly("lucene_norms", [](const Bm25Index& i) { return i.params().lucene_norms; })
      .def_property_readonly("stopwords", [](const Bm25Index& i) { return i.analyzer().options().stopwords; })
      .def_property_readonly("stemmer", [](const Bm25Index& i) {
             return std::string(StemmerName(i.analyzer().options().stemmer));
           })
      .def_property_readonly("doc_ids", &Bm25Index::doc_names)
      .def("__len__", &Bm25Index::num_docs);
}

}  // namespace densefb::py_bindings
