// Multi-vector (ColBERT) index, MaxSim reranking and ColBERT-PRF (densefb/multivector.h).
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "array.h"
#include "bindings.h"
#include "densefb/multivector.h"
#include "densefb/residual_multivector.h"

namespace densefb::py_bindings {
namespace {

using IntArray = HostArray<std::int32_t>;  // token ids, converted exactly

// Queries: a sequence of (tokens, dim) arrays; weights: None or a sequence (None entries = 1).
std::vector<TokenQuery> QueriesArg(const py::sequence& queries, const py::object& weights) {
  std::vector<TokenQuery> out(py::len(queries));
  std::optional<py::sequence> w;
  if (!weights.is_none()) {
    w = weights.cast<py::sequence>();
    if (py::len(*w) != out.size()) {
      throw py::value_error(std::to_string(out.size()) + " queries but " + std::to_string(py::len(*w)) +
                            " weight arrays");
    }
  }
  for (std::size_t i = 0; i < out.size(); ++i) {
    const FloatArray a = ArrayFrom<FloatArray>(queries[i]);
    a.Check(("query " + std::to_string(i)).c_str());
    if (a.ndim() != 2) throw py::value_error("query " + std::to_string(i) + " must be a 2-d (tokens, dim) array");
    const ConstMatrixView v = MatrixArg(a, "query");
    out[i].vectors = Eigen::Map<const RowMatrix>(v.data, v.rows, v.cols);
    if (w && !(*w)[i].is_none()) {
      const FloatArray wa = ArrayFrom<FloatArray>((*w)[i]);
      wa.Check(("weights of query " + std::to_string(i)).c_str());
      if (wa.ndim() != 1) throw py::value_error("weights of query " + std::to_string(i) + " must be 1-d");
      out[i].weights.assign(wa.data(), wa.data() + wa.shape(0));
    }
  }
  return out;
}

// Candidate lists: a sequence of 1-d int64 id arrays (or a 2-d array); ids < 0 are padding.
BatchRanking CandidatesArg(const py::sequence& lists) {
  BatchRanking out;
  out.lists.resize(py::len(lists));
  for (std::size_t q = 0; q < out.lists.size(); ++q) {
    const IdArray ids = ArrayFrom<IdArray>(lists[q]);
    for (std::int64_t id : IdsArg(ids, "candidate ids")) {
      if (id >= 0) out.lists[q].push_back({id, -static_cast<float>(out.lists[q].size())});  // keeps the order
    }
  }
  return out;
}

// (scores float32 (n, width), ids int64 (n, width)), padded with -inf / -1, where width is
// min(k, the longest list): what exists caps it, never the k a user asked for (k <= 0: no cap).
py::tuple RankingArrays(const BatchRanking& r, std::int64_t k = 0) {
  std::int64_t width = 0;
  for (const Ranking& l : r.lists) width = std::max<std::int64_t>(width, static_cast<std::int64_t>(l.size()));
  if (k > 0) width = std::min(width, k);
  const std::int64_t n = static_cast<std::int64_t>(r.size());
  SearchArrays out(n, width);
  float* s = out.scores.mutable_data();
  std::int64_t* ids = out.ids.mutable_data();
  for (std::int64_t q = 0; q < n; ++q) {
    const Ranking& l = r.lists[q];
    for (std::int64_t j = 0; j < width; ++j) {
      const bool have = j < static_cast<std::int64_t>(l.size());
      s[q * width + j] = have ? l[j].score : -std::numeric_limits<float>::infinity();
      ids[q * width + j] = have ? l[j].id : kNoId;
    }
  }
  return out.Tuple();
}

py::array_t<float> MatrixCopy(ConstMatrixView v) {
  py::array_t<float> a(std::vector<py::ssize_t>{v.rows, v.cols});
  if (v.rows * v.cols > 0) std::copy_n(v.data, v.rows * v.cols, a.mutable_data());
  return a;
}

py::list QueriesOut(const std::vector<TokenQuery>& qs) {
  py::list out;
  for (const TokenQuery& q : qs) {
    py::array_t<float> w(static_cast<py::ssize_t>(q.vectors.rows()));
    for (std::int64_t i = 0; i < q.vectors.rows(); ++i) w.mutable_data()[i] = q.weights.empty() ? 1.0f : q.weights[i];
    py::array_t<std::int32_t> t(static_cast<py::ssize_t>(q.expansion_token_ids.size()));
    std::copy(q.expansion_token_ids.begin(), q.expansion_token_ids.end(), t.mutable_data());
    out.append(py::make_tuple(MatrixCopy(View(q.vectors)), w, t));
  }
  return out;
}

// Documents given directly: ids and arrays kept alive while the source is used.
struct GivenDocs {
  std::vector<std::int64_t> ids;
  std::vector<FloatArray> arrays;
  std::vector<ConstMatrixView> views;
  GivenDocs(const py::object& ids_obj, const py::object& docs_obj) {
    if (ids_obj.is_none() && docs_obj.is_none()) return;
    if (ids_obj.is_none() || docs_obj.is_none()) throw py::value_error("give both doc_ids and doc_vectors, or neither");
    const IdArray idarr = ArrayFrom<IdArray>(ids_obj);
    const auto span = IdsArg(idarr, "doc_ids");
    ids.assign(span.begin(), span.end());
    const py::sequence docs = docs_obj.cast<py::sequence>();
    if (py::len(docs) != ids.size()) throw py::value_error("doc_ids and doc_vectors differ in length");
    for (std::size_t i = 0; i < ids.size(); ++i) {
      arrays.push_back(ArrayFrom<FloatArray>(docs[i]));
      arrays.back().Check("doc_vectors");
      if (arrays.back().ndim() != 2) throw py::value_error("each of doc_vectors must be a 2-d (tokens, dim) array");
      views.push_back(MatrixArg(arrays.back(), "doc_vectors"));
    }
  }
  // The documents to score: those of `index` (may be null) and the given ones.
  DocumentTokenSource Source(const TokenCollection* index) const {
    DocumentTokenSource s;
    s.index = index;
    s.extra_ids = ids;
    s.extra_docs = views;
    return s;
  }
};

// A token collection written in Python: a subclass of densefb.TokenCollection that passes its
// sizes, document frequencies (by token id) and excluded token ids to TokenCollection.__init__
// and defines neighbours(vectors, k, ef_search, num_threads) -> (scores, rows, docs, token_ids),
// rerank(queries, weights, candidates, k, num_threads) -> (scores, ids) and documents(ids) ->
// list of (tokens, dim) arrays. The maxsim, rerank_maxsim and colbert_prf stages then read it as
// they read a MultiVectorIndex (the sharded collection of densefb.distributed is one).
class PyTokenCollection : public TokenCollection {
 public:
  PyTokenCollection(int dim, std::int64_t size, std::int64_t num_tokens, std::vector<std::int64_t> df,
                    std::vector<std::int32_t> excluded, bool has_token_index)
      : dim_(dim), size_(size), num_tokens_(num_tokens), df_(std::move(df)), excluded_(std::move(excluded)),
        has_token_index_(has_token_index) {
    std::sort(excluded_.begin(), excluded_.end());
    excluded_.erase(std::unique(excluded_.begin(), excluded_.end()), excluded_.end());
  }

  int dim() const override { return dim_; }
  std::int64_t size() const override { return size_; }
  std::int64_t num_tokens() const override { return num_tokens_; }
  bool has_token_index() const override { return has_token_index_; }

  absl::StatusOr<std::vector<std::int64_t>> DocumentFrequencies(
      absl::Span<const std::int32_t> token_ids) const override {
    std::vector<std::int64_t> out;
    out.reserve(token_ids.size());
    for (std::int32_t t : token_ids) {
      out.push_back(t >= 0 && static_cast<std::size_t>(t) < df_.size() ? df_[t] : 0);
    }
    return out;
  }
  absl::StatusOr<std::vector<std::int32_t>> ExcludedTokenIds() const override { return excluded_; }

  absl::StatusOr<TokenNeighbours> Neighbours(ConstMatrixView vectors, int k, int ef_search,
                                             int num_threads) const override {
    py::gil_scoped_acquire gil;
    const std::string who = Who();
    py::function f = py::get_override(static_cast<const TokenCollection*>(this), "neighbours");
    if (!f) return absl::UnimplementedError(absl::StrCat(who, " does not define neighbours(vectors, k, ef_search, num_threads)"));
    try {
      py::tuple r = f(MatrixCopy(vectors), k, ef_search, num_threads);
      if (r.size() != 4) {
        return absl::InvalidArgumentError(absl::StrCat(who, ".neighbours returned ", r.size(),
                                                       " values; expected (scores, rows, docs, token_ids)"));
      }
      py::array_t<float, py::array::c_style | py::array::forcecast> s(r[0]);
      py::array_t<std::int64_t, py::array::c_style | py::array::forcecast> rows(r[1]), docs(r[2]), tokens(r[3]);
      const std::int64_t n = vectors.rows;
      const bool shapes_ok = s.ndim() == 2 && s.shape(0) == n && s.shape(1) <= k;
      for (const auto* a : {&rows, &docs, &tokens}) {
        if (!shapes_ok || a->ndim() != 2 || a->shape(0) != s.shape(0) || a->shape(1) != s.shape(1)) {
          return absl::InvalidArgumentError(absl::StrCat(who, ".neighbours returned arrays of the wrong shapes; expected four (",
                                                         n, ", k') arrays with k' <= ", k));
        }
      }
      TokenNeighbours out;
      const std::int64_t width = s.shape(1);
      out.scores = Eigen::Map<const RowMatrix>(s.data(), n, width);
      out.rows = Eigen::Map<const IdMatrix>(rows.data(), n, width);
      out.docs = Eigen::Map<const IdMatrix>(docs.data(), n, width);
      out.token_ids = Eigen::Map<const IdMatrix>(tokens.data(), n, width);
      for (std::int64_t i = 0; i < n * width; ++i) {
        const std::int64_t row = out.rows.data()[i], doc = out.docs.data()[i];
        if (row == kNoId) continue;
        if (row < 0 || row >= num_tokens_ || doc < 0 || doc >= size_ || std::isnan(out.scores.data()[i])) {
          return absl::InvalidArgumentError(absl::StrCat(who, ".neighbours returned token row ", row, " of document ",
                                                         doc, " with score ", out.scores.data()[i], "; rows are in [0, ",
                                                         num_tokens_, "), documents in [0, ", size_, ")"));
        }
      }
      return out;
    } catch (py::error_already_set& e) {
      return FromPython(e, who + ".neighbours");
    }
  }

  absl::StatusOr<BatchRanking> Rerank(absl::Span<const TokenQuery> queries, const BatchRanking& candidates, int k,
                                      int num_threads) const override {
    py::gil_scoped_acquire gil;
    const std::string who = Who();
    py::function f = py::get_override(static_cast<const TokenCollection*>(this), "rerank");
    if (!f) return absl::UnimplementedError(absl::StrCat(who, " does not define rerank(queries, weights, candidates, k, num_threads)"));
    try {
      py::list qs, ws, cs;
      for (std::size_t q = 0; q < queries.size(); ++q) {
        qs.append(MatrixCopy(View(queries[q].vectors)));
        py::array_t<float> w(static_cast<py::ssize_t>(queries[q].vectors.rows()));
        for (std::int64_t i = 0; i < queries[q].vectors.rows(); ++i) {
          w.mutable_data()[i] = queries[q].weights.empty() ? 1.0f : queries[q].weights[i];
        }
        ws.append(w);
        py::array_t<std::int64_t> ids(static_cast<py::ssize_t>(candidates.lists[q].size()));
        for (std::size_t i = 0; i < candidates.lists[q].size(); ++i) ids.mutable_data()[i] = candidates.lists[q][i].id;
        cs.append(ids);
      }
      py::tuple r = f(qs, ws, cs, k, num_threads);
      if (r.size() != 2) return absl::InvalidArgumentError(absl::StrCat(who, ".rerank returned ", r.size(), " values; expected (scores, ids)"));
      py::array_t<float, py::array::c_style | py::array::forcecast> s(r[0]);
      py::array_t<std::int64_t, py::array::c_style | py::array::forcecast> d(r[1]);
      const auto n = static_cast<std::int64_t>(queries.size());
      if (s.ndim() != 2 || d.ndim() != 2 || s.shape(0) != n || d.shape(0) != n || s.shape(1) != d.shape(1)) {
        return absl::InvalidArgumentError(absl::StrCat(who, ".rerank returned arrays of the wrong shapes; expected two (", n,
                                                       ", width) arrays"));
      }
      BatchRanking out;
      out.lists.resize(queries.size());
      for (std::int64_t q = 0; q < n; ++q) {
        for (std::int64_t j = 0; j < s.shape(1); ++j) {
          const std::int64_t id = d.at(q, j);
          if (id == kNoId) continue;
          if (id < 0 || id >= size_ || std::isnan(s.at(q, j))) {
            return absl::InvalidArgumentError(absl::StrCat(who, ".rerank returned document ", id, " with score ",
                                                           s.at(q, j), " for query ", q));
          }
          out.lists[q].push_back({id, s.at(q, j)});
        }
        SortRanking(out.lists[q], k);
      }
      return out;
    } catch (py::error_already_set& e) {
      return FromPython(e, who + ".rerank");
    }
  }

  absl::StatusOr<std::vector<RowMatrix>> Documents(absl::Span<const std::int64_t> ids) const override {
    py::gil_scoped_acquire gil;
    const std::string who = Who();
    py::function f = py::get_override(static_cast<const TokenCollection*>(this), "documents");
    if (!f) return absl::UnimplementedError(absl::StrCat(who, " does not define documents(ids)"));
    try {
      py::array_t<std::int64_t> a(static_cast<py::ssize_t>(ids.size()));
      std::copy(ids.begin(), ids.end(), a.mutable_data());
      py::sequence docs = f(a).cast<py::sequence>();
      if (py::len(docs) != ids.size()) {
        return absl::InvalidArgumentError(absl::StrCat(who, ".documents returned ", py::len(docs), " documents for ",
                                                       ids.size(), " ids"));
      }
      std::vector<RowMatrix> out;
      out.reserve(ids.size());
      for (std::size_t i = 0; i < ids.size(); ++i) {
        py::array_t<float, py::array::c_style | py::array::forcecast> v(docs[i]);
        if (v.ndim() != 2 || (v.shape(0) > 0 && v.shape(1) != dim_)) {
          return absl::InvalidArgumentError(absl::StrCat(who, ".documents returned an array of ", v.ndim(),
                                                         " dimensions for document ", ids[i], "; expected (tokens, ",
                                                         dim_, ")"));
        }
        out.emplace_back(Eigen::Map<const RowMatrix>(v.data(), v.shape(0), v.shape(0) > 0 ? v.shape(1) : dim_));
      }
      return out;
    } catch (py::error_already_set& e) {
      return FromPython(e, who + ".documents");
    }
  }

 private:
  // "Python token collection <class name>"; called with the GIL held.
  std::string Who() const {
    py::object self = py::cast(static_cast<const TokenCollection*>(this));
    return absl::StrCat("Python token collection ", std::string(py::str(py::type::of(self).attr("__name__"))));
  }

  int dim_;
  std::int64_t size_;
  std::int64_t num_tokens_;
  std::vector<std::int64_t> df_;
  std::vector<std::int32_t> excluded_;
  bool has_token_index_;
};

// Any collection's TokenCollection methods as Python sees them (the sharded collection's actors
// call them on their MultiVectorIndex).
py::tuple NeighboursOut(const TokenNeighbours& r) {
  py::array_t<float> s(std::vector<py::ssize_t>{r.scores.rows(), r.scores.cols()});
  py::array_t<std::int64_t> rows(std::vector<py::ssize_t>{r.rows.rows(), r.rows.cols()});
  py::array_t<std::int64_t> docs(std::vector<py::ssize_t>{r.docs.rows(), r.docs.cols()});
  py::array_t<std::int64_t> tokens(std::vector<py::ssize_t>{r.token_ids.rows(), r.token_ids.cols()});
  std::copy_n(r.scores.data(), r.scores.size(), s.mutable_data());
  std::copy_n(r.rows.data(), r.rows.size(), rows.mutable_data());
  std::copy_n(r.docs.data(), r.docs.size(), docs.mutable_data());
  std::copy_n(r.token_ids.data(), r.token_ids.size(), tokens.mutable_data());
  return py::make_tuple(s, rows, docs, tokens);
}

// A Python keyword argument as a spec value (what the parameter tables read).
SpecValue SpecValueOf(const std::string& key, py::handle v) {
  SpecValue out;
  if (py::isinstance<py::bool_>(v)) {
    out.kind = SpecValue::Kind::kBool;
    out.boolean = v.cast<bool>();
    out.text = out.boolean ? "true" : "false";
  } else if (py::isinstance<py::int_>(v) || py::isinstance<py::float_>(v)) {
    out.kind = SpecValue::Kind::kNumber;
    out.number = v.cast<double>();
    out.text = py::str(v).cast<std::string>();
  } else if (py::isinstance<py::str>(v)) {
    out.text = v.cast<std::string>();
  } else {
    throw py::type_error("argument " + key + ": a " + std::string(py::str(py::type::of(v).attr("__name__"))) +
                         " is not a number, bool or string");
  }
  return out;
}

}  // namespace

namespace {

// The (docs, token_ids) arguments of add and update, converted and checked, kept alive while
// the index reads them.
struct DocumentArgs {
  DocumentArgs(const py::sequence& docs, const py::sequence& token_ids) {
    if (py::len(docs) != py::len(token_ids)) {
      throw py::value_error(std::to_string(py::len(docs)) + " documents but " +
                            std::to_string(py::len(token_ids)) + " token id arrays");
    }
    for (std::size_t i = 0; i < py::len(docs); ++i) {
      arrays.push_back(ArrayFrom<FloatArray>(docs[i]));
      arrays.back().Check(("document " + std::to_string(i)).c_str());
      if (arrays.back().ndim() != 2) {
        throw py::value_error("document " + std::to_string(i) + " must be a 2-d (tokens, dim) array");
      }
      views.push_back(MatrixArg(arrays.back(), "document"));
      id_arrays.push_back(ArrayFrom<IntArray>(token_ids[i]));
      id_arrays.back().Check(("token ids of document " + std::to_string(i)).c_str());
      if (id_arrays.back().ndim() != 1) {
        throw py::value_error("token ids of document " + std::to_string(i) + " must be a 1-d array");
      }
      ids.emplace_back(id_arrays.back().data(), static_cast<std::size_t>(id_arrays.back().shape(0)));
    }
  }
  std::vector<FloatArray> arrays;
  std::vector<IntArray> id_arrays;
  std::vector<ConstMatrixView> views;
  std::vector<absl::Span<const std::int32_t>> ids;
};

}  // namespace

void RegisterMultiVector(py::module_& m) {
  // Python's default token_k (densefb.multivector reads it; multivector.h holds it).
  m.attr("DEFAULT_TOKEN_K") = kDefaultTokenK;
  py::class_<TokenCollection, PyTokenCollection, std::shared_ptr<TokenCollection>>(m, "TokenCollection", R"doc(
Base class of token-embedding collections: what the maxsim, rerank_maxsim and colbert_prf
stages read. MultiVectorIndex is one. A Python subclass (the sharded collection of
densefb.distributed is one) calls

    TokenCollection.__init__(self, dim, size, num_tokens, document_frequencies,
                             excluded_token_ids, has_token_index=True)

(document_frequencies: documents per token id, indexed by token id) and defines

    neighbours(self, vectors, k, ef_search, num_threads) -> (scores, rows, docs, token_ids)
        the k' <= k nearest token embeddings of each vector, (n, k') arrays, best first
        (score descending, ties to the smaller token row); -1 marks an empty slot.
    rerank(self, queries, weights, candidates, k, num_threads) -> (scores, ids)
        exact weighted MaxSim of each query's candidate ids, (n, width) arrays padded
        with -inf / -1; the best k (k <= 0: all).
    documents(self, ids) -> list of (tokens, dim) float32 arrays.
)doc")
      .def(py::init([](const Int& dim, const Int& size, const Int& num_tokens, const IdArray& df,
                       const py::object& excluded, bool has_token_index) {
             const auto df_span = IdsArg(df, "document_frequencies");
             std::vector<std::int32_t> ex;
             if (!excluded.is_none()) {
               const IntArray a = ArrayFrom<IntArray>(excluded);
               a.Check("excluded_token_ids");
               ex.assign(a.data(), a.data() + a.size());
             }
             return new PyTokenCollection(dim.As<int>("dim", 1), size.As<std::int64_t>("size", 0),
                                          num_tokens.As<std::int64_t>("num_tokens", 0),
                                          std::vector<std::int64_t>(df_span.begin(), df_span.end()), std::move(ex),
                                          has_token_index);
           }), py::arg("dim"), py::arg("size"), py::arg("num_tokens"), py::arg("document_frequencies"),
           py::arg("excluded_token_ids") = py::none(), py::arg("has_token_index") = true)
      .def_property_readonly("dim", &TokenCollection::dim)
      .def_property_readonly("size", &TokenCollection::size)
      .def("__len__", &TokenCollection::size)
      .def_property_readonly("num_tokens", &TokenCollection::num_tokens)
      .def_property_readonly("has_token_index", &TokenCollection::has_token_index)
      .def("neighbours", [](const TokenCollection& c, const FloatArray& vectors, const Int& k_arg, const Int& ef_arg,
                            const Int& threads_arg) {
             const ConstMatrixView v = MatrixArg(vectors, "vectors");
             const int k = k_arg.Count<int>("k"), ef_search = ef_arg.As<int>("ef_search", 0);
             const int num_threads = threads_arg.As<int>("num_threads", 0);
             return NeighboursOut(ValueOrThrow(WithoutGil([&] { return c.Neighbours(v, k, ef_search, num_threads); })));
           }, py::arg("vectors"), py::arg("k") = 10, py::arg("ef_search") = 0, py::arg("num_threads") = 0,
           "The k nearest token embeddings of each vector: (scores, rows, docs, token_ids), (n, k') arrays.")
      .def("rerank", [](const TokenCollection& c, const py::sequence& queries, const py::object& weights,
                        const py::sequence& candidates, const Int& k_arg, const Int& threads_arg) {
             const int k = k_arg.As<int>("k", 0), num_threads = threads_arg.As<int>("num_threads", 0);
             std::vector<TokenQuery> q = QueriesArg(queries, weights);
             BatchRanking cands = CandidatesArg(candidates);
             return RankingArrays(ValueOrThrow(WithoutGil([&] { return c.Rerank(q, cands, k, num_threads); })), k);
           }, py::arg("queries"), py::arg("weights"), py::arg("candidates"), py::arg("k") = 0,
           py::arg("num_threads") = 0,
           "Exact weighted MaxSim of each query's candidate ids: (scores, ids), best first, k <= 0 keeps all.")
      .def("documents", [](const TokenCollection& c, const IdArray& ids) {
             const auto span = IdsArg(ids, "ids");
             std::vector<RowMatrix> docs = ValueOrThrow(WithoutGil([&] { return c.Documents(span); }));
             py::list out;
             for (const RowMatrix& d : docs) out.append(MatrixCopy(View(d)));
             return out;
           }, py::arg("ids"), "Copies of the documents' (tokens, dim) token embeddings.")
      .def("document_frequencies", [](const TokenCollection& c, const IntArray& token_ids) {
             token_ids.Check("token_ids");
             std::vector<std::int64_t> df = ValueOrThrow(c.DocumentFrequencies(
                 absl::Span<const std::int32_t>(token_ids.data(), static_cast<std::size_t>(token_ids.size()))));
             py::array_t<std::int64_t> out(static_cast<py::ssize_t>(df.size()));
             std::copy(df.begin(), df.end(), out.mutable_data());
             return out;
           }, py::arg("token_ids"), "Documents containing each token id.");

  py::class_<MultiVectorIndex, TokenCollection, std::shared_ptr<MultiVectorIndex>>(m, "MultiVectorIndex")
      .def(py::init([](const Int& dim) {
             return std::shared_ptr<MultiVectorIndex>(ValueOrThrow(MultiVectorIndex::Create(dim.As<int>("dim", 1))));
           }),
           py::arg("dim"))
      .def_static("load", [](const std::string& path) {
             return std::shared_ptr<MultiVectorIndex>(ValueOrThrow(WithoutGil([&] { return MultiVectorIndex::Load(path); })));
           }, py::arg("path"))
      .def("save", [](const MultiVectorIndex& index, const std::string& path) {
             ThrowIfError(WithoutGil([&] { return index.Save(path); }));
           }, py::arg("path"))
      .def("add", [](MultiVectorIndex& index, const py::sequence& docs, const py::sequence& token_ids) {
             DocumentArgs args(docs, token_ids);
             ThrowIfError(WithoutGil([&] { return index.Add(args.views, args.ids); }));
           }, py::arg("docs"), py::arg("token_ids"))
      .def("update", [](MultiVectorIndex& index, const IdArray& ids, const py::sequence& docs,
                        const py::sequence& token_ids) {
             const auto id_span = IdsArg(ids, "ids");
             DocumentArgs args(docs, token_ids);
             ThrowIfError(WithoutGil([&] { return index.Update(id_span, args.views, args.ids); }));
           }, py::arg("ids"), py::arg("docs"), py::arg("token_ids"))
      .def("delete", [](MultiVectorIndex& index, const IdArray& ids) {
             const auto id_span = IdsArg(ids, "ids");
             ThrowIfError(WithoutGil([&] { return index.Delete(id_span); }));
           }, py::arg("ids"))
      .def("compact", [](MultiVectorIndex& index) { ThrowIfError(WithoutGil([&] { return index.Compact(); })); })
      .def_property_readonly("num_deleted", &MultiVectorIndex::num_deleted)
      .def_property_readonly("num_documents", &MultiVectorIndex::num_documents)
      .def_property_readonly("num_garbage_tokens", &MultiVectorIndex::num_garbage_tokens)
      .def_property_readonly("memory_mapped", &MultiVectorIndex::memory_mapped)
      .def("document", [](const MultiVectorIndex& index, const Int& doc) {
             return MatrixCopy(ValueOrThrow(index.Document(doc.As<std::int64_t>("doc"))));
           }, py::arg("doc"))
      .def("document_token_ids", [](const MultiVectorIndex& index, const Int& doc) {
             const auto ids = ValueOrThrow(index.DocumentTokenIds(doc.As<std::int64_t>("doc")));
             return py::array_t<std::int32_t>(static_cast<py::ssize_t>(ids.size()), ids.data());
           }, py::arg("doc"))
      .def_property_readonly("token_ids", [](const MultiVectorIndex& index) {
             const auto ids = index.token_ids();
             return py::array_t<std::int32_t>(static_cast<py::ssize_t>(ids.size()), ids.data());
           })
      .def_property_readonly("doc_offsets", [](const MultiVectorIndex& index) {
             py::array_t<std::int64_t> out(static_cast<py::ssize_t>(index.size() + 1));
             std::int64_t at = 0;
             for (std::int64_t d = 0; d < index.size(); ++d) {
               out.mutable_data()[d] = at;
               const absl::StatusOr<ConstMatrixView> doc = index.Document(d);
               at += doc.ok() ? doc->rows : 0;  // a deleted document holds no rows
             }
             out.mutable_data()[index.size()] = at;
             return out;
           })
      .def("document_frequency", [](const MultiVectorIndex& index, const Int& token_id) {
             return index.DocumentFrequency(token_id.As<std::int32_t>("token_id"));
           }, py::arg("token_id"))
      .def("idf", [](const MultiVectorIndex& index, const Int& token_id) {
             return index.Idf(token_id.As<std::int32_t>("token_id"));
           }, py::arg("token_id"))
      .def_property("excluded_token_ids",
                    [](const MultiVectorIndex& i) {
                      const auto e = i.excluded_token_ids();
                      return std::vector<std::int32_t>(e.begin(), e.end());
                    },
                    [](MultiVectorIndex& i, const IntArray& id_array) {
                      id_array.Check("excluded_token_ids");
                      if (id_array.ndim() != 1) throw py::value_error("excluded_token_ids must be 1-d");
                      std::vector<std::int32_t> ids(id_array.data(), id_array.data() + id_array.size());
                      ThrowIfError(i.SetExcludedTokenIds(std::move(ids)));
                    })
      .def("build_token_index", [](MultiVectorIndex& index, const std::string& kind, const Int& M,
                                   const Int& ef_construction, const Int& ef_search, const Int& seed,
                                   const Int& num_threads) {
             TokenIndexConfig config;
             if (kind == "flat") {
               config.kind = TokenIndexConfig::Kind::kFlat;
             } else if (kind == "hnsw") {
               config.kind = TokenIndexConfig::Kind::kHnsw;
             } else {
               throw py::value_error("kind must be \"flat\" or \"hnsw\", got \"" + kind + "\"");
             }
             config.hnsw.M = M.As<int>("M");
             config.hnsw.ef_construction = ef_construction.As<int>("ef_construction", 1);
             config.hnsw.ef_search = ef_search.As<int>("ef_search", 1);
             config.hnsw.seed = static_cast<std::uint64_t>(seed.As<std::int64_t>("seed", 0));
             config.hnsw.num_threads = num_threads.As<int>("num_threads", 0);
             ThrowIfError(WithoutGil([&] { return index.BuildTokenIndex(config); }));
           }, py::arg("kind") = "flat", py::arg("M") = 16, py::arg("ef_construction") = 200,
           py::arg("ef_search") = 10, py::arg("seed") = 100, py::arg("num_threads") = 0)
      .def("nearest_tokens", [](const MultiVectorIndex& index, const FloatArray& vectors, const Int& k_arg,
                                const Int& ef_arg, const Int& threads_arg) {
             const ConstMatrixView v = MatrixArg(vectors, "vectors");
             const int k = k_arg.Count<int>("k"), ef_search = ef_arg.As<int>("ef_search", 0);
             const int num_threads = threads_arg.As<int>("num_threads", 0);
             SearchResult r = ValueOrThrow(WithoutGil([&] { return index.NearestTokens(v, k, ef_search, num_threads); }));
             SearchArrays out(r.scores.rows(), r.scores.cols());
             std::copy_n(r.scores.data(), r.scores.size(), out.scores.mutable_data());
             std::copy_n(r.ids.data(), r.ids.size(), out.ids.mutable_data());
             return out.Tuple();
           }, py::arg("vectors"), py::arg("k") = 10, py::arg("ef_search") = 0, py::arg("num_threads") = 0)
      .def("score", [](const MultiVectorIndex& index, const FloatArray& query, const IdArray& docs,
                       const py::object& weights) {
             query.Check("query");
             py::list ql;
             ql.append(query);
             py::list wl;
             wl.append(weights);
             std::vector<TokenQuery> q = QueriesArg(ql, wl);
             const auto ids = IdsArg(docs, "docs");
             py::array_t<float> out(static_cast<py::ssize_t>(ids.size()));
             float* o = out.mutable_data();
             ThrowIfError(WithoutGil([&] { return index.Score(q[0], ids, absl::Span<float>(o, ids.size())); }));
             return out;
           }, py::arg("query"), py::arg("docs"), py::arg("weights") = py::none())
      .def("candidates", [](const MultiVectorIndex& index, const py::sequence& queries, const Int& token_k,
                            const Int& ef_search, const Int& num_threads) {
             std::vector<TokenQuery> q = QueriesArg(queries, py::none());
             MultiVectorSearchOptions o;
             o.token_k = token_k.Count<int>("token_k");
             o.ef_search = ef_search.As<int>("ef_search", 0);
             o.num_threads = num_threads.As<int>("num_threads", 0);
             BatchRanking r = ValueOrThrow(WithoutGil([&] { return index.Candidates(q, o); }));
             py::list out;
             for (const Ranking& l : r.lists) {
               py::array_t<std::int64_t> ids(static_cast<py::ssize_t>(l.size()));
               for (std::size_t i = 0; i < l.size(); ++i) ids.mutable_data()[i] = l[i].id;
               out.append(ids);
             }
             return out;
           }, py::arg("queries"), py::arg("token_k") = kDefaultTokenK, py::arg("ef_search") = 0, py::arg("num_threads") = 0)
      .def("search", [](const MultiVectorIndex& index, const py::sequence& queries, const py::object& weights,
                        const Int& k_arg, const Int& token_k, const Int& ef_search, const Int& num_threads,
                        const py::object& filter_arg) {
             std::vector<TokenQuery> q = QueriesArg(queries, weights);
             const std::shared_ptr<const Filter> filter = FilterArg(filter_arg, "filter");
             // Sizes capped by what exists: k by the documents, token_k by the tokens (in Candidates).
             const int k = static_cast<int>(std::min<std::int64_t>(k_arg.Count<int>("k"), std::max<std::int64_t>(index.size(), 1)));
             MultiVectorSearchOptions o{k, token_k.Count<int>("token_k"), ef_search.As<int>("ef_search", 0),
                                        num_threads.As<int>("num_threads", 0), filter.get()};
             BatchRanking r = ValueOrThrow(WithoutGil([&] { return index.Search(q, o); }));
             return RankingArrays(r, k);
           }, py::arg("queries"), py::arg("weights") = py::none(), py::arg("k") = 1000, py::arg("token_k") = kDefaultTokenK,
           py::arg("ef_search") = 0, py::arg("num_threads") = 0, py::arg("filter") = py::none(),
           "Top-k by exact MaxSim among the documents of each query's token_k nearest tokens.\n"
           "filter: allowed documents (densefb.Filter, bool mask, ids, or ids per query): other\n"
           "candidates are dropped; a query allowing under 1/16 of the documents has all of them scored.");

  py::class_<ResidualMultiVectorIndex, TokenCollection, std::shared_ptr<ResidualMultiVectorIndex>>(
      m, "ResidualMultiVectorIndex", R"doc(
A residual-compressed multi-vector collection (ColBERTv2's storage): each token embedding is the
id of its nearest centroid plus its residual at nbits bits per dimension. MaxSim, ColBERT-PRF and
the multi-vector pipeline stages run on it unchanged (pass it as the "multivector" resource);
nearest tokens come from the centroids as an inverted file (nprobe centroids probed).

    compressed = ResidualMultiVectorIndex.build(mv_index, nbits=2)
)doc")
      .def_static("build", [](const MultiVectorIndex& source, const Int& nbits, const Int& num_centroids,
                              const Int& kmeans_iters, const Int& seed, const Int& nprobe, bool normalize,
                              const Int& num_threads) {
             ResidualCompressionConfig c;
             c.nbits = nbits.As<int>("nbits", 1);
             c.num_centroids = num_centroids.As<std::int64_t>("num_centroids", 0);
             c.kmeans_iters = kmeans_iters.As<int>("kmeans_iters", 0);
             c.seed = static_cast<std::uint64_t>(seed.As<std::int64_t>("seed", 0));
             c.nprobe = nprobe.As<int>("nprobe", 1);
             c.normalize = normalize;
             const int threads = num_threads.As<int>("num_threads", 0);
             return std::shared_ptr<ResidualMultiVectorIndex>(
                 ValueOrThrow(WithoutGil([&] { return ResidualMultiVectorIndex::Build(source, c, threads); })));
           }, py::arg("source"), py::arg("nbits") = 2, py::arg("num_centroids") = 0, py::arg("kmeans_iters") = 4,
           py::arg("seed") = 123, py::arg("nprobe") = 4, py::arg("normalize") = true, py::arg("num_threads") = 0,
           "Compresses the live documents of a MultiVectorIndex (see densefb/residual_multivector.h).")
      .def_static("load", [](const std::string& path) {
             return std::shared_ptr<ResidualMultiVectorIndex>(
                 ValueOrThrow(WithoutGil([&] { return ResidualMultiVectorIndex::Load(path); })));
           }, py::arg("path"))
      .def("save", [](const ResidualMultiVectorIndex& index, const std::string& path) {
             ThrowIfError(WithoutGil([&] { return index.Save(path); }));
           }, py::arg("path"))
      .def_property_readonly("nbits", &ResidualMultiVectorIndex::nbits)
      .def_property_readonly("normalize", &ResidualMultiVectorIndex::normalize)
      .def_property_readonly("num_centroids", &ResidualMultiVectorIndex::num_centroids)
      .def_property_readonly("num_documents", &ResidualMultiVectorIndex::num_documents)
      .def_property_readonly("num_deleted", &ResidualMultiVectorIndex::num_deleted)
      .def_property("nprobe", &ResidualMultiVectorIndex::nprobe, [](ResidualMultiVectorIndex& index, const Int& n) {
             ThrowIfError(index.set_nprobe(n.As<int>("nprobe", 1)));
           }, "Centroids probed per vector by neighbours() and candidate generation.")
      .def_property_readonly("centroids", [](const ResidualMultiVectorIndex& index) {
             return MatrixCopy(View(index.centroids()));
           })
      .def_property_readonly("bucket_cutoffs", [](const ResidualMultiVectorIndex& index) {
             const auto& v = index.bucket_cutoffs();
             return py::array_t<float>(static_cast<py::ssize_t>(v.size()), v.data());
           })
      .def_property_readonly("bucket_weights", [](const ResidualMultiVectorIndex& index) {
             const auto& v = index.bucket_weights();
             return py::array_t<float>(static_cast<py::ssize_t>(v.size()), v.data());
           })
      .def_property_readonly("codes", [](const ResidualMultiVectorIndex& index) {
             const auto v = index.codes();
             return py::array_t<std::int32_t>(static_cast<py::ssize_t>(v.size()), v.data());
           }, "The centroid of every token row (int32).")
      .def_property_readonly("residual_codes", [](const ResidualMultiVectorIndex& index) {
             const auto v = index.residual_codes();
             const py::ssize_t rows = index.num_tokens(), cols = rows > 0 ? static_cast<py::ssize_t>(v.size()) / rows : 0;
             py::array_t<std::uint8_t> out({rows, cols});
             std::copy(v.begin(), v.end(), out.mutable_data());
             return out;
           }, "Packed residual buckets (tokens, ceil(dim * nbits / 8)) uint8: dimension j in byte\n"
              "j // (8 // nbits) at bit (j % (8 // nbits)) * nbits, low bits first.")
      .def_property_readonly("token_ids", [](const ResidualMultiVectorIndex& index) {
             const auto v = index.token_ids();
             return py::array_t<std::int32_t>(static_cast<py::ssize_t>(v.size()), v.data());
           })
      .def_property_readonly("excluded_token_ids", [](const ResidualMultiVectorIndex& index) {
             return ValueOrThrow(index.ExcludedTokenIds());
           })
      .def("document", [](const ResidualMultiVectorIndex& index, const Int& doc) {
             const RowMatrix d = ValueOrThrow(index.Document(doc.As<std::int64_t>("doc", 0)));
             return MatrixCopy(View(d));
           }, py::arg("doc"), "The decompressed (tokens, dim) token embeddings of a document.")
      .def("memory_usage", [](const ResidualMultiVectorIndex& index) {
             const ResidualMemoryUsage u = index.memory_usage();
             py::dict d;
             d["residuals"] = u.residuals;
             d["codes"] = u.codes;
             d["token_ids"] = u.token_ids;
             d["centroids"] = u.centroids;
             d["documents"] = u.documents;
             d["total"] = u.total();
             d["float32_matrix"] = u.float32_matrix;
             return d;
           }, "Bytes held, by part; float32_matrix: the float32 token matrix of the same tokens.")
      .def("search", [](const ResidualMultiVectorIndex& index, const py::sequence& queries, const py::object& weights,
                        const Int& k_arg, const Int& token_k, const Int& num_threads, const py::object& filter_arg) {
             std::vector<TokenQuery> q = QueriesArg(queries, weights);
             const std::shared_ptr<const Filter> filter = FilterArg(filter_arg, "filter");
             const int k = static_cast<int>(std::min<std::int64_t>(k_arg.Count<int>("k"), std::max<std::int64_t>(index.size(), 1)));
             MultiVectorSearchOptions o{k, token_k.Count<int>("token_k"), 0, num_threads.As<int>("num_threads", 0),
                                        filter.get()};
             BatchRanking r = ValueOrThrow(WithoutGil([&] { return MaxSimSearch(index, q, o); }));
             return RankingArrays(r, k);
           }, py::arg("queries"), py::arg("weights") = py::none(), py::arg("k") = 1000, py::arg("token_k") = kDefaultTokenK,
           py::arg("num_threads") = 0, py::arg("filter") = py::none(),
           "Top-k by MaxSim over the decompressed embeddings among the documents of each query's token_k\n"
           "nearest tokens (from the nprobe nearest centroids of each query token).");

  m.def("maxsim_rerank", [](const py::sequence& queries, const py::sequence& candidates, const py::object& weights,
                            const TokenCollection* index, const py::object& doc_ids,
                            const py::object& doc_vectors, const Int& k_arg, const Int& num_threads_arg) {
          const int k = k_arg.Count<int>("k"), num_threads = num_threads_arg.As<int>("num_threads", 0);
          std::vector<TokenQuery> q = QueriesArg(queries, weights);
          BatchRanking c = CandidatesArg(candidates);
          const GivenDocs given(doc_ids, doc_vectors);
          const DocumentTokenSource source = given.Source(index);
          BatchRanking r = ValueOrThrow(WithoutGil([&] { return MaxSimRerank(source, q, c, k, num_threads); }));
          return RankingArrays(r, k);
        }, py::arg("queries"), py::arg("candidates"), py::arg("weights") = py::none(), py::arg("index") = nullptr,
        py::arg("doc_ids") = py::none(), py::arg("doc_vectors") = py::none(), py::arg("k") = 0,
        py::arg("num_threads") = 0);

  m.def("kmeans", [](const FloatArray& points, const Int& clusters_arg, const Int& seed_arg, const Int& max_iter_arg,
                     double tol) {
          const ConstMatrixView p = MatrixArg(points, "points");
          const int clusters = clusters_arg.As<int>("clusters"), max_iter = max_iter_arg.As<int>("max_iter");
          const auto seed = static_cast<std::uint64_t>(seed_arg.As<std::int64_t>("seed", 0));
          KMeansResult r = ValueOrThrow(WithoutGil([&] { return KMeans(p, clusters, seed, max_iter, tol); }));
          return py::make_tuple(MatrixCopy(View(r.centroids)), r.labels, r.iterations);
        }, py::arg("points"), py::arg("clusters"), py::arg("seed") = 42, py::arg("max_iter") = 300,
        py::arg("tol") = 1e-4);

  py::class_<ColbertPrf>(m, "ColbertPrf")
      .def(py::init([](const py::dict& params) {
             // The colbert_prf stage's parameters and defaults (one table); the k-means settings
             // keep the config's defaults.
             std::vector<std::pair<std::string, SpecValue>> args;
             for (const auto& [key, value] : params) {
               const std::string name = py::str(key).cast<std::string>();
               args.emplace_back(name, SpecValueOf(name, value));
             }
             StageArgs stage_args("colbert_prf", std::move(args));
             ColbertPrfConfig c;
             ThrowIfError(ColbertPrfFeedback::Params().Read(stage_args, &c));
             ThrowIfError(stage_args.Finish());
             return ValueOrThrow(ColbertPrf::Create(c));
           }),
           py::arg("params"))
      .def_property_readonly("spec", [](const ColbertPrf& p) { return ColbertPrfFeedback::Params().Print(p.config()); })
      .def_property_readonly("fb_docs", [](const ColbertPrf& p) { return p.config().fb_docs; })
      .def_property_readonly("k", [](const ColbertPrf& p) { return p.config().clusters; })
      .def_property_readonly("fb_embs", [](const ColbertPrf& p) { return p.config().fb_embs; })
      .def_property_readonly("beta", [](const ColbertPrf& p) { return p.config().beta; })
      .def_property_readonly("neighbours", [](const ColbertPrf& p) { return p.config().neighbours; })
      .def_property_readonly("seed", [](const ColbertPrf& p) { return p.config().seed; })
      .def("expand", [](const ColbertPrf& prf, const TokenCollection* index, const py::sequence& queries,
                        const py::sequence& first_pass, const py::object& weights, const py::object& doc_ids,
                        const py::object& doc_vectors, const Int& num_threads_arg) {
             const int num_threads = num_threads_arg.As<int>("num_threads", 0);
             std::vector<TokenQuery> q = QueriesArg(queries, weights);
             BatchRanking c = CandidatesArg(first_pass);
             const GivenDocs given(doc_ids, doc_vectors);
             const DocumentTokenSource source = given.Source(index);
             std::vector<PrfExpansion> details;
             std::vector<TokenQuery> e =
                 ValueOrThrow(WithoutGil([&] { return prf.Expand(source, q, c, num_threads, &details); }));
             py::list info;
             for (const PrfExpansion& x : details) {
               py::dict d;
               d["centroids"] = MatrixCopy(View(x.centroids));
               d["centroid_tokens"] = x.centroid_tokens;
               d["centroid_idf"] = x.centroid_idf;
               d["selected"] = x.selected;
               info.append(d);
             }
             return py::make_tuple(QueriesOut(e), info);
           }, py::arg("index"), py::arg("queries"), py::arg("first_pass"), py::arg("weights") = py::none(),
           py::arg("doc_ids") = py::none(), py::arg("doc_vectors") = py::none(), py::arg("num_threads") = 0);
}

}  // namespace densefb::py_bindings
