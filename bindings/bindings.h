// Shared helpers of the binding files: one per public header area, no algorithm here.
#ifndef DENSEFB_BINDINGS_BINDINGS_H_
#define DENSEFB_BINDINGS_BINDINGS_H_

#include <pybind11/pybind11.h>

#include <memory>
#include <string>
#include <utility>

#include "densefb/filter.h"
#include "densefb/status.h"

namespace densefb::py_bindings {

namespace py = pybind11;

// The one place where an absl::Status becomes a Python exception.
[[noreturn]] void RaiseStatus(const absl::Status& status);

inline void ThrowIfError(const absl::Status& status) {
  if (!status.ok()) RaiseStatus(status);
}

template <typename T>
T ValueOrThrow(absl::StatusOr<T> value) {
  if (!value.ok()) RaiseStatus(value.status());
  return *std::move(value);
}

// A path argument (str, pathlib.Path or any os.PathLike) as a string, as os.fspath gives it.
inline std::string PathArg(const py::object& path) {
  return py::str(py::module_::import("os").attr("fspath")(path)).cast<std::string>();
}

// Runs `fn` (returning a Status or StatusOr) with the GIL released; errors are raised only
// after the GIL is held again.
template <typename Fn>
auto WithoutGil(Fn&& fn) {
  py::gil_scoped_release release;
  return fn();
}

// A Python exception raised inside a callback that C++ calls (a Python stage, a Python vector
// index): FromPython keeps it for this thread and returns InternalError "<where> raised ...";
// RaisePending re-raises the kept exception, unchanged, once the call is back in Python.
absl::Status FromPython(py::error_already_set& e, const std::string& where);
void RaisePending();

// A search's `filter` argument (bindings/filter.cc): None, a densefb.Filter, a bool mask
// (n_docs,) or (n_queries, n_docs), a sequence of ids, or one sequence of ids per query.
// TypeError/ValueError naming `what` otherwise.
std::shared_ptr<const Filter> FilterArg(const py::object& obj, const char* what);

// Registration of each area (one file each).
void RegisterFilter(py::module_& m);      // Filter (bindings/filter.cc)
void RegisterData(py::module_& m);
void RegisterEval(py::module_& m);
void RegisterIndex(py::module_& m);       // FlatIndex (bindings/index.cc)
void RegisterTorchFlatIndex(py::module_& m);  // TorchFlatIndex, in _torch (bindings/torch/flat_index.cc)
void RegisterHnswIndex(py::module_& m);   // HnswIndex (bindings/hnsw_index.cc)
void RegisterQuantizedIndex(py::module_& m);  // ScalarQuantizedIndex, ProductQuantizedIndex (bindings/quantized_index.cc)
void RegisterTokenizer(py::module_& m);   // WordPieceTokenizer (bindings/tokenizer.cc)
void RegisterBm25(py::module_& m);        // Bm25Index, analyser, RM3 (bindings/bm25.cc)
void RegisterFusion(py::module_& m);      // normalize_run (bindings/fusion.cc)
void RegisterStats(py::module_& m);       // paired_ttest, wilcoxon, holm_bonferroni (bindings/stats.cc)
void RegisterMultiVector(py::module_& m);  // MultiVectorIndex, ColbertPrf, maxsim_rerank (bindings/multivector.cc)
void RegisterPipeline(py::module_& m);     // Pipeline, PipelineResources (bindings/pipeline.cc)
void RegisterLlm(py::module_& m);          // Generator, OpenAiGenerator, LLM cost (bindings/llm.cc)

}  // namespace densefb::py_bindings

#endif  // DENSEFB_BINDINGS_BINDINGS_H_
