// In-memory data model: IdMap, Corpus, Queries, Qrels, Run.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "densefb/data.h"

namespace densefb {

absl::StatusOr<std::int32_t> IdMap::Add(absl::string_view id) {
  if (names_.size() >= static_cast<std::size_t>(INT32_MAX)) {
    return absl::ResourceExhaustedError("more than 2^31-1 ids");
  }
  const auto next = static_cast<std::int32_t>(names_.size());
  auto [it, inserted] = index_.try_emplace(std::string(id), next);
  if (!inserted) return absl::AlreadyExistsError(absl::StrCat("duplicate id \"", id, "\""));
  names_.emplace_back(id);
  return next;
}

std::int32_t IdMap::Find(absl::string_view id) const {
  auto it = index_.find(id);
  return it == index_.end() ? kMissing : it->second;
}

void IdMap::Reserve(std::size_t n) {
  names_.reserve(n);
  index_.reserve(n);
}

absl::Status Corpus::Add(Document doc) {
  DENSEFB_RETURN_IF_ERROR(ids_.Add(doc.id).status());
  docs_.push_back(std::move(doc));
  return absl::OkStatus();
}

std::string Corpus::FullText(std::size_t i) const {
  const Document& d = docs_[i];
  if (d.title.empty()) return d.text;
  if (d.text.empty()) return d.title;
  return absl::StrCat(d.title, " ", d.text);
}

absl::Status Queries::Add(Query query) {
  DENSEFB_RETURN_IF_ERROR(ids_.Add(query.id).status());
  queries_.push_back(std::move(query));
  return absl::OkStatus();
}

void Qrels::Set(absl::string_view query_id, absl::string_view doc_id, int grade) {
  auto [qit, new_query] = query_index_.try_emplace(std::string(query_id), query_ids_.size());
  if (new_query) {
    query_ids_.emplace_back(query_id);
    judgments_.emplace_back();
    doc_index_.emplace_back();
  }
  const std::size_t q = qit->second;
  auto [dit, new_doc] = doc_index_[q].try_emplace(std::string(doc_id), judgments_[q].size());
  if (new_doc) {
    judgments_[q].push_back({std::string(doc_id), grade});
  } else {
    judgments_[q][dit->second].grade = grade;
  }
}

std::int64_t Qrels::FindQuery(absl::string_view query_id) const {
  auto it = query_index_.find(query_id);
  return it == query_index_.end() ? -1 : static_cast<std::int64_t>(it->second);
}

std::size_t Qrels::num_judgments() const {
  std::size_t n = 0;
  for (const auto& j : judgments_) n += j.size();
  return n;
}

absl::StatusOr<std::size_t> Run::AddQuery(absl::string_view query_id) {
  auto [it, inserted] = query_index_.try_emplace(std::string(query_id), query_ids_.size());
  if (!inserted) {
    return absl::AlreadyExistsError(absl::StrCat("query \"", query_id, "\" is already in the run"));
  }
  query_ids_.emplace_back(query_id);
  lists_.emplace_back();
  return it->second;
}

std::int64_t Run::FindQuery(absl::string_view query_id) const {
  auto it = query_index_.find(query_id);
  return it == query_index_.end() ? -1 : static_cast<std::int64_t>(it->second);
}

std::size_t Run::num_entries() const {
  std::size_t n = 0;
  for (const auto& l : lists_) n += l.size();
  return n;
}

void Run::SortAndTruncate(std::size_t depth) {
  for (auto& list : lists_) {
    std::sort(list.begin(), list.end(), [](const Entry& a, const Entry& b) {
      if (a.score != b.score) return a.score > b.score;
      return a.doc_id > b.doc_id;
    });
    if (depth > 0 && list.size() > depth) list.resize(depth);
  }
}

}  // namespace densefb

namespace densefb {

absl::StatusOr<Run> MakeRun(absl::Span<const std::string> query_ids, const std::int64_t* ids,
                            const float* scores, std::int64_t k,
                            absl::Span<const std::string> doc_ids) {
  Run run;
  for (std::size_t q = 0; q < query_ids.size(); ++q) {
    DENSEFB_ASSIGN_OR_RETURN(std::size_t row, run.AddQuery(query_ids[q]));
    auto& list = run.list(row);
    list.reserve(k);
    for (std::int64_t j = 0; j < k; ++j) {
      const std::int64_t id = ids[q * k + j];
      if (id == -1) continue;
      if (id < 0 || id >= static_cast<std::int64_t>(doc_ids.size())) {
        return absl::OutOfRangeError(absl::StrCat("result id ", id, " of query \"", query_ids[q],
                                                  "\" is outside the ", doc_ids.size(),
                                                  " document ids"));
      }
      list.push_back({doc_ids[id], static_cast<double>(scores[q * k + j])});
    }
  }
  return run;
}

}  // namespace densefb
