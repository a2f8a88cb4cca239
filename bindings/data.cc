// Bindings of include/densefb/data.h: corpora, queries, qrels, runs, BEIR and TREC files.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <climits>
#include <string>
#include <vector>

#include "bindings.h"
#include "densefb/data.h"

namespace densefb::py_bindings {
namespace {

py::dict DocumentDict(const Document& d) {
  py::dict out;
  out["_id"] = d.id;
  out["title"] = d.title;
  out["text"] = d.text;
  return out;
}

template <typename T>
const T& At(const std::vector<T>& v, std::int64_t i, const char* what) {
  const auto n = static_cast<std::int64_t>(v.size());
  if (i < 0) i += n;
  if (i < 0 || i >= n) throw py::index_error(std::string(what) + " index out of range");
  return v[i];
}

// The pytrec_eval-style dicts are checked here, so that a wrong value gives a ValueError naming
// the query and document rather than pybind11's "Unable to cast" message.
[[noreturn]] void ThrowBadEntry(const char* what, const std::string& message) {
  throw py::value_error(std::string(what) + ": " + message);
}

std::string IdKey(py::handle key, const char* what, const char* kind) {
  if (!py::isinstance<py::str>(key)) {
    ThrowBadEntry(what, std::string(kind) + " " + py::repr(key).cast<std::string>() +
                            " must be a str, not " + Py_TYPE(key.ptr())->tp_name);
  }
  return key.cast<std::string>();
}

py::dict InnerDict(py::handle value, const char* what, const std::string& qid) {
  if (!py::isinstance<py::dict>(value)) {
    ThrowBadEntry(what, "the documents of query " + QuoteId(qid) + " must be a dict, not " +
                            Py_TYPE(value.ptr())->tp_name);
  }
  return py::reinterpret_borrow<py::dict>(value);
}

std::string EntryName(const std::string& qid, const std::string& doc) {
  return "document " + QuoteId(doc) + " of query " + QuoteId(qid);
}

// A relevance grade: a Python or numpy integer (bool included) that fits an int.
int Grade(py::handle value, const std::string& qid, const std::string& doc) {
  const std::string where = "grade of " + EntryName(qid, doc);
  if (py::isinstance<py::float_>(value) || py::isinstance<py::str>(value) ||
      py::isinstance<py::bytes>(value) || !PyIndex_Check(value.ptr())) {
    ThrowBadEntry("qrels", where + " must be an integer, got " + py::repr(value).cast<std::string>() +
                               " (" + Py_TYPE(value.ptr())->tp_name + ")");
  }
  const auto big = py::reinterpret_steal<py::object>(PyNumber_Index(value.ptr()));
  if (!big) throw py::error_already_set();
  int overflow = 0;
  const long long grade = PyLong_AsLongLongAndOverflow(big.ptr(), &overflow);
  if (overflow != 0 || grade < INT_MIN || grade > INT_MAX) {
    ThrowBadEntry("qrels", where + " " + py::repr(value).cast<std::string>() + " is out of range");
  }
  return static_cast<int>(grade);
}

// A score: a Python or numpy real number (int, float, numpy floating).
double Score(py::handle value, const std::string& qid, const std::string& doc) {
  if (py::isinstance<py::str>(value) || py::isinstance<py::bytes>(value) ||
      !(PyFloat_Check(value.ptr()) || PyIndex_Check(value.ptr()) ||
        (Py_TYPE(value.ptr())->tp_as_number != nullptr &&
         Py_TYPE(value.ptr())->tp_as_number->nb_float != nullptr))) {
    ThrowBadEntry("run", "score of " + EntryName(qid, doc) + " must be a number, got " +
                             py::repr(value).cast<std::string>() + " (" +
                             Py_TYPE(value.ptr())->tp_name + ")");
  }
  const double score = PyFloat_AsDouble(value.ptr());
  if (score == -1.0 && PyErr_Occurred()) {
    PyErr_Clear();
    ThrowBadEntry("run", "score of " + EntryName(qid, doc) + " " +
                             py::repr(value).cast<std::string>() + " is not a float");
  }
  return score;
}

Run RunFromDict(const py::dict& d) {
  Run run;
  for (auto item : d) {
    const std::string qid = IdKey(item.first, "run", "query id");
    const std::size_t q = ValueOrThrow(run.AddQuery(qid));
    for (auto doc : InnerDict(item.second, "run", qid)) {
      const std::string doc_id = IdKey(doc.first, "run", "document id");
      ThrowIfError(run.Append(q, doc_id, Score(doc.second, qid, doc_id)));
    }
  }
  return run;
}

Qrels QrelsFromDict(const py::dict& d) {
  Qrels qrels;
  for (auto item : d) {
    const std::string qid = IdKey(item.first, "qrels", "query id");
    for (auto doc : InnerDict(item.second, "qrels", qid)) {
      const std::string doc_id = IdKey(doc.first, "qrels", "document id");
      ThrowIfError(qrels.Set(qid, doc_id, Grade(doc.second, qid, doc_id)));
    }
  }
  return qrels;
}

}  // namespace

void RegisterData(py::module_& m) {
  py::class_<Corpus>(m, "Corpus", "Documents of a collection, addressed by string id or position.")
      .def("__len__", &Corpus::size)
      .def("__getitem__", [](const Corpus& c, std::int64_t i) {
            return DocumentDict(At(c.documents(), i, "corpus"));
          }, "The i-th document as {'_id', 'title', 'text'}.")
      .def_property_readonly("ids", [](const Corpus& c) { return c.ids().names(); },
                             "Document ids in corpus order (position = internal id).")
      .def("position", [](const Corpus& c, const std::string& id) {
            const std::int32_t i = c.ids().Find(id);
            if (i < 0) throw py::key_error("unknown document id \"" + id + "\"");
            return i;
          }, py::arg("doc_id"), "Internal (row) id of a document id; KeyError if unknown.")
      .def("texts", [](const Corpus& c) {
            std::vector<std::string> out;
            out.reserve(c.size());
            for (std::size_t i = 0; i < c.size(); ++i) out.push_back(c.FullText(i));
            return out;
          }, "Texts to encode: \"title text\" (title omitted when empty).")
      .def("__repr__", [](const Corpus& c) { return "<densefb.Corpus " + std::to_string(c.size()) + " documents>"; });

  py::class_<Queries>(m, "Queries", "Queries of a collection.")
      .def("__len__", &Queries::size)
      .def("__getitem__", [](const Queries& q, std::int64_t i) {
            const Query& query = At(q.queries(), i, "queries");
            return py::make_tuple(query.id, query.text);
          }, "The i-th query as (id, text).")
      .def_property_readonly("ids", [](const Queries& q) { return q.ids().names(); })
      .def_property_readonly("texts", [](const Queries& q) {
            std::vector<std::string> out;
            for (const Query& query : q.queries()) out.push_back(query.text);
            return out;
          })
      .def("__repr__", [](const Queries& q) { return "<densefb.Queries " + std::to_string(q.size()) + " queries>"; });

  py::class_<Qrels>(m, "Qrels", "Graded relevance judgments: {query id: {doc id: grade}}.")
      .def(py::init<>())
      .def_static("from_dict", &QrelsFromDict, py::arg("qrels"),
                  "From {query id: {doc id: grade}} (the pytrec_eval convention).")
      .def("set", [](Qrels& q, const std::string& qid, const std::string& doc, py::handle grade) {
            ThrowIfError(q.Set(qid, doc, Grade(grade, qid, doc)));
          },
           py::arg("query_id"), py::arg("doc_id"), py::arg("grade"),
           "Adds or overwrites one judgment.")
      .def("to_dict", [](const Qrels& qrels) {
            py::dict out;
            for (std::size_t q = 0; q < qrels.num_queries(); ++q) {
              py::dict docs;
              for (const auto& j : qrels.judgments(q)) docs[py::str(j.doc_id)] = j.grade;
              out[py::str(qrels.query_ids()[q])] = docs;
            }
            return out;
          })
      .def_property_readonly("query_ids", &Qrels::query_ids)
      .def_property_readonly("num_judgments", &Qrels::num_judgments)
      .def("__len__", &Qrels::num_queries)
      .def("__repr__", [](const Qrels& q) {
            return "<densefb.Qrels " + std::to_string(q.num_queries()) + " queries, " +
                   std::to_string(q.num_judgments()) + " judgments>";
          });

  py::class_<Run>(m, "Run", "Ranked, scored documents per query (higher score = better).")
      .def(py::init<>())
      .def_static("from_dict", &RunFromDict, py::arg("run"),
                  "From {query id: {doc id: score}} (the pytrec_eval convention).")
      .def("add", [](Run& run, const std::string& qid, const std::vector<std::string>& doc_ids,
                     const std::vector<double>& scores) {
            if (doc_ids.size() != scores.size()) {
              throw py::value_error("doc_ids and scores differ in length");
            }
            const std::size_t q = ValueOrThrow(run.AddQuery(qid));
            for (std::size_t i = 0; i < doc_ids.size(); ++i) ThrowIfError(run.Append(q, doc_ids[i], scores[i]));
          }, py::arg("query_id"), py::arg("doc_ids"), py::arg("scores"),
          "Adds one query's ranking; ValueError if the query is already in the run, for an "
          "invalid id or a NaN score.")
      .def("to_dict", [](const Run& run) {
            py::dict out;
            for (std::size_t q = 0; q < run.num_queries(); ++q) {
              py::dict docs;
              for (const auto& e : run.list(q)) docs[py::str(e.doc_id)] = e.score;
              out[py::str(run.query_ids()[q])] = docs;
            }
            return out;
          })
      .def("get", [](const Run& run, const std::string& qid) {
            const std::int64_t q = run.FindQuery(qid);
            if (q < 0) throw py::key_error("query \"" + qid + "\" is not in the run");
            std::vector<std::pair<std::string, double>> out;
            for (const auto& e : run.list(q)) out.emplace_back(e.doc_id, e.score);
            return out;
          }, py::arg("query_id"), "[(doc id, score), ...] of a query, in stored order.")
      .def("sort", &Run::SortAndTruncate, py::arg("depth") = 0,
           "Sorts each list by score (ties: doc id descending, as trec_eval) and keeps `depth` (0 = all).")
      .def_property_readonly("query_ids", &Run::query_ids)
      .def_property_readonly("num_entries", &Run::num_entries)
      .def_readwrite("name", &Run::name, "Run tag written in TREC files.")
      .def("__len__", &Run::num_queries)
      .def("__contains__", [](const Run& run, const std::string& qid) { return run.FindQuery(qid) >= 0; })
      .def("__repr__", [](const Run& r) {
            return "<densefb.Run '" + r.name + "' " + std::to_string(r.num_queries()) + " queries, " +
                   std::to_string(r.num_entries()) + " entries>";
          });

  m.def("make_run", [](const std::vector<std::string>& query_ids,
                       py::array_t<std::int64_t, py::array::c_style | py::array::forcecast> ids,
                       py::array_t<float, py::array::c_style | py::array::forcecast> scores,
                       const std::vector<std::string>& doc_ids, const std::string& name) {
          if (ids.ndim() != 2 || scores.ndim() != 2 || ids.shape(0) != scores.shape(0) ||
              ids.shape(1) != scores.shape(1)) {
            throw py::value_error("ids and scores must be 2-d arrays of the same shape");
          }
          if (static_cast<std::size_t>(ids.shape(0)) != query_ids.size()) {
            throw py::value_error("got " + std::to_string(query_ids.size()) + " query ids for " +
                                  std::to_string(ids.shape(0)) + " result rows");
          }
          Run run = ValueOrThrow(MakeRun(query_ids, ids.data(), scores.data(), ids.shape(1), doc_ids));
          run.name = name;
          return run;
        }, py::arg("query_ids"), py::arg("ids"), py::arg("scores"), py::arg("doc_ids"),
        py::arg("name") = "densefb",
        "Builds a Run from search results: ids index doc_ids; -1 padding is skipped. ValueError "
        "for a NaN or infinite score, a document twice in a row, or an invalid id.");

  py::class_<BeirDataset>(m, "BeirDataset", "A BEIR folder: corpus, judged queries of a split, qrels.")
      .def_readonly("path", &BeirDataset::path)
      .def_readonly("split", &BeirDataset::split)
      .def_readonly("corpus", &BeirDataset::corpus)
      .def_readonly("queries", &BeirDataset::queries)
      .def_readonly("qrels", &BeirDataset::qrels)
      .def("__repr__", [](const BeirDataset& d) {
            return "<densefb.BeirDataset '" + d.path + "' split=" + d.split + ": " +
                   std::to_string(d.corpus.size()) + " documents, " +
                   std::to_string(d.queries.size()) + " queries>";
          });

  m.def("load_beir", [](const std::string& dir, const std::string& split) {
          return ValueOrThrow(WithoutGil([&] { return LoadBeirDataset(dir, split); }));
        }, py::arg("path"), py::arg("split") = "test",
        "Loads a BEIR folder (corpus.jsonl[.gz], queries.jsonl[.gz], qrels/<split>.tsv).");
  m.def("read_beir_corpus", [](const std::string& p) { return ValueOrThrow(WithoutGil([&] { return ReadBeirCorpus(p); })); }, py::arg("path"));
  m.def("read_beir_queries", [](const std::string& p) { return ValueOrThrow(WithoutGil([&] { return ReadBeirQueries(p); })); }, py::arg("path"));
  m.def("read_beir_qrels", [](const std::string& p) { return ValueOrThrow(WithoutGil([&] { return ReadBeirQrels(p); })); }, py::arg("path"));
  m.def("read_topics_tsv", [](const std::string& p) { return ValueOrThrow(WithoutGil([&] { return ReadTopicsTsv(p); })); },
        py::arg("path"), "Reads topics \"qid<TAB>text\" a line (Pyserini's TSV) as Queries.");
  m.def("check_id", [](const std::string& id, const std::string& what) { ThrowIfError(ValidateId(id, what)); },
        py::arg("id"), py::arg("what") = "id",
        "ValueError unless `id` can round-trip through every text format (non-empty UTF-8 "
        "without whitespace or control characters).");
  m.def("read_trec_run", [](const std::string& p) { return ValueOrThrow(WithoutGil([&] { return ReadTrecRun(p); })); }, py::arg("path"));
  m.def("read_trec_qrels", [](const std::string& p) { return ValueOrThrow(WithoutGil([&] { return ReadTrecQrels(p); })); }, py::arg("path"));
  m.def("write_trec_run", [](const std::string& p, const Run& run) { ThrowIfError(WithoutGil([&] { return WriteTrecRun(p, run); })); },
        py::arg("path"), py::arg("run"), "Writes a TREC run file atomically.");
  m.def("write_trec_qrels", [](const std::string& p, const Qrels& q) { ThrowIfError(WithoutGil([&] { return WriteTrecQrels(p, q); })); },
        py::arg("path"), py::arg("qrels"), "Writes TREC qrels atomically.");
}

}  // namespace densefb::py_bindings
