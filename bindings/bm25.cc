// Bindings of include/densefb/bm25.h: the English analyser, the Porter stemmer, Bm25Index and
// RM3. The Python-facing class with full docstrings is densefb.sparse.Bm25Index.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "array.h"
#include "bindings.h"
#include "densefb/bm25.h"

namespace densefb::py_bindings {
namespace {

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

// ---- collection statistics <-> dict ----

constexpr const char* kStatsFields[] = {"num_docs", "doc_count", "total_terms", "doc_freqs"};

py::dict StatsToDict(const Bm25CollectionStats& s) {
  py::dict df;
  for (const auto& [term, n] : s.doc_freqs) df[py::str(term)] = n;
  py::dict out;
  out["num_docs"] = s.num_docs;
  out["doc_count"] = s.doc_count;
  out["total_terms"] = s.total_terms;
  out["doc_freqs"] = df;
  return out;
}

// {"num_docs": int, "doc_count": int, "total_terms": int, "doc_freqs": {str: int}}, exactly these
// keys (ValueError naming a missing or unknown one; TypeError for a value of the wrong type).
Bm25CollectionStats StatsFromDict(const py::handle& obj, const std::string& what) {
  if (!py::isinstance<py::dict>(obj)) {
    throw py::type_error(what + " must be a dict, not " + std::string(py::str(py::type::of(obj).attr("__name__"))));
  }
  const py::dict d = py::reinterpret_borrow<py::dict>(obj);
  for (auto item : d) {
    const std::string key = py::str(item.first);
    if (std::find(std::begin(kStatsFields), std::end(kStatsFields), key) == std::end(kStatsFields)) {
      throw py::value_error(what + ": unknown key '" + key + "' (expected num_docs, doc_count, total_terms, doc_freqs)");
    }
  }
  for (const char* key : kStatsFields) {
    if (!d.contains(key)) throw py::value_error(what + ": missing key '" + key + "'");
  }
  Bm25CollectionStats s;
  s.num_docs = Int(d["num_docs"]).As<std::int64_t>((what + "['num_docs']").c_str());
  s.doc_count = Int(d["doc_count"]).As<std::int64_t>((what + "['doc_count']").c_str());
  s.total_terms = Int(d["total_terms"]).As<std::int64_t>((what + "['total_terms']").c_str());
  const py::object dfs = d["doc_freqs"];
  if (!py::isinstance<py::dict>(dfs)) throw py::type_error(what + "['doc_freqs'] must be a dict {term: df}");
  const py::dict df = dfs.cast<py::dict>();
  s.doc_freqs.reserve(df.size());
  for (auto item : df) {
    if (!py::isinstance<py::str>(item.first)) throw py::type_error(what + "['doc_freqs']: terms must be str");
    std::string term = item.first.cast<std::string>();
    const std::string name = what + "['doc_freqs']['" + term + "']";
    s.doc_freqs.emplace(std::move(term), Int(py::reinterpret_borrow<py::object>(item.second)).As<std::int64_t>(name.c_str()));
  }
  return s;
}

// ---- RM3 feedback documents <-> tuples ----

py::tuple FeedbackDocToTuple(const Rm3FeedbackDoc& d) {
  py::list terms, tfs, dfs;
  for (const Rm3FeedbackTerm& e : d.terms) {
    terms.append(py::str(e.term));
    tfs.append(e.tf);
    dfs.append(e.df);
  }
  return py::make_tuple(terms, tfs, dfs);
}

// (score, terms, tfs, dfs) with three sequences of one length.
Rm3FeedbackDoc FeedbackDocFromTuple(const py::handle& obj, std::size_t i) {
  const std::string what = "feedback[" + std::to_string(i) + "]";
  if (!py::isinstance<py::sequence>(obj) || py::isinstance<py::str>(obj) || py::len(obj) != 4) {
    throw py::type_error(what + " must be a (score, terms, tfs, dfs) tuple");
  }
  const py::sequence t = py::reinterpret_borrow<py::sequence>(obj);
  Rm3FeedbackDoc d;
  d.score = t[0].cast<float>();
  const auto terms = t[1].cast<std::vector<std::string>>();
  const auto tfs = t[2].cast<std::vector<std::int64_t>>();
  const auto dfs = t[3].cast<std::vector<std::int64_t>>();
  if (tfs.size() != terms.size() || dfs.size() != terms.size()) {
    throw py::value_error(what + ": got " + std::to_string(terms.size()) + " terms, " + std::to_string(tfs.size()) +
                          " tfs and " + std::to_string(dfs.size()) + " dfs; expected one of each per term");
  }
  d.terms.reserve(terms.size());
  for (std::size_t e = 0; e < terms.size(); ++e) d.terms.push_back({terms[e], tfs[e], dfs[e]});
  return d;
}

WeightedQuery QueryFromPairs(const std::vector<std::pair<std::string, float>>& pairs) {
  return WeightedQuery(pairs.begin(), pairs.end());
}

// (scores, ids) arrays returned by a Python method as n ranked lists (id -1 = empty slot).
absl::StatusOr<BatchRanking> RankingFromArrays(const py::object& result, std::size_t n, std::int64_t num_docs,
                                               const std::string& who) {
  if (!py::isinstance<py::tuple>(result) || py::len(result) != 2) {
    return absl::InvalidArgumentError(who + " returned " + std::string(py::str(py::type::of(result).attr("__name__"))) +
                                      "; expected a (scores, ids) tuple");
  }
  const py::tuple r = result.cast<py::tuple>();
  py::array_t<float, py::array::c_style | py::array::forcecast> s(r[0]);
  py::array_t<std::int64_t, py::array::c_style | py::array::forcecast> d(r[1]);
  const auto rows = static_cast<py::ssize_t>(n);
  if (s.ndim() != 2 || d.ndim() != 2 || s.shape(0) != rows || d.shape(0) != rows || s.shape(1) != d.shape(1)) {
    return absl::InvalidArgumentError(absl::StrCat(who, " returned arrays of the wrong shapes; expected two (", n,
                                                   ", k) arrays"));
  }
  BatchRanking out;
  out.lists.resize(n);
  for (py::ssize_t q = 0; q < rows; ++q) {
    for (py::ssize_t j = 0; j < s.shape(1); ++j) {
      const std::int64_t id = d.at(q, j);
      if (id == -1) continue;
      if (id < 0 || id >= num_docs || std::isnan(s.at(q, j))) {
        return absl::InvalidArgumentError(absl::StrCat(who, " returned document ", id, " with score ", s.at(q, j),
                                                       " for query ", q, "; documents are in [0, ", num_docs, ")"));
      }
      out.lists[q].push_back({id, s.at(q, j)});
    }
  }
  return out;
}

py::list QueriesToPairs(absl::Span<const WeightedQuery> queries) {
  py::list out;
  for (const WeightedQuery& q : queries) {
    py::list pairs;
    for (const auto& [term, w] : q) pairs.append(py::make_tuple(py::str(term), w));
    out.append(pairs);
  }
  return out;
}

// A BM25 collection written in Python: a subclass of densefb.Bm25Collection that passes its
// sizes and scoring parameters to Bm25Collection.__init__ and defines analyze_queries,
// search, search_weighted, score_documents and feedback_documents (see the class docstring).
// The bm25, rm3 and llm_terms stages read it as they read a Bm25Index (the sharded collection
// of densefb.distributed is one).
class PyBm25Collection : public Bm25Collection {
 public:
  PyBm25Collection(std::int64_t num_docs, std::int64_t collection_num_docs, Bm25Params params)
      : num_docs_(num_docs), collection_num_docs_(collection_num_docs), params_(params) {}

  std::int64_t num_docs() const override { return num_docs_; }
  std::int64_t CollectionNumDocs() const override { return collection_num_docs_; }
  const Bm25Params& params() const override { return params_; }

  absl::StatusOr<std::vector<WeightedQuery>> AnalyzeQueries(absl::Span<const std::string> texts) const override {
    return Call<std::vector<WeightedQuery>>("analyze_queries", [&](const py::function& f, const std::string& who)
                                                -> absl::StatusOr<std::vector<WeightedQuery>> {
      py::list in;
      for (const std::string& t : texts) in.append(py::str(t));
      const py::sequence r = f(in).cast<py::sequence>();
      if (py::len(r) != texts.size()) {
        return absl::InvalidArgumentError(absl::StrCat(who, " returned ", py::len(r), " queries for ", texts.size(), " texts"));
      }
      std::vector<WeightedQuery> out;
      for (const py::handle q : r) {
        out.push_back(py::isinstance<py::dict>(q) ? QueryFromDict(q.cast<py::dict>())
                                                  : QueryFromPairs(q.cast<std::vector<std::pair<std::string, float>>>()));
      }
      return out;
    });
  }
  // A filter goes to the Python collection as a keyword, only when there is one.
  absl::StatusOr<BatchRanking> Search(absl::Span<const std::string> queries, std::int64_t k,
                                      int num_threads, const Filter* filter) const override {
    return Call<BatchRanking>("search", [&](const py::function& f, const std::string& who) {
      std::vector<std::string> texts(queries.begin(), queries.end());
      return RankingFromArrays(filter == nullptr ? f(texts, k, num_threads)
                                                 : f(texts, k, num_threads, py::arg("filter") = *filter),
                               queries.size(), num_docs_, who);
    });
  }
  absl::StatusOr<BatchRanking> SearchWeighted(absl::Span<const WeightedQuery> queries, std::int64_t k,
                                              int num_threads, const Filter* filter) const override {
    return Call<BatchRanking>("search_weighted", [&](const py::function& f, const std::string& who) {
      return RankingFromArrays(filter == nullptr ? f(QueriesToPairs(queries), k, num_threads)
                                                 : f(QueriesToPairs(queries), k, num_threads, py::arg("filter") = *filter),
                               queries.size(), num_docs_, who);
    });
  }
  absl::StatusOr<std::vector<std::vector<float>>> ScoreDocuments(
      absl::Span<const WeightedQuery> queries, absl::Span<const std::vector<std::int64_t>> ids) const override {
    return Call<std::vector<std::vector<float>>>("score_documents", [&](const py::function& f, const std::string& who)
                                                     -> absl::StatusOr<std::vector<std::vector<float>>> {
      py::list id_lists;
      for (const auto& l : ids) id_lists.append(py::array_t<std::int64_t>(static_cast<py::ssize_t>(l.size()), l.data()));
      const py::sequence r = f(QueriesToPairs(queries), id_lists).cast<py::sequence>();
      if (py::len(r) != ids.size()) {
        return absl::InvalidArgumentError(absl::StrCat(who, " returned ", py::len(r), " score arrays for ", ids.size(), " queries"));
      }
      std::vector<std::vector<float>> out;
      for (std::size_t q = 0; q < ids.size(); ++q) {
        py::array_t<float, py::array::c_style | py::array::forcecast> a(r[q]);
        if (a.ndim() != 1 || static_cast<std::size_t>(a.shape(0)) != ids[q].size()) {
          return absl::InvalidArgumentError(absl::StrCat(who, " returned the wrong number of scores for query ", q));
        }
        out.emplace_back(a.data(), a.data() + a.shape(0));
      }
      return out;
    });
  }
  absl::StatusOr<std::vector<std::vector<Rm3FeedbackDoc>>> FeedbackDocuments(const BatchRanking& docs) const override {
    return Call<std::vector<std::vector<Rm3FeedbackDoc>>>("feedback_documents", [&](const py::function& f,
                                                                                    const std::string& who)
        -> absl::StatusOr<std::vector<std::vector<Rm3FeedbackDoc>>> {
      py::list id_lists;
      for (const Ranking& l : docs.lists) {
        py::array_t<std::int64_t> a(static_cast<py::ssize_t>(l.size()));
        for (std::size_t i = 0; i < l.size(); ++i) a.mutable_data()[i] = l[i].id;
        id_lists.append(a);
      }
      const py::sequence r = f(id_lists).cast<py::sequence>();
      if (py::len(r) != docs.size()) {
        return absl::InvalidArgumentError(absl::StrCat(who, " returned ", py::len(r), " lists for ", docs.size(), " queries"));
      }
      std::vector<std::vector<Rm3FeedbackDoc>> out(docs.size());
      for (std::size_t q = 0; q < docs.size(); ++q) {
        const py::sequence vectors = r[q].cast<py::sequence>();
        if (py::len(vectors) != docs.lists[q].size()) {
          return absl::InvalidArgumentError(absl::StrCat(who, " returned ", py::len(vectors), " term vectors for the ",
                                                         docs.lists[q].size(), " documents of query ", q));
        }
        for (std::size_t i = 0; i < docs.lists[q].size(); ++i) {
          const py::sequence t = vectors[i].cast<py::sequence>();  // (terms, tfs, dfs)
          out[q].push_back(FeedbackDocFromTuple(py::make_tuple(docs.lists[q][i].score, t[0], t[1], t[2]), i));
        }
      }
      return out;
    });
  }

 private:
  // Calls the Python override `name` with the GIL held; a missing method, a Python exception or
  // a malformed answer becomes a Status naming the class and the method.
  template <typename T, typename Fn>
  absl::StatusOr<T> Call(const char* name, Fn&& fn) const {
    py::gil_scoped_acquire gil;
    py::object self = py::cast(static_cast<const Bm25Collection*>(this));
    const std::string who = absl::StrCat("Python BM25 collection ",
                                         std::string(py::str(py::type::of(self).attr("__name__"))), ".", name);
    py::function f = py::get_override(static_cast<const Bm25Collection*>(this), name);
    if (!f) return absl::UnimplementedError(absl::StrCat(who, " is not defined"));
    try {
      return fn(f, who);
    } catch (py::error_already_set& e) {
      return FromPython(e, who);
    } catch (const py::cast_error& e) {
      return absl::InvalidArgumentError(absl::StrCat(who, " returned a value of the wrong type: ", e.what()));
    } catch (const std::exception& e) {
      return absl::InvalidArgumentError(absl::StrCat(who, ": ", e.what()));
    }
  }

  std::int64_t num_docs_;
  std::int64_t collection_num_docs_;
  Bm25Params params_;
};

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

  m.def("merge_collection_stats", [](const py::list& shards) {
          std::vector<Bm25CollectionStats> s;
          for (std::size_t i = 0; i < shards.size(); ++i) {
            s.push_back(StatsFromDict(shards[i], "collection statistics of shard " + std::to_string(i)));
          }
          return StatsToDict(ValueOrThrow(Bm25CollectionStats::Merge(s)));
        }, py::arg("shards"),
        "The collection statistics of shards with disjoint documents (Bm25CollectionStats::Merge).");
  // Defaults: Rm3Options, the one place they are written.
  m.def("rm3_expand", [](const std::vector<std::pair<std::string, float>>& query, const py::list& feedback,
                         const Int& num_docs, const Int& fb_terms, const Int& fb_docs, float original_query_weight,
                         bool filter_terms) {
          std::vector<Rm3FeedbackDoc> docs;
          for (std::size_t i = 0; i < feedback.size(); ++i) docs.push_back(FeedbackDocFromTuple(feedback[i], i));
          const Rm3Options o = MakeRm3(fb_terms, fb_docs, original_query_weight, filter_terms);
          return ValueOrThrow(Rm3Expand(QueryFromPairs(query), docs, num_docs.As<std::int64_t>("num_docs"), o));
        }, py::arg("query"), py::arg("feedback"), py::arg("num_docs"),
        py::arg("fb_terms") = Rm3Options{}.fb_terms,
        py::arg("fb_docs") = Rm3Options{}.fb_docs,
        py::arg("original_query_weight") = Rm3Options{}.original_query_weight,
        py::arg("filter_terms") = Rm3Options{}.filter_terms,
        "RM3 on explicit feedback documents (score, terms, tfs, dfs) of a collection of num_docs documents.");

  py::class_<Bm25Collection, PyBm25Collection>(m, "Bm25Collection", R"doc(
Base class of BM25 collections: what the bm25, rm3 and llm_terms stages read. Bm25Index is one.
A Python subclass (the sharded collection of densefb.distributed is one) calls

    Bm25Collection.__init__(self, num_docs, collection_num_docs, k1, b, lucene_norms=True)

and defines

    analyze_queries(self, texts) -> [[(term, weight), ...], ...]
    search(self, texts, k, num_threads) -> (scores, ids)          (n, k') arrays, best first
    search_weighted(self, queries, k, num_threads) -> (scores, ids) queries as analyze_queries'
    score_documents(self, queries, ids) -> [float32 array per query]
    feedback_documents(self, ids) -> [[(terms, tfs, dfs) per document] per query]

with scores from the collection's statistics (dfs: collection document frequencies); -1 marks
an empty slot.
)doc")
      .def(py::init([](const Int& num_docs, const Int& collection_num_docs, float k1, float b, bool lucene_norms) {
             return new PyBm25Collection(num_docs.As<std::int64_t>("num_docs", 0),
                                         collection_num_docs.As<std::int64_t>("collection_num_docs", 0),
                                         Bm25Params{k1, b, lucene_norms});
           }), py::arg("num_docs"), py::arg("collection_num_docs"), py::arg("k1") = Bm25Params{}.k1,
           py::arg("b") = Bm25Params{}.b, py::arg("lucene_norms") = Bm25Params{}.lucene_norms)
      .def_property_readonly("num_docs", &Bm25Collection::num_docs)
      .def_property_readonly("collection_num_docs", &Bm25Collection::CollectionNumDocs)
      .def_property_readonly("k1", [](const Bm25Collection& c) { return c.params().k1; })
      .def_property_readonly("b", [](const Bm25Collection& c) { return c.params().b; });

  py::class_<Bm25Index, Bm25Collection>(m, "Bm25Index", "BM25 over an inverted index (see densefb.sparse.Bm25Index).")
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
                        const Int& num_threads_arg, const py::object& filter_arg) {
             const std::int64_t k = SearchK(index, k_arg);
             const int num_threads = num_threads_arg.As<int>("num_threads", 0);
             const std::shared_ptr<const Filter> filter = FilterArg(filter_arg, "filter");
             BatchRanking r = ValueOrThrow(WithoutGil([&] { return index.Search(queries, k, num_threads, filter.get()); }));
             return ToArrays(r, k);
           }, py::arg("queries"), py::arg("k"), py::arg("num_threads") = 0, py::arg("filter") = py::none(),
           "Top-k documents containing a query term, best first.\n"
           "filter: None, a densefb.Filter, a bool mask (n_docs,) or (n_queries, n_docs) over ids,\n"
           "    a sequence of allowed ids, or one per query: only allowed ids are returned.\n"
           "    Applied before the top-k: never a disallowed document, shorter lists when fewer match.")
      .def("search_weighted", [](const Bm25Index& index, const std::vector<py::dict>& queries, const Int& k_arg,
                                 const Int& num_threads_arg, const py::object& filter_arg) {
             const std::int64_t k = SearchK(index, k_arg);
             const int num_threads = num_threads_arg.As<int>("num_threads", 0);
             std::vector<WeightedQuery> qs;
             for (const py::dict& d : queries) qs.push_back(QueryFromDict(d));
             const std::shared_ptr<const Filter> filter = FilterArg(filter_arg, "filter");
             BatchRanking r = ValueOrThrow(WithoutGil([&] { return index.SearchWeighted(qs, k, num_threads, filter.get()); }));
             return ToArrays(r, k);
           }, py::arg("queries"), py::arg("k"), py::arg("num_threads") = 0, py::arg("filter") = py::none())
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
      .def_property("dynamic_pruning", &Bm25Index::dynamic_pruning, &Bm25Index::set_dynamic_pruning,
                    "MaxScore pruning of unfiltered searches (default False); identical results either way.")
      .def("local_stats", [](const Bm25Index& index) { return StatsToDict(index.LocalStats()); })
      .def("set_collection_stats", [](Bm25Index& index, const py::object& stats) {
             ThrowIfError(index.SetCollectionStats(StatsFromDict(stats, "collection statistics")));
           }, py::arg("stats"))
      .def("clear_collection_stats", &Bm25Index::ClearCollectionStats)
      .def_property_readonly("has_collection_stats", &Bm25Index::has_collection_stats)
      .def_property_readonly("collection_num_docs", &Bm25Index::CollectionNumDocs)
      .def("doc_term_vectors", [](const Bm25Index& index, const IdArray& id_array) {
             Ranking docs;
             for (std::int64_t id : DocIds(id_array, "doc_ids")) docs.push_back({id, 0.0f});
             const std::vector<Rm3FeedbackDoc> vectors = ValueOrThrow(Rm3FeedbackDocs(index, docs));
             py::list out;
             for (const Rm3FeedbackDoc& d : vectors) out.append(FeedbackDocToTuple(d));
             return out;
           }, py::arg("doc_ids"))
      .def("doc_freq", [](const Bm25Index& index, const std::string& term) -> std::int64_t {
             const std::int32_t t = index.TermId(term);
             return t < 0 ? 0 : index.DocFreq(t);
           }, py::arg("term"))
      .def("idf", [](const Bm25Index& index, const std::string& term) {
             const std::int32_t t = index.TermId(term);
             // A term left only in deleted or replaced text is in no document, as after a fresh build.
             if (t < 0 || index.DocFreq(t) == 0) throw py::key_error("term \"" + term + "\" is not in the index");
             return index.Idf(t);
           }, py::arg("term"))
      .def("doc_length", [](const Bm25Index& index, const Int& doc_arg) {
             const auto doc = doc_arg.As<std::int64_t>("doc");
             if (doc < 0 || doc >= index.num_ids()) throw py::index_error("document id out of range");
             return index.DocLength(doc);
           }, py::arg("doc"))
      .def("doc_vector", [](const Bm25Index& index, const Int& doc_arg) {
             const auto doc = doc_arg.As<std::int64_t>("doc");
             if (doc < 0 || doc >= index.num_ids()) throw py::index_error("document id out of range");
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
      .def_property_readonly("doc_ids", &Bm25Index::DocNames)
      // Changes keep the GIL: the accessors above read the index without its lock, and holding
      // the GIL keeps them from running meanwhile; searches in other threads (which release the
      // GIL and take the lock) go on until the change takes the lock.
      .def("add", [](Bm25Index& index, const std::vector<std::string>& names, const std::vector<std::string>& texts,
                     const Int& num_threads) {
             ThrowIfError(index.Add(names, texts, num_threads.As<int>("num_threads", 0)));
           }, py::arg("names"), py::arg("texts"), py::arg("num_threads") = 0,
           "Adds documents (names may be empty: then the new ids in decimal).")
      .def("delete", [](Bm25Index& index, const std::vector<std::string>& names) { ThrowIfError(index.Delete(names)); },
           py::arg("names"), "Deletes live documents by name.")
      .def("delete_ids", [](Bm25Index& index, const IdArray& id_array) {
             ThrowIfError(index.DeleteIds(DocIds(id_array, "ids")));
           }, py::arg("ids"), "Deletes live documents by id.")
      .def("update", [](Bm25Index& index, const std::vector<std::string>& names, const std::vector<std::string>& texts,
                        const Int& num_threads) {
             ThrowIfError(index.Update(names, texts, num_threads.As<int>("num_threads", 0)));
           }, py::arg("names"), py::arg("texts"), py::arg("num_threads") = 0,
           "Replaces the texts of live documents (they keep their ids).")
      .def("compact", [](Bm25Index& index) { ThrowIfError(index.Compact()); },
           "Drops deleted documents; ids become dense (they change), names stay.")
      .def_property_readonly("num_ids", &Bm25Index::num_ids)
      .def_property_readonly("num_deleted", &Bm25Index::num_deleted)
      .def_property_readonly("deleted_mask", [](const Bm25Index& index) {
             const std::vector<std::uint8_t> flags = index.DeletedFlags();
             py::array_t<bool> out(static_cast<py::ssize_t>(flags.size()));
             std::copy(flags.begin(), flags.end(), out.mutable_data());
             return out;
           }, "Bool array by id: True for deleted documents.")
      .def("__len__", &Bm25Index::num_docs);
}

}  // namespace densefb::py_bindings
