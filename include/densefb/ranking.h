// Ranked lists exchanged between pipeline stages (retrievers, feedback, rerankers, fusion).
// Documents are addressed by int64 ids (for a corpus: the document's position); queries by
// their row in the batch. Lists are sorted best first: score descending, ties by smaller id.
#ifndef DENSEFB_RANKING_H_
#define DENSEFB_RANKING_H_

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/types/span.h"
#include "densefb/data.h"
#include "densefb/status.h"

namespace densefb {

struct ScoredDoc {
  std::int64_t id;
  float score;
};

inline bool RanksBefore(const ScoredDoc& a, const ScoredDoc& b) {
  return a.score > b.score || (a.score == b.score && a.id < b.id);
}

using Ranking = std::vector<ScoredDoc>;

// One ranking per query of a batch, in query order.
struct BatchRanking {
  std::vector<Ranking> lists;
  std::size_t size() const { return lists.size(); }
};

// Sorts a list best first and keeps at most `k` entries (k <= 0 keeps all).
inline void SortRanking(Ranking& list, std::int64_t k = 0) {
  std::sort(list.begin(), list.end(), RanksBefore);
  if (k > 0 && static_cast<std::int64_t>(list.size()) > k) list.resize(k);
}

// Converts to a Run with string ids: doc_ids[id] names document `id`, query_ids[q] query q.
// An id outside doc_ids is an OutOfRange error.
absl::StatusOr<Run> ToRun(const BatchRanking& ranking, absl::Span<const std::string> query_ids,
                          absl::Span<const std::string> doc_ids, const std::string& name = "densefb");

}  // namespace densefb

#endif  // DENSEFB_RANKING_H_
