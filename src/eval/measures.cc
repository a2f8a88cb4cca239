// trec_eval-exact evaluation measures (see include/densefb/eval.h for the conventions).
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <functional>
#include <limits>
#include <optional>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "densefb/eval.h"

namespace densefb {
namespace {

using Kind = Measure::Kind;

struct KindName {
  absl::string_view name;
  Kind kind;
};

// ir_measures' names, then the aliases it registers; the first name of a kind is canonical.
constexpr KindName kKindNames[] = {
    {"nDCG", Kind::kNdcg},   {"AP", Kind::kAp},         {"RR", Kind::kRr},
    {"R", Kind::kRecall},    {"P", Kind::kPrecision},   {"Judged", Kind::kJudged},
    {"NDCG", Kind::kNdcg},   {"MAP", Kind::kAp},        {"MRR", Kind::kRr},
    {"Recall", Kind::kRecall}, {"Precision", Kind::kPrecision},
};

// trec_eval measure names: either the whole name, or a prefix followed by the cutoff.
struct TrecName {
  absl::string_view name;
  Kind kind;
  bool takes_cutoff;
};
constexpr TrecName kTrecNames[] = {
    {"ndcg", Kind::kNdcg, false},       {"map", Kind::kAp, false},
    {"recip_rank", Kind::kRr, false},   {"ndcg_cut_", Kind::kNdcg, true},
    {"map_cut_", Kind::kAp, true},      {"recall_", Kind::kRecall, true},
    {"P_", Kind::kPrecision, true},
};

absl::string_view CanonicalName(Kind kind) {
  for (const KindName& k : kKindNames) {
    if (k.kind == kind) return k.name;
  }
  return "?";
}

std::optional<Kind> FindKind(absl::string_view name) {
  for (const KindName& k : kKindNames) {
    if (k.name == name) return k.kind;
  }
  return std::nullopt;
}

// A positive decimal integer without sign or spaces (SimpleAtoi alone would accept both).
bool ParsePositiveInt(absl::string_view text, int* out) {
  if (text.empty() || !std::all_of(text.begin(), text.end(), absl::ascii_isdigit)) return false;
  return absl::SimpleAtoi(text, out) && *out > 0;
}

absl::Status UnknownMeasure(absl::string_view name) {
  return absl::InvalidArgumentError(absl::StrCat("unknown measure \"", name, "\""));
}

std::optional<Measure> ParseTrecName(absl::string_view name) {
  for (const TrecName& t : kTrecNames) {
    Measure m;
    m.kind = t.kind;
    if (!t.takes_cutoff && name == t.name) return m;
    if (t.takes_cutoff && absl::StartsWith(name, t.name) &&
        ParsePositiveInt(name.substr(t.name.size()), &m.cutoff)) {
      return m;
    }
  }
  return std::nullopt;
}

// "(rel=2)": the only parameter shared by the supported measures.
absl::Status ParseParams(absl::string_view name, absl::string_view params, Measure* m) {
  for (absl::string_view param : absl::StrSplit(params, ',')) {
    std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(param, absl::MaxSplits('=', 1));
    const absl::string_view key = absl::StripAsciiWhitespace(kv.first);
    if (key != "rel" || !ParsePositiveInt(absl::StripAsciiWhitespace(kv.second), &m->rel_level)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "invalid measure \"", name, "\": bad parameter \"", param,
          "\" (the only parameter is rel=N with N >= 1)"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Measure> ParseIrMeasuresName(absl::string_view name) {
  absl::string_view rest = name;
  const auto letters_end = std::find_if_not(rest.begin(), rest.end(), absl::ascii_isalpha);
  const std::optional<Kind> kind = FindKind(rest.substr(0, letters_end - rest.begin()));
  if (!kind) return UnknownMeasure(name);
  rest.remove_prefix(letters_end - rest.begin());
  Measure m;
  m.kind = *kind;
  if (absl::ConsumePrefix(&rest, "(")) {
    const std::size_t close = rest.find(')');
    if (close == absl::string_view::npos) return UnknownMeasure(name);
    DENSEFB_RETURN_IF_ERROR(ParseParams(name, rest.substr(0, close), &m));
    rest.remove_prefix(close + 1);
  }
  if (absl::ConsumePrefix(&rest, "@")) {
    if (!ParsePositiveInt(rest, &m.cutoff)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "invalid measure \"", name, "\": the cutoff must be a positive integer"));
    }
    rest = {};
  }
  if (!rest.empty()) return UnknownMeasure(name);
  return m;
}

// ---- per-query evaluation ---------------------------------------------------------------

// Grade given to retrieved documents absent from the qrels: below every relevance threshold
// (which is >= 1) and no nDCG gain.
constexpr int kUnjudged = std::numeric_limits<int>::min();

// What the measures of one query read, built once per query and shared by all measures.
struct RankedQuery {
  std::vector<int> grades;      // grade at each rank (trec_eval order), kUnjudged if none
  std::vector<char> judged;     // whether judged, by rank; ir_measures' order when Judged is asked
  std::vector<int> ideal;       // positive grades, descending (nDCG's ideal ranking)
  std::vector<int> all_grades;  // every judgment's grade (to count relevant documents)
};

// Reused across queries so that evaluating allocates once, not per query.
struct Scratch {
  // The score is copied next to the pointer so that sorting rarely dereferences entries.
  struct Ranked {
    double score;
    const Run::Entry* entry;
  };
  std::vector<Ranked> order;
  absl::flat_hash_map<absl::string_view, int> grade_of;
};

absl::Status ValidateList(absl::string_view query_id, const std::vector<Run::Entry>& list,
                          absl::flat_hash_set<absl::string_view>* seen) {
  seen->clear();
  seen->reserve(list.size());
  for (const Run::Entry& e : list) {
    if (std::isnan(e.score)) {
      return absl::InvalidArgumentError(absl::StrCat("run: query \"", query_id, "\" document \"",
                                                     e.doc_id, "\" has a NaN score"));
    }
    if (!seen->insert(e.doc_id).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          "run: query \"", query_id, "\" lists document \"", e.doc_id, "\" more than once"));
    }
  }
  return absl::OkStatus();
}

// Every query is validated, evaluated or not: whether a run is valid must not depend on the
// qrels it is compared with.
absl::Status ValidateRun(const Run& run) {
  absl::flat_hash_set<absl::string_view> seen;
  for (std::size_t q = 0; q < run.num_queries(); ++q) {
    DENSEFB_RETURN_IF_ERROR(ValidateList(run.query_ids()[q], run.list(q), &seen));
  }
  return absl::OkStatus();
}

void RankQuery(const std::vector<Run::Entry>& list,
               const std::vector<Qrels::Judgment>& judgments, bool need_judged,
               Scratch* scratch, RankedQuery* out) {
  scratch->grade_of.clear();
  out->all_grades.clear();
  out->ideal.clear();
  for (const Qrels::Judgment& j : judgments) {
    scratch->grade_of[j.doc_id] = j.grade;
    out->all_grades.push_back(j.grade);
    if (j.grade > 0) out->ideal.push_back(j.grade);
  }
  std::sort(out->ideal.begin(), out->ideal.end(), std::greater<int>());

  // trec_eval's order: score descending, then document id descending (doc ids are unique, so
  // the order is total and std::sort is deterministic).
  auto& order = scratch->order;
  order.clear();
  for (const Run::Entry& e : list) order.push_back({e.score, &e});
  std::sort(order.begin(), order.end(), [](const Scratch::Ranked& a, const Scratch::Ranked& b) {
    if (a.score != b.score) return a.score > b.score;
    return a.entry->doc_id > b.entry->doc_id;
  });

  out->grades.resize(order.size());
  out->judged.resize(order.size());
  for (std::size_t i = 0; i < order.size(); ++i) {
    const auto it = scratch->grade_of.find(order[i].entry->doc_id);
    out->grades[i] = it == scratch->grade_of.end() ? kUnjudged : it->second;
    out->judged[i] = it != scratch->grade_of.end();
  }
  if (!need_judged) return;
  // ir_measures breaks ties by doc id ascending: reversing each block of equal scores turns
  // trec_eval's order into it.
  for (std::size_t begin = 0; begin < order.size();) {
    std::size_t end = begin + 1;
    while (end < order.size() && order[end].score == order[begin].score) ++end;
    std::reverse(out->judged.begin() + begin, out->judged.begin() + end);
    begin = end;
  }
}

// Number of ranks a measure looks at: the cutoff, or every retrieved document.
std::size_t Depth(int cutoff, std::size_t size) {
  return cutoff > 0 ? std::min(static_cast<std::size_t>(cutoff), size) : size;
}

std::size_t NumRelevant(const RankedQuery& q, int rel_level) {
  return std::count_if(q.all_grades.begin(), q.all_grades.end(),
                       [&](int g) { return g >= rel_level; });
}

std::size_t RelevantRetrieved(const RankedQuery& q, std::size_t depth, int rel_level) {
  return std::count_if(q.grades.begin(), q.grades.begin() + depth,
                       [&](int g) { return g >= rel_level; });
}

// Sum of gain / log2(rank + 1) over the first `depth` ranks; log2_rank1[i] = log2(i + 2).
double DiscountedGain(const std::vector<int>& grades, std::size_t depth,
                      const std::vector<double>& log2_rank1) {
  double sum = 0.0;
  for (std::size_t i = 0; i < depth; ++i) {
    if (grades[i] > 0) sum += grades[i] / log2_rank1[i];
  }
  return sum;
}

double Ndcg(const RankedQuery& q, int cutoff, const std::vector<double>& log2_rank1) {
  const double ideal =
      DiscountedGain(q.ideal, Depth(cutoff, q.ideal.size()), log2_rank1);
  if (ideal <= 0.0) return 0.0;
  return DiscountedGain(q.grades, Depth(cutoff, q.grades.size()), log2_rank1) / ideal;
}

double AveragePrecision(const RankedQuery& q, int cutoff, int rel_level) {
  const std::size_t num_rel = NumRelevant(q, rel_level);
  if (num_rel == 0) return 0.0;
  const std::size_t depth = Depth(cutoff, q.grades.size());
  double sum = 0.0;
  std::size_t found = 0;
  for (std::size_t i = 0; i < depth; ++i) {
    if (q.grades[i] >= rel_level) sum += static_cast<double>(++found) / (i + 1);
  }
  return sum / num_rel;
}

double ReciprocalRank(const RankedQuery& q, int cutoff, int rel_level) {
  const std::size_t depth = Depth(cutoff, q.grades.size());
  for (std::size_t i = 0; i < depth; ++i) {
    if (q.grades[i] >= rel_level) return 1.0 / (i + 1);
  }
  return 0.0;
}

double Recall(const RankedQuery& q, int cutoff, int rel_level) {
  const std::size_t num_rel = NumRelevant(q, rel_level);
  if (num_rel == 0) return 0.0;
  return static_cast<double>(RelevantRetrieved(q, Depth(cutoff, q.grades.size()), rel_level)) /
         num_rel;
}

double Precision(const RankedQuery& q, int cutoff, int rel_level) {
  return static_cast<double>(RelevantRetrieved(q, Depth(cutoff, q.grades.size()), rel_level)) /
         cutoff;
}

double JudgedRate(const RankedQuery& q, int cutoff) {
  const std::size_t depth = Depth(cutoff, q.judged.size());
  if (depth == 0) return 0.0;
  return static_cast<double>(std::count(q.judged.begin(), q.judged.begin() + depth, 1)) / depth;
}

double Compute(const Measure& m, int rel_level, const RankedQuery& q,
               const std::vector<double>& log2_rank1) {
  switch (m.kind) {
    case Kind::kNdcg: return Ndcg(q, m.cutoff, log2_rank1);
    case Kind::kAp: return AveragePrecision(q, m.cutoff, rel_level);
    case Kind::kRr: return ReciprocalRank(q, m.cutoff, rel_level);
    case Kind::kRecall: return Recall(q, m.cutoff, rel_level);
    case Kind::kPrecision: return Precision(q, m.cutoff, rel_level);
    case Kind::kJudged: return JudgedRate(q, m.cutoff);
  }
  return 0.0;
}

// log2(rank + 1) for every rank any list can reach, computed once per Evaluate.
std::vector<double> Log2Table(const Run& run, const Qrels& qrels) {
  std::size_t longest = 0;
  for (std::size_t q = 0; q < run.num_queries(); ++q) {
    longest = std::max(longest, run.list(q).size());
  }
  for (std::size_t q = 0; q < qrels.num_queries(); ++q) {
    longest = std::max(longest, qrels.judgments(q).size());
  }
  std::vector<double> table(longest);
  for (std::size_t i = 0; i < longest; ++i) table[i] = std::log2(static_cast<double>(i + 2));
  return table;
}

}  // namespace

absl::StatusOr<Measure> Measure::Parse(absl::string_view name) {
  const absl::string_view trimmed = absl::StripAsciiWhitespace(name);
  if (std::optional<Measure> m = ParseTrecName(trimmed)) return *m;
  DENSEFB_ASSIGN_OR_RETURN(Measure m, ParseIrMeasuresName(trimmed));
  const absl::Status valid = m.Validate();
  if (!valid.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid measure \"", trimmed, "\": ", valid.message()));
  }
  return m;
}

absl::Status Measure::Validate() const {
  const absl::string_view name = CanonicalName(kind);
  if (cutoff < 0) return absl::InvalidArgumentError(absl::StrCat(name, ": negative cutoff"));
  if (rel_level < 0) return absl::InvalidArgumentError(absl::StrCat(name, ": rel must be >= 1"));
  if (kind == Kind::kPrecision && cutoff == 0) {
    return absl::InvalidArgumentError("P needs a cutoff, e.g. P@10");
  }
  if ((kind == Kind::kNdcg || kind == Kind::kJudged) && rel_level != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        name, " takes no rel parameter", kind == Kind::kNdcg ? " (its gains are the grades)" : ""));
  }
  return absl::OkStatus();
}

std::string Measure::ToString() const {
  std::string out(CanonicalName(kind));
  if (rel_level != 0) absl::StrAppend(&out, "(rel=", rel_level, ")");
  if (cutoff != 0) absl::StrAppend(&out, "@", cutoff);
  return out;
}

absl::StatusOr<EvalResult> Evaluate(const Run& run, const Qrels& qrels,
                                    absl::Span<const Measure> measures,
                                    const EvalOptions& options) {
  if (options.rel_level < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("rel_level must be >= 1, got ", options.rel_level));
  }
  EvalResult result;
  bool need_judged = false;
  for (const Measure& m : measures) {
    const absl::Status valid = m.Validate();
    if (!valid.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("invalid measure: ", valid.message()));
    }
    need_judged |= m.kind == Kind::kJudged;
    result.measures.push_back(m.ToString());
  }
  DENSEFB_RETURN_IF_ERROR(ValidateRun(run));

  const std::vector<double> log2_rank1 = Log2Table(run, qrels);
  result.mean.assign(measures.size(), 0.0);
  Scratch scratch;
  RankedQuery ranked;
  for (std::size_t qi = 0; qi < qrels.num_queries(); ++qi) {
    const std::string& query_id = qrels.query_ids()[qi];
    const std::int64_t run_index = run.FindQuery(query_id);
    if (run_index < 0 && !options.average_over_qrels) continue;
    std::vector<double>& values = result.per_query.emplace_back(measures.size(), 0.0);
    result.query_ids.push_back(query_id);
    if (run_index < 0) continue;  // trec_eval -c: a query the run misses scores 0
    RankQuery(run.list(run_index), qrels.judgments(qi), need_judged, &scratch, &ranked);
    for (std::size_t m = 0; m < measures.size(); ++m) {
      const int rel_level = measures[m].rel_level > 0 ? measures[m].rel_level : options.rel_level;
      values[m] = Compute(measures[m], rel_level, ranked, log2_rank1);
      result.mean[m] += values[m];
    }
  }
  if (!result.query_ids.empty()) {
    for (double& mean : result.mean) mean /= static_cast<double>(result.query_ids.size());
  }
  return result;
}

absl::StatusOr<EvalResult> Evaluate(const Run& run, const Qrels& qrels,
                                    absl::Span<const std::string> measure_names,
                                    const EvalOptions& options) {
  std::vector<Measure> measures;
  measures.reserve(measure_names.size());
  for (const std::string& name : measure_names) {
    DENSEFB_ASSIGN_OR_RETURN(Measure m, Measure::Parse(name));
    measures.push_back(m);
  }
  return Evaluate(run, qrels, measures, options);
}

}  // namespace densefb
