// Evaluation measures computed exactly as trec_eval computes them.
//
// Conventions (trec_eval 9.x/10.x, as pytrec_eval and ir_measures use it):
//  * A run's stored order and rank column are ignored: each query's documents are ranked by
//    score descending, ties broken by document id in descending (strcmp) order.
//  * Only queries present in both the run and the qrels are evaluated, and averages are taken
//    over them; with `average_over_qrels` (trec_eval -c) every qrels query counts, a query
//    missing from the run scoring 0.
//  * A document is relevant when its grade >= rel_level (trec_eval -l, default 1). This
//    threshold applies to AP, R, P and RR; nDCG uses the raw grade as gain (grades <= 0 give
//    no gain) with discount log2(rank + 1), and ignores rel_level.
//  * P@k divides by k even when fewer than k documents were retrieved.
//  * Judged@k: the fraction of the top min(k, retrieved) documents that have a judgment of
//    any grade (ir_measures' definition); 0 when nothing was retrieved.
#ifndef DENSEFB_EVAL_H_
#define DENSEFB_EVAL_H_

#include <cstdint>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/types/span.h"
#include "densefb/data.h"
#include "densefb/status.h"

namespace densefb {

// One measure in ir_measures notation: "nDCG@10", "AP", "AP@100", "RR@10", "R@1000",
// "P@5", "Judged@10", "nDCG", and with a per-measure threshold "AP(rel=2)", "R(rel=2)@1000".
struct Measure {
  enum class Kind { kNdcg, kAp, kRr, kRecall, kPrecision, kJudged };
  Kind kind = Kind::kNdcg;
  int cutoff = 0;     // 0 = no cutoff (all retrieved documents)
  int rel_level = 0;  // 0 = use EvalOptions::rel_level

  static absl::StatusOr<Measure> Parse(absl::string_view name);
  std::string ToString() const;  // back to ir_measures notation
};

struct EvalOptions {
  int rel_level = 1;                // trec_eval -l
  bool average_over_qrels = false;  // trec_eval -c
};

struct EvalResult {
  std::vector<std::string> measures;   // ToString() of each measure, in the order asked
  std::vector<std::string> query_ids;  // the queries evaluated, in qrels order
  // per_query[q][m]: value of measure m on query q.
  std::vector<std::vector<double>> per_query;
  std::vector<double> mean;  // mean over query_ids of each measure
};

absl::StatusOr<EvalResult> Evaluate(const Run& run, const Qrels& qrels,
                                    absl::Span<const Measure> measures,
                                    const EvalOptions& options = {});

// Convenience: parses each name with Measure::Parse first.
absl::StatusOr<EvalResult> Evaluate(const Run& run, const Qrels& qrels,
                                    absl::Span<const std::string> measure_names,
                                    const EvalOptions& options = {});

}  // namespace densefb

#endif  // DENSEFB_EVAL_H_
