// Evaluation measures computed exactly as trec_eval computes them.
//
// Conventions (trec_eval 9.x/10.x, as pytrec_eval and ir_measures use it):
//  * A run's stored order and rank column are ignored: each query's documents are ranked by
//    score descending, ties broken by document id in descending (strcmp) order.
//  * Only queries present in both the run and the qrels are evaluated (a run query with an
//    empty list counts, scoring 0, as in pytrec_eval), and averages are taken over them; with
//    `average_over_qrels` (trec_eval -c) every qrels query counts, a query missing from the
//    run scoring 0. Queries are reported in qrels order.
//  * A document is relevant when its grade >= rel_level (trec_eval -l, default 1). This
//    threshold applies to AP, R, P and RR; nDCG uses the raw grade as gain (grades <= 0 give
//    no gain) with discount log2(rank + 1), and ignores rel_level. nDCG's ideal ranking holds
//    every positive grade of the query (cut at k for nDCG@k).
//  * P@k divides by k even when fewer than k documents were retrieved. AP@k is trec_eval's
//    map_cut.k: precisions at relevant ranks <= k, summed, over the number of relevant docs.
//    RR@k: 1/rank of the first relevant document within the top k, else 0. R@k: relevant in
//    the top k over the number relevant (0 when none is relevant).
//  * Judged@k is not a trec_eval measure; it follows its reference, ir_measures' judged
//    provider, exactly: the fraction of the top min(k, retrieved) documents that have a
//    judgment of any grade, with those top documents taken in ir_measures' order (score
//    descending, ties by document id *ascending*); 0 when nothing was retrieved. Without a
//    cutoff it covers every retrieved document.
//  * Runs are validated: a NaN score or a document listed twice for one query (trec_eval
//    refuses duplicates) is InvalidArgument naming the query and the document.
#ifndef DENSEFB_EVAL_H_
#define DENSEFB_EVAL_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "densefb/data.h"
#include "densefb/status.h"

namespace densefb {

// One measure in ir_measures notation: "nDCG@10", "AP", "AP@100", "RR@10", "R@1000",
// "P@5", "Judged@10", "nDCG", and with a per-measure threshold "AP(rel=2)", "R(rel=2)@1000".
// Parse also accepts ir_measures' aliases (NDCG, MAP, MRR, Recall, Precision) and the
// trec_eval names ndcg, ndcg_cut_K, map, map_cut_K, recip_rank, recall_K, P_K.
struct Measure {
  enum class Kind { kNdcg, kAp, kRr, kRecall, kPrecision, kJudged };
  Kind kind = Kind::kNdcg;
  int cutoff = 0;     // 0 = no cutoff (all retrieved documents); P needs one
  int rel_level = 0;  // 0 = use EvalOptions::rel_level; else >= 1 (AP, RR, R, P only)

  // InvalidArgument naming `name` when it is unknown or malformed.
  static absl::StatusOr<Measure> Parse(absl::string_view name);
  // Back to canonical ir_measures notation, e.g. "AP(rel=2)@100"; Parse(ToString()) == *this.
  std::string ToString() const;
  // InvalidArgument when the fields do not form a valid measure (e.g. P without a cutoff).
  absl::Status Validate() const;

  bool operator==(const Measure& o) const {
    return kind == o.kind && cutoff == o.cutoff && rel_level == o.rel_level;
  }
  bool operator!=(const Measure& o) const { return !(*this == o); }
};

struct EvalOptions {
  int rel_level = 1;                // trec_eval -l; must be >= 1
  bool average_over_qrels = false;  // trec_eval -c
};

struct EvalResult {
  std::vector<std::string> measures;   // ToString() of each measure, in the order asked
  std::vector<std::string> query_ids;  // the queries evaluated, in qrels order
  // per_query[q][m]: value of measure m on query q.
  std::vector<std::vector<double>> per_query;
  std::vector<double> mean;  // mean over query_ids of each measure (0 when there is none)
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
