#include "densefb/ranking.h"

#include "absl/strings/str_cat.h"

namespace densefb {

absl::StatusOr<Run> ToRun(const BatchRanking& ranking, absl::Span<const std::string> query_ids,
                          absl::Span<const std::string> doc_ids, const std::string& name) {
  if (ranking.size() != query_ids.size()) {
    return absl::InvalidArgumentError(absl::StrCat("ranking has ", ranking.size(), " lists for ",
                                                   query_ids.size(), " query ids"));
  }
  Run run;
  run.name = name;
  for (std::size_t q = 0; q < ranking.size(); ++q) {
    DENSEFB_ASSIGN_OR_RETURN(std::size_t row, run.AddQuery(query_ids[q]));
    run.list(row).reserve(ranking.lists[q].size());
    for (const ScoredDoc& d : ranking.lists[q]) {
      if (d.id < 0 || d.id >= static_cast<std::int64_t>(doc_ids.size())) {
        return absl::OutOfRangeError(absl::StrCat("document id ", d.id, " of query \"", query_ids[q],
                                                  "\" is outside the ", doc_ids.size(), " document ids"));
      }
      DENSEFB_RETURN_IF_ERROR(run.Append(row, doc_ids[d.id], static_cast<double>(d.score)));
    }
  }
  return run;
}

}  // namespace densefb
