// The fusion methods as Fusion objects (include/densefb/fusion.h): parameter tables, input
// checks and canonical specs over the Fuse functions of src/fusion/fusion.cc.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "densefb/fusion.h"
#include "fusion/run_ids.h"

namespace densefb {
namespace {

std::string List(const std::vector<double>& w) {
  std::vector<std::string> parts;
  for (double x : w) parts.push_back(SpecNumber(x));
  return absl::StrCat("[", absl::StrJoin(parts, ","), "]");
}

// weights=[...]: one finite weight >= 0 per fused pipeline, not all 0 (checked by CheckWeights
// when the number of inputs is known); printed as "ones" when empty and no count is known.
template <typename Options>
absl::Status ReadWeights(StageArgs& args, Options& o) {
  DENSEFB_ASSIGN_OR_RETURN(o.weights, args.GetDoubleList("weights", o.weights));
  return absl::OkStatus();
}

template <typename Options>
std::string PrintWeights(const Options& o) {
  return o.weights.empty() ? "ones" : List(o.weights);
}

absl::Status CheckWeights(const std::string& method, const std::vector<double>& weights, std::size_t n) {
  if (weights.empty()) return absl::OkStatus();
  const auto bad = [&](const std::string& what) {
    const std::string shown = weights.size() <= 16 ? List(weights) : absl::StrCat("[...", weights.size(), " values]");
    return absl::InvalidArgumentError(
        absl::StrCat("fusion method '", method, "': argument weights=", shown, " ", what));
  };
  if (weights.size() != n) {
    return bad(absl::StrCat("has ", weights.size(), " weights for ", n, " fused pipelines (give one per pipeline)"));
  }
  bool any_positive = false;
  for (std::size_t i = 0; i < n; ++i) {
    if (!std::isfinite(weights[i]) || weights[i] < 0) {
      return bad(absl::StrCat("has weight ", i + 1, " = ", SpecNumber(weights[i]), "; weights are finite and >= 0"));
    }
    any_positive = any_positive || weights[i] > 0;
  }
  if (!any_positive) return bad("is all 0; at least one weight must be > 0");
  return absl::OkStatus();
}

template <typename Options>
ParamTable<Options>&& CommonTail(ParamTable<Options>&& t) {
  return std::move(t)
      .Integer("depth", &Options::depth, 0, std::int64_t{1} << 53,
               "each input list cut to its best depth first; 0 = all")
      .Integer("top", &Options::top, 0, std::int64_t{1} << 53, "fused lists cut to top; 0 = all");
}

template <typename Options>
ParamTable<Options>&& WithWeights(ParamTable<Options>&& t) {
  return std::move(t).Custom(
      "weights", "one weight per fused pipeline, finite and >= 0; default all 1",
      [](StageArgs& a, Options& o) { return ReadWeights(a, o); }, nullptr,
      [](const Options& o) { return PrintWeights(o); });
}

template <typename Options>
ParamTable<Options>&& WithNorm(ParamTable<Options>&& t) {
  return std::move(t).Custom(
      "norm", "score normalisation per list: minmax, zscore, sum, centered-minmax or none",
      [](StageArgs& a, Options& o) -> absl::Status {
        DENSEFB_ASSIGN_OR_RETURN(std::string name, a.GetString("norm", NormalizationName(o.normalization)));
        DENSEFB_ASSIGN_OR_RETURN(o.normalization, ParseNormalization(name));
        return absl::OkStatus();
      },
      nullptr, [](const Options& o) { return std::string(NormalizationName(o.normalization)); });
}

// The canonical spec for n inputs: weights printed one per input.
template <typename Options>
std::string Canonical(const ParamTable<Options>& table, Options o, std::size_t n) {
  if (o.weights.empty()) o.weights.assign(n, 1.0);
  return table.Print(o);
}

template <typename Options>
absl::Status Check(const std::string& method, const Options& o, std::size_t n) {
  DENSEFB_RETURN_IF_ERROR(CheckWeights(method, o.weights, n));
  const absl::Status valid = o.Validate(n);
  if (!valid.ok()) return absl::InvalidArgumentError(absl::StrCat("fusion method '", method, "': ", valid.message()));
  return absl::OkStatus();
}

// The built-ins' FuseRuns: densefb::FuseRuns over the options (double scores throughout), named
// by the canonical spec like every Fusion.
template <typename Options>
absl::StatusOr<Run> RunsByOptions(const Fusion& method, absl::Span<const Run* const> runs,
                                  const Options& options) {
  DENSEFB_RETURN_IF_ERROR(method.CheckInputs(runs.size()));
  DENSEFB_ASSIGN_OR_RETURN(Run fused, densefb::FuseRuns(runs, options));
  fused.name = method.ToString(runs.size());
  return fused;
}

}  // namespace

// ---- any Fusion over string-id runs ----------------------------------------------------------

absl::StatusOr<Run> Fusion::FuseRuns(absl::Span<const Run* const> runs) const {
  DENSEFB_RETURN_IF_ERROR(CheckInputs(runs.size()));
  for (std::size_t i = 0; i < runs.size(); ++i) {
    if (runs[i] == nullptr) return absl::InvalidArgumentError(absl::StrCat("run ", i, " is null"));
  }
  DENSEFB_ASSIGN_OR_RETURN(Run fused, fusion_internal::UnionOfQueries(runs));
  fused.name = ToString(runs.size());
  const std::size_t num_queries = fused.num_queries();
  std::vector<BatchRanking> inputs(runs.size());
  for (BatchRanking& in : inputs) in.lists.resize(num_queries);
  // names[q][id]: the document of per-query id `id` (fusion_internal::NumberDocuments).
  std::vector<std::vector<absl::string_view>> names(num_queries);
  absl::flat_hash_map<absl::string_view, std::int64_t> local_id;
  std::vector<char> seen;
  for (std::size_t q = 0; q < num_queries; ++q) {
    const std::string& qid = fused.query_ids()[q];
    auto& docs = names[q];
    fusion_internal::NumberDocuments(runs, qid, &docs, &local_id);
    for (std::size_t i = 0; i < runs.size(); ++i) {
      const std::int64_t row = runs[i]->FindQuery(qid);
      if (row < 0) continue;
      Ranking& list = inputs[i].lists[q];
      seen.assign(docs.size(), 0);
      for (const Run::Entry& e : runs[i]->list(row)) {
        const std::int64_t id = local_id[e.doc_id];
        const auto where = [&] {
          return absl::StrCat("run ", i, " (\"", runs[i]->name, "\"), query \"", qid, "\": document \"",
                              e.doc_id, "\"");
        };
        if (seen[id]) return absl::InvalidArgumentError(absl::StrCat(where(), " is listed twice"));
        if (!std::isfinite(e.score)) {
          return absl::InvalidArgumentError(absl::StrCat(where(), " has a non-finite score (", e.score, ")"));
        }
        seen[id] = 1;
        list.push_back({id, static_cast<float>(e.score)});
      }
      SortRanking(list);
    }
  }
  std::vector<const BatchRanking*> pointers;
  for (const BatchRanking& in : inputs) pointers.push_back(&in);
  DENSEFB_ASSIGN_OR_RETURN(BatchRanking out, Fuse(pointers));
  const std::string method = ToString(runs.size());
  if (out.size() != num_queries) {
    return absl::InternalError(absl::StrCat("fusion method '", method, "' returned ", out.size(),
                                            " lists for ", num_queries, " queries"));
  }
  for (std::size_t q = 0; q < num_queries; ++q) {
    auto& list = fused.list(q);
    list.reserve(out.lists[q].size());
    for (const ScoredDoc& d : out.lists[q]) {
      if (d.id < 0 || d.id >= static_cast<std::int64_t>(names[q].size())) {
        return absl::OutOfRangeError(absl::StrCat("fusion method '", method, "' returned document id ", d.id,
                                                  " for query \"", fused.query_ids()[q], "\", which has ",
                                                  names[q].size(), " candidate documents"));
      }
      list.push_back({std::string(names[q][d.id]), static_cast<double>(d.score)});
    }
  }
  return fused;
}

// ---- rrf --------------------------------------------------------------------------------------

const ParamTable<RrfOptions>& RrfFusion::Params() {
  static const auto* table = new ParamTable<RrfOptions>(CommonTail(WithWeights(
      ParamTable<RrfOptions>("rrf").Number("k", &RrfOptions::k, 1e-300, 1e300,
                                           "the rank constant: score = sum w / (k + rank)"))));
  return *table;
}
absl::StatusOr<BatchRanking> RrfFusion::Fuse(absl::Span<const BatchRanking* const> inputs) const {
  return densefb::Fuse(inputs, options_);
}
std::string RrfFusion::ToString(std::size_t n) const { return Canonical(Params(), options_, n); }
absl::Status RrfFusion::CheckInputs(std::size_t n) const { return Check("rrf", options_, n); }
absl::StatusOr<Run> RrfFusion::FuseRuns(absl::Span<const Run* const> runs) const {
  return RunsByOptions(*this, runs, options_);
}

// ---- interpolate ------------------------------------------------------------------------------

const ParamTable<InterpolationOptions>& InterpolationFusion::Params() {
  using O = InterpolationOptions;
  static const auto* table = new ParamTable<O>(CommonTail(
      std::move(WithNorm(WithWeights(ParamTable<O>("interpolate"))))
          .Custom("missing", "what a document absent from a list contributes: zero, or min (the list's minimum)",
                  [](StageArgs& a, O& o) -> absl::Status {
                    DENSEFB_ASSIGN_OR_RETURN(std::string name, a.GetString("missing", MissingScoreName(o.missing)));
                    DENSEFB_ASSIGN_OR_RETURN(o.missing, ParseMissingScore(name));
                    return absl::OkStatus();
                  },
                  nullptr, [](const O& o) { return std::string(MissingScoreName(o.missing)); })));
  return *table;
}
absl::StatusOr<BatchRanking> InterpolationFusion::Fuse(absl::Span<const BatchRanking* const> inputs) const {
  return densefb::Fuse(inputs, options_);
}
std::string InterpolationFusion::ToString(std::size_t n) const { return Canonical(Params(), options_, n); }
absl::Status InterpolationFusion::CheckInputs(std::size_t n) const { return Check("interpolate", options_, n); }
absl::StatusOr<Run> InterpolationFusion::FuseRuns(absl::Span<const Run* const> runs) const {
  return RunsByOptions(*this, runs, options_);
}

// ---- combsum / combmnz / combmax ---------------------------------------------------------------

const ParamTable<CombOptions>& CombFusion::Params(CombRule rule) {
  static const auto* tables = [] {
    auto* t = new std::vector<ParamTable<CombOptions>>();
    for (CombRule r : {CombRule::kSum, CombRule::kMnz, CombRule::kMax}) {
      t->push_back(CommonTail(WithNorm(WithWeights(ParamTable<CombOptions>(std::string(CombRuleName(r)))))));
    }
    return t;
  }();
  return (*tables)[static_cast<std::size_t>(rule)];
}
absl::StatusOr<BatchRanking> CombFusion::Fuse(absl::Span<const BatchRanking* const> inputs) const {
  return densefb::Fuse(inputs, options_);
}
std::string CombFusion::ToString(std::size_t n) const { return Canonical(Params(options_.rule), options_, n); }
absl::Status CombFusion::CheckInputs(std::size_t n) const {
  return Check(std::string(CombRuleName(options_.rule)), options_, n);
}
absl::StatusOr<Run> CombFusion::FuseRuns(absl::Span<const Run* const> runs) const {
  return RunsByOptions(*this, runs, options_);
}

// ---- borda ------------------------------------------------------------------------------------

const ParamTable<BordaOptions>& BordaFusion::Params() {
  static const auto* table = new ParamTable<BordaOptions>(CommonTail(WithWeights(ParamTable<BordaOptions>("borda"))));
  return *table;
}
absl::StatusOr<BatchRanking> BordaFusion::Fuse(absl::Span<const BatchRanking* const> inputs) const {
  return densefb::Fuse(inputs, options_);
}
std::string BordaFusion::ToString(std::size_t n) const { return Canonical(Params(), options_, n); }
absl::Status BordaFusion::CheckInputs(std::size_t n) const { return Check("borda", options_, n); }
absl::StatusOr<Run> BordaFusion::FuseRuns(absl::Span<const Run* const> runs) const {
  return RunsByOptions(*this, runs, options_);
}

}  // namespace densefb
