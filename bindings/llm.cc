// Generators (densefb/generator.h, densefb/openai_client.h) for Python: the base class that
// Python subclasses implement (complete / logprobs), the HTTP client and the cache; and the
// query-performance predictors of selective PRF (densefb/selective_prf.h).
#include <pybind11/stl.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "array.h"
#include "bindings.h"
#include "densefb/generator.h"
#include "densefb/llm_rerankers.h"
#include "densefb/openai_client.h"
#include "densefb/selective_prf.h"

namespace densefb::py_bindings {
namespace {

py::dict OptionsDict(const GenerateOptions& o) {
  py::dict d;
  d["max_tokens"] = o.max_tokens;
  d["temperature"] = o.temperature;
  d["stop"] = o.stop;
  d["system"] = o.system;
  d["sample"] = o.sample;
  return d;
}

std::string TypeName(const py::handle& h) { return std::string(py::str(py::type::of(h).attr("__name__"))); }

// A Generator written in Python: complete(prompts, options) -> list of str, and optionally
// logprobs(prompts, labels, options) -> list of lists of float.
class PyGenerator : public Generator {
 public:
  absl::StatusOr<std::vector<Generation>> Generate(absl::Span<const std::string> prompts,
                                                   const GenerateOptions& options) const override {
    py::gil_scoped_acquire gil;
    const std::string who = absl::StrCat("Python generator ", ToString());
    py::function f = py::get_override(static_cast<const Generator*>(this), "complete");
    if (!f) return absl::UnimplementedError(absl::StrCat(who, " does not define complete(prompts, options)"));
    const auto start = std::chrono::steady_clock::now();
    std::vector<Generation> out;
    try {
      py::object r = f(std::vector<std::string>(prompts.begin(), prompts.end()), OptionsDict(options));
      if (!py::isinstance<py::sequence>(r) || py::isinstance<py::str>(r)) {
        counters().AddFailure();
        return absl::InvalidArgumentError(absl::StrCat(who, ".complete returned ", TypeName(r),
                                                       "; expected a list of strings"));
      }
      py::sequence seq = r;
      if (seq.size() != prompts.size()) {
        counters().AddFailure();
        return absl::InvalidArgumentError(absl::StrCat(who, ".complete returned ", seq.size(), " texts for ",
                                                       prompts.size(), " prompts"));
      }
      for (std::size_t i = 0; i < seq.size(); ++i) {
        if (!py::isinstance<py::str>(seq[i])) {
          counters().AddFailure();
          return absl::InvalidArgumentError(absl::StrCat(who, ".complete returned ", TypeName(seq[i]),
                                                         " for prompt ", i, "; expected str"));
        }
        Generation g;
        g.text = seq[i].cast<std::string>();
        g.prompt_tokens = CountWords(prompts[i]);
        g.completion_tokens = CountWords(g.text);
        out.push_back(std::move(g));
      }
    } catch (py::error_already_set& e) {
      counters().AddFailure();
      return absl::InternalError(absl::StrCat(who, ".complete raised ", e.what()));
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    for (const Generation& g : out) {
      counters().AddCall(g.prompt_tokens, g.completion_tokens, seconds / static_cast<double>(out.size()));
    }
    return out;
  }

  absl::StatusOr<std::vector<std::vector<double>>> FirstTokenLogprobs(
      absl::Span<const std::string> prompts, absl::Span<const std::string> labels,
      const GenerateOptions& options) const override {
    py::gil_scoped_acquire gil;
    const std::string who = absl::StrCat("Python generator ", ToString());
    py::function f = py::get_override(static_cast<const Generator*>(this), "logprobs");
    if (!f) {
      return absl::UnimplementedError(absl::StrCat(who, " gives no first-token log-probabilities (define "
                                                        "logprobs(prompts, labels, options))"));
    }
    const auto start = std::chrono::steady_clock::now();
    std::vector<std::vector<double>> out;
    try {
      py::object r = f(std::vector<std::string>(prompts.begin(), prompts.end()),
                       std::vector<std::string>(labels.begin(), labels.end()), OptionsDict(options));
      out = r.cast<std::vector<std::vector<double>>>();
    } catch (py::error_already_set& e) {
      counters().AddFailure();
      return absl::InternalError(absl::StrCat(who, ".logprobs raised ", e.what()));
    } catch (const py::cast_error&) {
      counters().AddFailure();
      return absl::InvalidArgumentError(absl::StrCat(who, ".logprobs must return a list of lists of floats"));
    }
    if (out.size() != prompts.size()) {
      counters().AddFailure();
      return absl::InvalidArgumentError(absl::StrCat(who, ".logprobs returned ", out.size(), " rows for ",
                                                     prompts.size(), " prompts"));
    }
    for (std::size_t i = 0; i < out.size(); ++i) {
      if (out[i].size() != labels.size()) {
        counters().AddFailure();
        return absl::InvalidArgumentError(absl::StrCat(who, ".logprobs returned ", out[i].size(),
                                                       " values for prompt ", i, " and ", labels.size(), " labels"));
      }
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    for (std::size_t i = 0; i < out.size(); ++i) {
      counters().AddCall(CountWords(prompts[i]), 1, seconds / static_cast<double>(out.size()));
    }
    return out;
  }

  std::string ToString() const override {
    py::gil_scoped_acquire gil;
    py::object self = py::cast(static_cast<const Generator*>(this));
    py::object name = py::getattr(self, "name", py::none());
    return name.is_none() ? TypeName(self) : std::string(py::str(name));
  }
};

py::dict StatsDict(const GeneratorStats& s) {
  py::dict d;
  d["requests"] = s.requests;
  d["cache_hits"] = s.cache_hits;
  d["prompt_tokens"] = s.prompt_tokens;
  d["completion_tokens"] = s.completion_tokens;
  d["seconds"] = s.seconds;
  d["retries"] = s.retries;
  d["failures"] = s.failures;
  return d;
}

GenerateOptions MakeOptions(int max_tokens, double temperature, std::vector<std::string> stop, std::string system,
                            int sample) {
  GenerateOptions o;
  o.max_tokens = max_tokens;
  o.temperature = temperature;
  o.stop = std::move(stop);
  o.system = std::move(system);
  o.sample = sample;
  return o;
}

}  // namespace

void RegisterLlm(py::module_& m) {
  const GenerateOptions defaults;
  py::class_<Generator, PyGenerator, std::shared_ptr<Generator>>(
      m, "Generator", "Base class of generators (see densefb.Generator).")
      .def(py::init<>())
      .def("generate",
           [](const Generator& g, const std::vector<std::string>& prompts, int max_tokens, double temperature,
              std::vector<std::string> stop, std::string system, int sample) {
             GenerateOptions o = MakeOptions(max_tokens, temperature, std::move(stop), std::move(system), sample);
             std::vector<Generation> out = ValueOrThrow(WithoutGil([&] { return g.Generate(prompts, o); }));
             std::vector<std::string> texts;
             for (Generation& x : out) texts.push_back(std::move(x.text));
             return texts;
           },
           py::arg("prompts"), py::arg("max_tokens") = defaults.max_tokens,
           py::arg("temperature") = defaults.temperature, py::arg("stop") = std::vector<std::string>{},
           py::arg("system") = "", py::arg("sample") = 0)
      .def("first_token_logprobs",
           [](const Generator& g, const std::vector<std::string>& prompts, const std::vector<std::string>& labels,
              std::string system) {
             GenerateOptions o;
             o.system = std::move(system);
             return ValueOrThrow(WithoutGil([&] { return g.FirstTokenLogprobs(prompts, labels, o); }));
           },
           py::arg("prompts"), py::arg("labels"), py::arg("system") = "")
      .def("stats", [](const Generator& g) { return StatsDict(g.Stats()); })
      .def("_spec", &Generator::ToString)
      .def("__repr__", [](const Generator& g) { return "<densefb generator " + g.ToString() + ">"; })
      .def_property_readonly("model", &Generator::Model);

  py::class_<OpenAiGenerator, Generator, std::shared_ptr<OpenAiGenerator>>(
      m, "OpenAiGenerator", "OpenAI-compatible HTTP client (see densefb.OpenAIGenerator).")
      .def(py::init([](std::string base_url, std::string model, std::string api_key, bool chat, int max_concurrency,
                       double timeout, int max_retries, double backoff) {
             OpenAiConfig c;
             c.base_url = std::move(base_url);
             c.model = std::move(model);
             c.api_key = std::move(api_key);
             c.chat = chat;
             c.max_concurrency = max_concurrency;
             c.timeout_s = timeout;
             c.max_retries = max_retries;
             c.backoff_s = backoff;
             return ValueOrThrow(OpenAiGenerator::Create(std::move(c)));
           }),
           py::arg("base_url") = "", py::arg("model") = "", py::arg("api_key") = "", py::arg("chat") = true,
           py::arg("max_concurrency") = OpenAiConfig{}.max_concurrency, py::arg("timeout") = OpenAiConfig{}.timeout_s,
           py::arg("max_retries") = OpenAiConfig{}.max_retries, py::arg("backoff") = OpenAiConfig{}.backoff_s)
      .def_property_readonly("base_url", [](const OpenAiGenerator& g) { return g.config().base_url; })
      .def_property_readonly("max_concurrency", [](const OpenAiGenerator& g) { return g.config().max_concurrency; });

  py::class_<CachingGenerator, Generator, std::shared_ptr<CachingGenerator>>(
      m, "CachingGenerator", "A persistent response cache in front of a generator.")
      .def(py::init([](std::shared_ptr<Generator> inner, std::string dir) {
             return ValueOrThrow(CachingGenerator::Create(std::move(inner), std::move(dir)));
           }),
           py::arg("inner"), py::arg("dir"), py::keep_alive<1, 2>())
      .def_property_readonly("dir", &CachingGenerator::dir)
      .def_property_readonly("corrupt_entries", &CachingGenerator::corrupt_entries);

  m.def("grade_pairs",
        [](const Generator& g, const std::vector<std::string>& queries, const std::vector<std::string>& passages,
           const std::string& prompt, int max_words, int max_tokens) {
          std::int64_t unparseable = 0;
          std::vector<int> grades = ValueOrThrow(WithoutGil([&] {
            return GradePairs(g, queries, passages, prompt, max_words, max_tokens, &unparseable);
          }));
          return py::make_tuple(grades, unparseable);
        },
        py::arg("generator"), py::arg("queries"), py::arg("passages"), py::arg("prompt") = "",
        py::arg("max_words") = 300, py::arg("max_tokens") = 16,
        "0-3 grades of (query, passage) pairs (-1: no grade in the answer) and the count of those.");
  m.def("default_judge_prompt", [] { return PointwiseRerank::DefaultPrompt("grade"); });

  m.def("selective_predictor",
        [](const std::string& predictor, const std::vector<float>& scores, int depth,
           const std::optional<FloatArray>& vectors) {
          if (predictor != "gap" && predictor != "ratio" && predictor != "nqc" && predictor != "coherence") {
            throw py::value_error("unknown predictor '" + predictor + "': expected gap, ratio, nqc or coherence");
          }
          Ranking list;
          for (std::size_t i = 0; i < scores.size(); ++i) list.push_back({static_cast<std::int64_t>(i), scores[i]});
          if (predictor != "coherence") return PredictorValue(predictor, list, depth, nullptr, 0);
          if (!vectors) throw py::value_error("predictor 'coherence' needs the documents' vectors");
          const ConstMatrixView v = MatrixArg(*vectors, "vectors");
          const auto read = static_cast<std::size_t>(std::max(depth, 0));
          const auto n = static_cast<std::int64_t>(std::min(scores.size(), read));
          if (v.rows < n) {
            throw py::value_error("vectors has " + std::to_string(v.rows) + " rows; the predictor reads " +
                                  std::to_string(n) + " documents");
          }
          return PredictorValue(predictor, list, depth, v.data, v.cols);
        },
        py::arg("predictor"), py::arg("scores"), py::arg("depth") = SelectivePrfConfig{}.depth,
        py::arg("vectors") = py::none(),
        "Selective PRF's predictor value of one ranking: scores best first; vectors (one row per "
        "document, in rank order) for coherence. NaN when undefined.");
}

}  // namespace densefb::py_bindings
