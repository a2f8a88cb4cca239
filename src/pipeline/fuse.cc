// Fusion nodes: fuse(method, pipeline, pipeline, ...) over include/densefb/fusion.h.
#include <cmath>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "densefb/fusion.h"
#include "densefb/pipeline.h"
#include "pipeline/internal.h"

namespace densefb {
namespace {

enum class Method : std::uint8_t { kRrf, kInterpolate, kComb, kBorda };

struct FuseMethod {
  Method method = Method::kRrf;
  RrfOptions rrf;
  InterpolationOptions interpolation;
  CombOptions comb;
  BordaOptions borda;
};

std::string Weights(const std::vector<double>& w, std::size_t n) {
  std::vector<std::string> parts;
  for (std::size_t i = 0; i < n; ++i) parts.push_back(SpecNumber(w.empty() ? 1.0 : w[i]));
  return absl::StrCat("[", absl::StrJoin(parts, ","), "]");
}

class FuseStage final : public Stage {
 public:
  FuseStage(FuseMethod method, std::vector<Pipeline> branches)
      : method_(std::move(method)), branches_(std::move(branches)) {
    // Computed once here from the branches' own (already computed) answers: asking the
    // branches again at every level would make nested fusion exponential in its depth.
    std::set<std::string> names;
    for (const Pipeline& p : branches_) {
      for (std::string& s : p.Requires()) names.insert(std::move(s));
      // True when a branch reads a ranking before producing one (it then reads the incoming one).
      bool has = false;
      for (const auto& s : p.stages()) {
        const bool needs = s->NeedsRanking();
        needs_ranking_ = needs_ranking_ || (needs && !has);
        has = has || !needs;
      }
    }
    requires_.assign(names.begin(), names.end());
  }

  absl::Status Run(const Resources& r, QueryState& state) const override {
    // Representations the branches will use are computed once here (when their resource is
    // there), so every branch starts from the same original encoding.
    auto needed = [&](const char* name) {
      for (const std::string& n : requires_) {
        if (n == name) return true;
      }
      return false;
    };
    if (needed("dense_index") && r.dense_index != nullptr &&
        (state.has_query_vectors() || r.encoder != nullptr)) {
      DENSEFB_RETURN_IF_ERROR(state.EnsureQueryVectors(r, "fuse"));
    }
    if (needed("token_encoder") && r.token_encoder != nullptr) {
      DENSEFB_RETURN_IF_ERROR(state.EnsureTokenQueries(r, "fuse"));
    }
    std::vector<BatchRanking> rankings(branches_.size());
    for (std::size_t b = 0; b < branches_.size(); ++b) {
      QueryState branch = state;
      for (const auto& stage : branches_[b].stages()) {
        DENSEFB_RETURN_IF_ERROR(state.CheckInterrupted());
        const absl::Status s = stage->Run(r, branch);
        if (!s.ok()) {
          return absl::Status(s.code(), absl::StrCat("fusion branch ", b + 1, " (", branches_[b].ToString(),
                                                     "), stage ", stage->ToString(), ": ", s.message()));
        }
      }
      if (!branch.has_ranking || branch.ranking.size() != state.size()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "fusion branch ", b + 1, " (", branches_[b].ToString(), ") ends without a ranking"));
      }
      rankings[b] = std::move(branch.ranking);
    }
    std::vector<const BatchRanking*> inputs;
    for (const BatchRanking& br : rankings) inputs.push_back(&br);
    absl::StatusOr<BatchRanking> fused;
    switch (method_.method) {
      case Method::kRrf: fused = Fuse(inputs, method_.rrf); break;
      case Method::kInterpolate: fused = Fuse(inputs, method_.interpolation); break;
      case Method::kComb: fused = Fuse(inputs, method_.comb); break;
      case Method::kBorda: fused = Fuse(inputs, method_.borda); break;
    }
    if (!fused.ok()) return fused.status();
    state.SetRanking(*std::move(fused));
    return absl::OkStatus();
  }

  std::string ToString() const override {
    const std::size_t n = branches_.size();
    std::string method;
    switch (method_.method) {
      case Method::kRrf: {
        const RrfOptions& o = method_.rrf;
        method = absl::StrCat("rrf(k=", SpecNumber(o.k), ",weights=", Weights(o.weights, n),
                              ",depth=", o.depth, ",top=", o.top, ")");
        break;
      }
      case Method::kInterpolate: {
        const InterpolationOptions& o = method_.interpolation;
        method = absl::StrCat("interpolate(weights=", Weights(o.weights, n), ",norm=",
                              NormalizationName(o.normalization), ",missing=", MissingScoreName(o.missing),
                              ",depth=", o.depth, ",top=", o.top, ")");
        break;
      }
      case Method::kComb: {
        const CombOptions& o = method_.comb;
        method = absl::StrCat(CombRuleName(o.rule), "(weights=", Weights(o.weights, n), ",norm=",
                              NormalizationName(o.normalization), ",depth=", o.depth, ",top=", o.top, ")");
        break;
      }
      case Method::kBorda: {
        const BordaOptions& o = method_.borda;
        method = absl::StrCat("borda(weights=", Weights(o.weights, n), ",depth=", o.depth,
                              ",top=", o.top, ")");
        break;
      }
    }
    std::vector<std::string> parts{method};
    for (const Pipeline& p : branches_) parts.push_back(p.ToString());
    return absl::StrCat("fuse(", absl::StrJoin(parts, ","), ")");
  }

  std::vector<std::string> Requires() const override { return requires_; }
  bool NeedsRanking() const override { return needs_ranking_; }

 private:
  FuseMethod method_;
  std::vector<Pipeline> branches_;
  std::vector<std::string> requires_;
  bool needs_ranking_ = false;
};

absl::Status NonNegative(const std::string& method, const char* key, std::int64_t v) {
  if (v < 0) {
    return absl::InvalidArgumentError(absl::StrCat("fusion method '", method, "': ", key, " = ", v,
                                                   " must be >= 0"));
  }
  return absl::OkStatus();
}

}  // namespace

namespace pipeline_internal {

absl::StatusOr<std::unique_ptr<Stage>> MakeFuseStage(StageArgs& args, std::vector<Pipeline> branches) {
  const std::string& name = args.stage();
  FuseMethod m;
  DENSEFB_ASSIGN_OR_RETURN(std::vector<double> weights, args.GetDoubleList("weights", {}));
  DENSEFB_ASSIGN_OR_RETURN(std::int64_t depth, args.GetInt("depth", 0));
  DENSEFB_ASSIGN_OR_RETURN(std::int64_t top, args.GetInt("top", 0));
  DENSEFB_RETURN_IF_ERROR(NonNegative(name, "depth", depth));
  DENSEFB_RETURN_IF_ERROR(NonNegative(name, "top", top));
  const std::size_t n = branches.size();
  // weights: one finite weight >= 0 per fused pipeline, not all 0 (an empty list is refused
  // by GetDoubleList; the parser refuses inf and nan).
  if (!weights.empty()) {
    const auto bad = [&](const std::string& what) {
      const std::string shown = weights.size() <= 16 ? Weights(weights, weights.size())
                                                     : absl::StrCat("[...", weights.size(), " values]");
      return absl::InvalidArgumentError(absl::StrCat("fusion method '", name, "': argument weights=",
                                                     shown, " ", what));
    };
    if (weights.size() != n) {
      return bad(absl::StrCat("has ", weights.size(), " weights for ", n,
                              " fused pipelines (give one per pipeline)"));
    }
    bool any_positive = false;
    for (std::size_t i = 0; i < n; ++i) {
      if (!std::isfinite(weights[i]) || weights[i] < 0) {
        return bad(absl::StrCat("has weight ", i + 1, " = ", SpecNumber(weights[i]),
                                "; weights are finite and >= 0"));
      }
      any_positive = any_positive || weights[i] > 0;
    }
    if (!any_positive) return bad("is all 0; at least one weight must be > 0");
  }
  absl::Status valid;
  if (name == "rrf") {
    m.method = Method::kRrf;
    DENSEFB_ASSIGN_OR_RETURN(m.rrf.k, args.GetDouble("k", 60));
    m.rrf.weights = weights;
    m.rrf.depth = depth;
    m.rrf.top = top;
    valid = m.rrf.Validate(n);
  } else if (name == "interpolate" || name == "interpolation") {
    m.method = Method::kInterpolate;
    DENSEFB_ASSIGN_OR_RETURN(std::string norm, args.GetString("norm", "minmax"));
    DENSEFB_ASSIGN_OR_RETURN(std::string missing, args.GetString("missing", "zero"));
    DENSEFB_ASSIGN_OR_RETURN(m.interpolation.normalization, ParseNormalization(norm));
    DENSEFB_ASSIGN_OR_RETURN(m.interpolation.missing, ParseMissingScore(missing));
    m.interpolation.weights = weights;
    m.interpolation.depth = depth;
    m.interpolation.top = top;
    valid = m.interpolation.Validate(n);
  } else if (name == "combsum" || name == "combmnz" || name == "combmax") {
    m.method = Method::kComb;
    m.comb.rule = name == "combsum" ? CombRule::kSum : name == "combmnz" ? CombRule::kMnz : CombRule::kMax;
    DENSEFB_ASSIGN_OR_RETURN(std::string norm, args.GetString("norm", "minmax"));
    DENSEFB_ASSIGN_OR_RETURN(m.comb.normalization, ParseNormalization(norm));
    m.comb.weights = weights;
    m.comb.depth = depth;
    m.comb.top = top;
    valid = m.comb.Validate(n);
  } else if (name == "borda") {
    m.method = Method::kBorda;
    m.borda.weights = weights;
    m.borda.depth = depth;
    m.borda.top = top;
    valid = m.borda.Validate(n);
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown fusion method '", name, "'; expected rrf, interpolate, combsum, combmnz, combmax or borda"));
  }
  if (!valid.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("fusion method '", name, "': ", valid.message()));
  }
  DENSEFB_RETURN_IF_ERROR(args.Finish());
  return std::unique_ptr<Stage>(new FuseStage(std::move(m), std::move(branches)));
}

}  // namespace pipeline_internal
}  // namespace densefb
