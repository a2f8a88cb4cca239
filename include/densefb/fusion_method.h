// Fusion: several rankings of the same queries in, one out. Built-ins (densefb/fusion.h):
// RrfFusion, InterpolationFusion, CombFusion (CombSUM / CombMNZ / CombMAX), BordaFusion. In a
// pipeline, fuse(method, p1, p2, ...) runs each branch and fuses their rankings.
#ifndef DENSEFB_FUSION_METHOD_H_
#define DENSEFB_FUSION_METHOD_H_

#include <cstddef>
#include <string>

#include "absl/types/span.h"
#include "densefb/data.h"
#include "densefb/ranking.h"
#include "densefb/status.h"

namespace densefb {

class Fusion {
 public:
  virtual ~Fusion() = default;

  // The fused ranking: one list per query, best first (score descending, ties by smaller id).
  // Every input holds one list per query of the batch. Const; called from several threads.
  virtual absl::StatusOr<BatchRanking> Fuse(absl::Span<const BatchRanking* const> inputs) const = 0;

  // The canonical spec of the method for `num_inputs` inputs, e.g.
  // "rrf(k=60,weights=[1,1],depth=0,top=0)".
  virtual std::string ToString(std::size_t num_inputs) const = 0;

  // InvalidArgument if the method cannot fuse `num_inputs` rankings (e.g. a weight per input).
  virtual absl::Status CheckInputs(std::size_t num_inputs) const {
    (void)num_inputs;
    return absl::OkStatus();
  }

  // Fuses string-id runs (e.g. TREC run files) query by query. Queries: the union of the runs'
  // queries, in the first run's order and then in order of first appearance; a query absent
  // from a run is an empty list there. Each input list is given to Fuse() ranked as trec_eval
  // ranks it (score descending, ties by document id descending) with per-query ids numbered so
  // that "ties by smaller id" is that order, and the output lists keep it. The run's name is
  // ToString(runs.size()). A document listed twice or a non-finite score is InvalidArgument
  // naming the run, query and document. This default passes scores to Fuse() as float; the
  // built-in methods override it to stay in double throughout.
  virtual absl::StatusOr<Run> FuseRuns(absl::Span<const Run* const> runs) const;
};

}  // namespace densefb

#endif  // DENSEFB_FUSION_METHOD_H_
