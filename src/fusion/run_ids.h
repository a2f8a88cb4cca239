// Internal: what the two ways of fusing string-id runs share (densefb::FuseRuns over the options
// structs in fusion.cc, Fusion::FuseRuns in methods.cc): the union of the queries, and a
// numbering of each query's documents under which "ties by the smaller id" is trec_eval's
// "ties by document id descending".
#ifndef DENSEFB_SRC_FUSION_RUN_IDS_H_
#define DENSEFB_SRC_FUSION_RUN_IDS_H_

#include <algorithm>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "densefb/data.h"
#include "densefb/status.h"

namespace densefb::fusion_internal {

// An empty run with the union of the runs' queries: the first run's order, then new ones in
// order of appearance.
inline absl::StatusOr<Run> UnionOfQueries(absl::Span<const Run* const> runs) {
  Run out;
  for (const Run* run : runs) {
    for (const std::string& qid : run->query_ids()) {
      if (out.FindQuery(qid) < 0) DENSEFB_RETURN_IF_ERROR(out.AddQuery(qid).status());
    }
  }
  return out;
}

// The documents of query `qid` in any of the runs, sorted by id descending without repeats, into
// `names`; `local_id` maps each to its position there.
inline void NumberDocuments(absl::Span<const Run* const> runs, absl::string_view qid,
                            std::vector<absl::string_view>* names,
                            absl::flat_hash_map<absl::string_view, std::int64_t>* local_id) {
  names->clear();
  for (const Run* run : runs) {
    const std::int64_t row = run->FindQuery(qid);
    if (row < 0) continue;
    for (const Run::Entry& e : run->list(row)) names->push_back(e.doc_id);
  }
  std::sort(names->begin(), names->end(), std::greater<absl::string_view>());
  names->erase(std::unique(names->begin(), names->end()), names->end());
  local_id->clear();
  local_id->reserve(names->size());
  for (std::size_t j = 0; j < names->size(); ++j) (*local_id)[(*names)[j]] = static_cast<std::int64_t>(j);
}

}  // namespace densefb::fusion_internal

#endif  // DENSEFB_SRC_FUSION_RUN_IDS_H_
