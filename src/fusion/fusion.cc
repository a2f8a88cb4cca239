#include "densefb/fusion.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <limits>
#include <optional>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "fusion/run_ids.h"

namespace densefb {
namespace {

// ---- formatting ---------------------------------------------------------------------------

// Shortest text that reads back as the same double (0.1 -> "0.1", 60 -> "60", 1e-20).
std::string FormatNumber(double x) {
  char buf[40];
  if (std::isfinite(x) && x == std::trunc(x) && std::fabs(x) < 1e15) {
    std::snprintf(buf, sizeof(buf), "%.0f", x);
    return buf;
  }
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof(buf), "%.*g", precision, x);
    if (std::strtod(buf, nullptr) == x) break;
  }
  return buf;
}

std::string FormatWeights(const std::vector<double>& weights) {
  if (weights.empty()) return "ones";
  return absl::StrCat("[", absl::StrJoin(weights, ",", [](std::string* out, double w) {
                        out->append(FormatNumber(w));
                      }),
                      "]");
}

// ---- option checks shared by the methods --------------------------------------------------

absl::Status CheckCommon(absl::string_view method, std::size_t num_inputs,
                         const std::vector<double>& weights, std::int64_t depth, std::int64_t top) {
  if (num_inputs == 0) {
    return absl::InvalidArgumentError(absl::StrCat(method, ": fusion needs at least one input"));
  }
  if (!weights.empty() && weights.size() != num_inputs) {
    return absl::InvalidArgumentError(absl::StrCat(method, ": got ", weights.size(),
                                                   " weights for ", num_inputs, " inputs"));
  }
  for (std::size_t i = 0; i < weights.size(); ++i) {
    if (!std::isfinite(weights[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat(method, ": weight ", i, " is ", FormatNumber(weights[i]), " (must be finite)"));
    }
  }
  if (depth < 0) {
    return absl::InvalidArgumentError(absl::StrCat(method, ": depth must be >= 0 (0 = all), got ", depth));
  }
  if (top < 0) {
    return absl::InvalidArgumentError(absl::StrCat(method, ": top must be >= 0 (0 = all), got ", top));
  }
  return absl::OkStatus();
}

bool KnownNormalization(Normalization n) {
  switch (n) {
    case Normalization::kNone:
    case Normalization::kMinMax:
    case Normalization::kZScore:
    case Normalization::kSum:
    case Normalization::kCenteredMinMax:
      return true;
  }
  return false;
}

absl::Status CheckNormalization(absl::string_view method, Normalization n) {
  if (KnownNormalization(n)) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(method, ": unknown normalization ", static_cast<int>(n)));
}

// ---- the per-query fusion ------------------------------------------------------------------

struct Item {
  std::int64_t id;
  double score;
};

bool ItemBefore(const Item& a, const Item& b) {
  return a.score > b.score || (a.score == b.score && a.id < b.id);
}

enum class Kind { kInterpolation, kRrf, kComb, kBorda };

// Every method's parameters in one place, weights resolved to one per input.
struct Spec {
  Kind kind = Kind::kInterpolation;
  std::vector<double> weights;
  Normalization normalization = Normalization::kNone;
  MissingScore missing = MissingScore::kZero;
  CombRule rule = CombRule::kSum;
  double rrf_k = 60;
  std::int64_t depth = 0;
  std::int64_t top = 0;
  std::string description;
};

std::vector<double> ResolveWeights(const std::vector<double>& weights, std::size_t n) {
  return weights.empty() ? std::vector<double>(n, 1.0) : weights;
}

Spec MakeSpec(const InterpolationOptions& o, std::size_t n) {
  Spec s;
  s.kind = Kind::kInterpolation;
  s.weights = ResolveWeights(o.weights, n);
  s.normalization = o.normalization;
  s.missing = o.missing;
  s.depth = o.depth;
  s.top = o.top;
  s.description = o.ToString();
  return s;
}

Spec MakeSpec(const RrfOptions& o, std::size_t n) {
  Spec s;
  s.kind = Kind::kRrf;
  s.weights = ResolveWeights(o.weights, n);
  s.rrf_k = o.k;
  s.depth = o.depth;
  s.top = o.top;
  s.description = o.ToString();
  return s;
}

Spec MakeSpec(const CombOptions& o, std::size_t n) {
  Spec s;
  s.kind = Kind::kComb;
  s.weights = ResolveWeights(o.weights, n);
  s.rule = o.rule;
  s.normalization = o.normalization;
  s.depth = o.depth;
  s.top = o.top;
  s.description = o.ToString();
  return s;
}

Spec MakeSpec(const BordaOptions& o, std::size_t n) {
  Spec s;
  s.kind = Kind::kBorda;
  s.weights = ResolveWeights(o.weights, n);
  s.depth = o.depth;
  s.top = o.top;
  s.description = o.ToString();
  return s;
}

// The first entry of `list` that cannot be fused: a non-finite score or a repeated id.
struct BadEntry {
  std::int64_t id;
  double score;
  bool duplicate;
};

std::optional<BadEntry> FindBadEntry(const std::vector<Item>& list) {
  absl::flat_hash_set<std::int64_t> seen;
  seen.reserve(list.size());
  for (const Item& item : list) {
    if (!std::isfinite(item.score)) return BadEntry{item.id, item.score, false};
    if (!seen.insert(item.id).second) return BadEntry{item.id, item.score, true};
  }
  return std::nullopt;
}

bool ByRank(const Spec& spec) { return spec.kind == Kind::kRrf || spec.kind == Kind::kBorda; }

// Sorts best first; for the score methods normalises the scores over the WHOLE list (as
// Pyserini rescores a run before its merge reads the top `depth`); then keeps the best
// `depth` entries (0 = all). The normalisations are monotone, so the order is unchanged.
void RankNormalizeAndCut(std::vector<Item>& list, const Spec& spec, std::vector<double>& buffer) {
  std::sort(list.begin(), list.end(), ItemBefore);
  if (!ByRank(spec) && spec.normalization != Normalization::kNone) {
    buffer.resize(list.size());
    for (std::size_t r = 0; r < list.size(); ++r) buffer[r] = list[r].score;
    NormalizeScores(absl::MakeSpan(buffer), spec.normalization);
    for (std::size_t r = 0; r < list.size(); ++r) list[r].score = buffer[r];
  }
  if (spec.depth > 0 && static_cast<std::int64_t>(list.size()) > spec.depth) list.resize(spec.depth);
}

// Fuses one query's lists (each already ranked, normalised for the score methods and cut to
// depth; ids unique, scores finite). Returns the union of the lists with fused scores, ranked
// best first (not cut to top).
std::vector<Item> FuseQuery(const std::vector<std::vector<Item>>& lists, const Spec& spec) {
  const std::size_t n = lists.size();
  absl::flat_hash_map<std::int64_t, std::size_t> slot_of;
  std::vector<std::int64_t> ids;
  for (const auto& list : lists) {
    for (const Item& item : list) {
      if (slot_of.emplace(item.id, ids.size()).second) ids.push_back(item.id);
    }
  }
  const std::size_t u = ids.size();
  const double kAbsent = std::numeric_limits<double>::quiet_NaN();
  // value[i * u + slot]: normalised score (score methods) or 1-based rank (rank methods) of
  // the candidate in list i; NaN where the list lacks it.
  std::vector<double> value(n * u, kAbsent);
  std::vector<double> fill(n, 0.0);  // what an absent candidate gets from list i (interpolation)
  const bool by_rank = ByRank(spec);
  std::vector<double> v;
  for (std::size_t i = 0; i < n; ++i) {
    const auto& list = lists[i];
    v.resize(list.size());
    for (std::size_t r = 0; r < list.size(); ++r) {
      v[r] = by_rank ? static_cast<double>(r + 1) : list[r].score;
    }
    if (!by_rank && spec.missing == MissingScore::kMin && !v.empty()) {
      fill[i] = *std::min_element(v.begin(), v.end());  // the kept list's minimum, normalised
    }
    for (std::size_t r = 0; r < list.size(); ++r) value[i * u + slot_of[list[r].id]] = v[r];
  }

  std::vector<Item> out(u);
  const double c = static_cast<double>(u);
  for (std::size_t s = 0; s < u; ++s) {
    double score = 0;
    switch (spec.kind) {
      case Kind::kInterpolation:
        for (std::size_t i = 0; i < n; ++i) {
          const double x = value[i * u + s];
          score += spec.weights[i] * (std::isnan(x) ? fill[i] : x);
        }
        break;
      case Kind::kRrf:
        for (std::size_t i = 0; i < n; ++i) {
          const double rank = value[i * u + s];
          if (!std::isnan(rank)) score += spec.weights[i] / (spec.rrf_k + rank);
        }
        break;
      case Kind::kBorda:
        for (std::size_t i = 0; i < n; ++i) {
          const double rank = value[i * u + s];
          const double points = std::isnan(rank)
                                    ? (c - static_cast<double>(lists[i].size()) + 1) / 2
                                    : c - rank + 1;
          score += spec.weights[i] * points;
        }
        break;
      case Kind::kComb: {
        double sum = 0;
        double max = -std::numeric_limits<double>::infinity();
        int count = 0;
        for (std::size_t i = 0; i < n; ++i) {
          const double x = value[i * u + s];
          if (std::isnan(x)) continue;
          const double wx = spec.weights[i] * x;
          sum += wx;
          max = std::max(max, wx);
          ++count;
        }
        score = spec.rule == CombRule::kSum ? sum : spec.rule == CombRule::kMnz ? sum * count : max;
        break;
      }
    }
    out[s] = {ids[s], score};
  }
  std::sort(out.begin(), out.end(), ItemBefore);
  return out;
}

template <typename T>
absl::Status CheckNotNull(absl::Span<const T* const> inputs, absl::string_view what) {
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i] == nullptr) return absl::InvalidArgumentError(absl::StrCat(what, " ", i, " is null"));
  }
  return absl::OkStatus();
}

template <typename Options>
absl::StatusOr<BatchRanking> FuseBatch(absl::Span<const BatchRanking* const> inputs,
                                       const Options& options) {
  DENSEFB_RETURN_IF_ERROR(options.Validate(inputs.size()));
  DENSEFB_RETURN_IF_ERROR(CheckNotNull(inputs, "fusion input"));
  const std::size_t num_queries = inputs[0]->size();
  for (std::size_t i = 1; i < inputs.size(); ++i) {
    if (inputs[i]->size() != num_queries) {
      return absl::InvalidArgumentError(absl::StrCat("fusion inputs differ in size: input 0 has ",
                                                     num_queries, " query lists, input ", i,
                                                     " has ", inputs[i]->size()));
    }
  }
  const Spec spec = MakeSpec(options, inputs.size());
  BatchRanking fused;
  fused.lists.resize(num_queries);
  std::vector<std::vector<Item>> lists(inputs.size());
  std::vector<double> buffer;
  for (std::size_t q = 0; q < num_queries; ++q) {
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      const Ranking& in = inputs[i]->lists[q];
      auto& list = lists[i];
      list.clear();
      list.reserve(in.size());
      for (const ScoredDoc& d : in) list.push_back({d.id, static_cast<double>(d.score)});
      if (auto bad = FindBadEntry(list)) {
        return absl::InvalidArgumentError(
            bad->duplicate
                ? absl::StrCat("fusion input ", i, ", query row ", q, ": document id ", bad->id,
                               " is listed twice")
                : absl::StrCat("fusion input ", i, ", query row ", q, ": document id ", bad->id,
                               " has a non-finite score (", FormatNumber(bad->score), ")"));
      }
      RankNormalizeAndCut(list, spec, buffer);
    }
    const std::vector<Item> items = FuseQuery(lists, spec);
    Ranking& out = fused.lists[q];
    out.reserve(items.size());
    for (const Item& item : items) out.push_back({item.id, static_cast<float>(item.score)});
    SortRanking(out, spec.top);  // float rounding may create ties: smaller id first again
  }
  return fused;
}

template <typename Options>
absl::StatusOr<Run> FuseRunList(absl::Span<const Run* const> runs, const Options& options) {
  DENSEFB_RETURN_IF_ERROR(options.Validate(runs.size()));
  DENSEFB_RETURN_IF_ERROR(CheckNotNull(runs, "run"));
  const Spec spec = MakeSpec(options, runs.size());

  DENSEFB_ASSIGN_OR_RETURN(Run fused, fusion_internal::UnionOfQueries(runs));
  fused.name = spec.description;

  std::vector<std::vector<Item>> lists(runs.size());
  std::vector<double> buffer;
  std::vector<absl::string_view> names;
  absl::flat_hash_map<absl::string_view, std::int64_t> local_id;
  for (std::size_t q = 0; q < fused.num_queries(); ++q) {
    const std::string& qid = fused.query_ids()[q];
    // Local ids: "ties by smaller id" in FuseQuery is trec_eval's "ties by document id descending".
    fusion_internal::NumberDocuments(runs, qid, &names, &local_id);

    for (std::size_t i = 0; i < runs.size(); ++i) {
      auto& list = lists[i];
      list.clear();
      const std::int64_t row = runs[i]->FindQuery(qid);
      if (row < 0) continue;
      for (const Run::Entry& e : runs[i]->list(row)) list.push_back({local_id[e.doc_id], e.score});
      if (auto bad = FindBadEntry(list)) {
        const absl::string_view doc = names[bad->id];
        return absl::InvalidArgumentError(
            bad->duplicate
                ? absl::StrCat("run ", i, " (\"", runs[i]->name, "\"), query \"", qid,
                               "\": document \"", doc, "\" is listed twice")
                : absl::StrCat("run ", i, " (\"", runs[i]->name, "\"), query \"", qid,
                               "\": document \"", doc, "\" has a non-finite score (",
                               FormatNumber(bad->score), ")"));
      }
      RankNormalizeAndCut(list, spec, buffer);
    }
    std::vector<Item> items = FuseQuery(lists, spec);
    if (spec.top > 0 && static_cast<std::int64_t>(items.size()) > spec.top) items.resize(spec.top);
    auto& out = fused.list(q);
    out.reserve(items.size());
    for (const Item& item : items) out.push_back({std::string(names[item.id]), item.score});
  }
  return fused;
}

}  // namespace

// ---- normalisation ----------------------------------------------------------------------------

absl::StatusOr<Normalization> ParseNormalization(absl::string_view name) {
  const std::string lower = absl::AsciiStrToLower(name);
  if (lower == "none") return Normalization::kNone;
  if (lower == "minmax" || lower == "min-max" || lower == "min_max") return Normalization::kMinMax;
  if (lower == "zscore" || lower == "z-score" || lower == "zmuv") return Normalization::kZScore;
  if (lower == "sum") return Normalization::kSum;
  if (lower == "centered-minmax" || lower == "centered_minmax") return Normalization::kCenteredMinMax;
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown normalization \"", name,
      "\" (expected \"none\", \"minmax\", \"zscore\", \"sum\" or \"centered-minmax\")"));
}

absl::string_view NormalizationName(Normalization n) {
  switch (n) {
    case Normalization::kNone: return "none";
    case Normalization::kMinMax: return "minmax";
    case Normalization::kZScore: return "zscore";
    case Normalization::kSum: return "sum";
    case Normalization::kCenteredMinMax: return "centered-minmax";
  }
  return "unknown";
}

// ranx's floor on the denominator of the sum normalisation.
constexpr double kSumNormFloor = 1e-9;

void NormalizeScores(absl::Span<double> scores, Normalization n) {
  if (scores.empty() || n == Normalization::kNone) return;
  const auto [lo_it, hi_it] = std::minmax_element(scores.begin(), scores.end());
  const double lo = *lo_it;
  const double hi = *hi_it;
  const bool constant = lo == hi;
  switch (n) {
    case Normalization::kNone:
      return;
    case Normalization::kMinMax:
      for (double& s : scores) s = constant ? 1.0 : (s - lo) / (hi - lo);
      return;
    case Normalization::kCenteredMinMax: {
      const double mid = (lo + hi) / 2;
      for (double& s : scores) s = constant ? 0.0 : (s - mid) / (hi - lo);
      return;
    }
    case Normalization::kZScore: {
      // A constant list is tested directly: its computed std may be a rounding residue.
      if (constant) {
        std::fill(scores.begin(), scores.end(), 0.0);
        return;
      }
      double mean = 0;
      for (double s : scores) mean += s;
      mean /= static_cast<double>(scores.size());
      double var = 0;
      for (double s : scores) var += (s - mean) * (s - mean);
      const double sd = std::sqrt(var / static_cast<double>(scores.size()));
      for (double& s : scores) s = (s - mean) / sd;
      return;
    }
    case Normalization::kSum: {
      // ranx's sum_norm (Montague & Aslam 2001): shifted to a minimum of 0, then divided by
      // the shifted sum, floored at 1e-9 as ranx does; an all-equal list is all 0.
      double total = 0;
      for (double s : scores) total += s - lo;
      const double denominator = std::max(total, kSumNormFloor);
      for (double& s : scores) s = (s - lo) / denominator;
      return;
    }
  }
}

void NormalizeScores(Ranking& list, Normalization n) {
  std::vector<double> v(list.size());
  for (std::size_t i = 0; i < list.size(); ++i) v[i] = list[i].score;
  NormalizeScores(absl::MakeSpan(v), n);
  for (std::size_t i = 0; i < list.size(); ++i) list[i].score = static_cast<float>(v[i]);
}

Run NormalizeRun(const Run& run, Normalization n) {
  Run out = run;
  std::vector<double> v;
  for (std::size_t q = 0; q < out.num_queries(); ++q) {
    auto& list = out.list(q);
    v.resize(list.size());
    for (std::size_t i = 0; i < list.size(); ++i) v[i] = list[i].score;
    NormalizeScores(absl::MakeSpan(v), n);
    for (std::size_t i = 0; i < list.size(); ++i) list[i].score = v[i];
  }
  return out;
}

// ---- options ------------------------------------------------------------------------------------

absl::StatusOr<MissingScore> ParseMissingScore(absl::string_view name) {
  const std::string lower = absl::AsciiStrToLower(name);
  if (lower == "zero") return MissingScore::kZero;
  if (lower == "min") return MissingScore::kMin;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown missing-document rule \"", name, "\" (expected \"zero\" or \"min\")"));
}

absl::string_view MissingScoreName(MissingScore m) {
  switch (m) {
    case MissingScore::kZero: return "zero";
    case MissingScore::kMin: return "min";
  }
  return "unknown";
}

absl::string_view CombRuleName(CombRule r) {
  switch (r) {
    case CombRule::kSum: return "combsum";
    case CombRule::kMnz: return "combmnz";
    case CombRule::kMax: return "combmax";
  }
  return "unknown";
}

absl::Status InterpolationOptions::Validate(std::size_t num_inputs) const {
  DENSEFB_RETURN_IF_ERROR(CheckCommon("interpolation", num_inputs, weights, depth, top));
  DENSEFB_RETURN_IF_ERROR(CheckNormalization("interpolation", normalization));
  if (missing != MissingScore::kZero && missing != MissingScore::kMin) {
    return absl::InvalidArgumentError(
        absl::StrCat("interpolation: unknown missing-document rule ", static_cast<int>(missing)));
  }
  return absl::OkStatus();
}

std::string InterpolationOptions::ToString() const {
  return absl::StrCat("interpolation(weights=", FormatWeights(weights),
                      ",norm=", NormalizationName(normalization), ",missing=", MissingScoreName(missing),
                      ",depth=", depth, ",top=", top, ")");
}

absl::Status RrfOptions::Validate(std::size_t num_inputs) const {
  if (!std::isfinite(k) || !(k > 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("rrf: k must be a finite number > 0, got ", FormatNumber(k)));
  }
  return CheckCommon("rrf", num_inputs, weights, depth, top);
}

std::string RrfOptions::ToString() const {
  return absl::StrCat("rrf(k=", FormatNumber(k), ",weights=", FormatWeights(weights),
                      ",depth=", depth, ",top=", top, ")");
}

absl::Status CombOptions::Validate(std::size_t num_inputs) const {
  if (rule != CombRule::kSum && rule != CombRule::kMnz && rule != CombRule::kMax) {
    return absl::InvalidArgumentError(absl::StrCat("comb: unknown rule ", static_cast<int>(rule)));
  }
  DENSEFB_RETURN_IF_ERROR(CheckCommon(CombRuleName(rule), num_inputs, weights, depth, top));
  return CheckNormalization(CombRuleName(rule), normalization);
}

std::string CombOptions::ToString() const {
  return absl::StrCat(CombRuleName(rule), "(weights=", FormatWeights(weights),
                      ",norm=", NormalizationName(normalization), ",depth=", depth, ",top=", top, ")");
}

absl::Status BordaOptions::Validate(std::size_t num_inputs) const {
  return CheckCommon("borda", num_inputs, weights, depth, top);
}

std::string BordaOptions::ToString() const {
  return absl::StrCat("borda(weights=", FormatWeights(weights), ",depth=", depth, ",top=", top, ")");
}

// ---- entry points -----------------------------------------------------------------------------

absl::StatusOr<BatchRanking> Fuse(absl::Span<const BatchRanking* const> inputs,
                                  const InterpolationOptions& options) {
  return FuseBatch(inputs, options);
}
absl::StatusOr<BatchRanking> Fuse(absl::Span<const BatchRanking* const> inputs,
                                  const RrfOptions& options) {
  return FuseBatch(inputs, options);
}
absl::StatusOr<BatchRanking> Fuse(absl::Span<const BatchRanking* const> inputs,
                                  const CombOptions& options) {
  return FuseBatch(inputs, options);
}
absl::StatusOr<BatchRanking> Fuse(absl::Span<const BatchRanking* const> inputs,
                                  const BordaOptions& options) {
  return FuseBatch(inputs, options);
}

absl::StatusOr<Run> FuseRuns(absl::Span<const Run* const> runs, const InterpolationOptions& options) {
  return FuseRunList(runs, options);
}
absl::StatusOr<Run> FuseRuns(absl::Span<const Run* const> runs, const RrfOptions& options) {
  return FuseRunList(runs, options);
}
absl::StatusOr<Run> FuseRuns(absl::Span<const Run* const> runs, const CombOptions& options) {
  return FuseRunList(runs, options);
}
absl::StatusOr<Run> FuseRuns(absl::Span<const Run* const> runs, const BordaOptions& options) {
  return FuseRunList(runs, options);
}

}  // namespace densefb
