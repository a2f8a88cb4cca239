// Internal: the external int64 ids of an index's rows, with lookup by id.
#ifndef DENSEFB_SRC_INDEX_ID_TABLE_H_
#define DENSEFB_SRC_INDEX_ID_TABLE_H_

#include <cstdint>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "densefb/status.h"

namespace densefb {

class IdTable {
 public:
  // Rows, empty slots included (live() counts the rows holding an id).
  std::int64_t size() const { return static_cast<std::int64_t>(ids_.size()); }
  const std::vector<std::int64_t>& ids() const { return ids_; }
  std::int64_t id(std::int64_t row) const { return ids_[row]; }

  // Checks that `n` new rows can take `ids` (empty = size(), size()+1, ...): distinct,
  // non-negative, not present yet. Changes nothing.
  absl::Status Validate(std::int64_t n, absl::Span<const std::int64_t> ids) const {
    if (!ids.empty() && static_cast<std::int64_t>(ids.size()) != n) {
      return absl::InvalidArgumentError(
          absl::StrCat("got ", ids.size(), " ids for ", n, " vectors"));
    }
    if (ids.empty()) {
      // Sequential ids may only collide with explicit ids added before.
      for (std::int64_t i = 0; i < n && !row_of_.empty(); ++i) {
        if (row_of_.contains(size() + i)) {
          return absl::AlreadyExistsError(
              absl::StrCat("sequential id ", size() + i, " is already in the index; pass ids"));
        }
      }
      return absl::OkStatus();
    }
    absl::flat_hash_map<std::int64_t, std::int64_t> seen;
    seen.reserve(ids.size());
    for (std::size_t i = 0; i < ids.size(); ++i) {
      if (ids[i] < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("id ", ids[i], " at position ", i, " is negative (-1 marks padding)"));
      }
      if (row_of_.contains(ids[i])) {
        return absl::AlreadyExistsError(absl::StrCat("id ", ids[i], " is already in the index"));
      }
      auto [it, inserted] = seen.emplace(ids[i], i);
      if (!inserted) {
        return absl::InvalidArgumentError(absl::StrCat("id ", ids[i], " appears twice (positions ",
                                                       it->second, " and ", i, ")"));
      }
    }
    return absl::OkStatus();
  }

  // Room for n ids in total (never shrinks).
  void Reserve(std::int64_t n) {
    ids_.reserve(static_cast<std::size_t>(n));
    row_of_.reserve(static_cast<std::size_t>(n));
  }

  // Appends after a successful Validate(). Storage grows geometrically (an exact reserve per
  // batch would reallocate on every Add).
  void Append(std::int64_t n, absl::Span<const std::int64_t> ids) {
    const std::size_t needed = ids_.size() + static_cast<std::size_t>(n);
    if (needed > ids_.capacity()) ids_.reserve(std::max(needed, ids_.capacity() + ids_.capacity() / 2));
    row_of_.reserve(needed);
    for (std::int64_t i = 0; i < n; ++i) {
      const std::int64_t id = ids.empty() ? size() : ids[i];
      row_of_.emplace(id, size());
      ids_.push_back(id);
    }
  }

  // Row of an id, or -1.
  std::int64_t Row(std::int64_t id) const {
    auto it = row_of_.find(id);
    return it == row_of_.end() ? -1 : it->second;
  }

  // Rebuilds the lookup after ids_ was filled by a loader; fails on duplicates or negatives.
  // With `holes_allowed`, kNoId (-1) marks an empty slot (a deleted row kept in storage).
  absl::Status Assign(std::vector<std::int64_t> ids, bool holes_allowed = false) {
    ids_.clear();
    row_of_.clear();
    holes_ = 0;
    std::vector<std::int64_t> present;
    if (holes_allowed) {
      for (std::int64_t id : ids) {
        if (id != -1) present.push_back(id);
      }
    }
    DENSEFB_RETURN_IF_ERROR(Validate(static_cast<std::int64_t>(holes_allowed ? present.size() : ids.size()),
                                     holes_allowed ? present : ids));
    if (!holes_allowed) {
      Append(static_cast<std::int64_t>(ids.size()), ids);
      return absl::OkStatus();
    }
    ids_ = std::move(ids);
    row_of_.reserve(present.size());
    for (std::int64_t row = 0; row < size(); ++row) {
      if (ids_[row] == -1) {
        ++holes_;
      } else {
        row_of_.emplace(ids_[row], row);
      }
    }
    return absl::OkStatus();
  }

  // ---- deletions ----
  // Rows holding an id (the others are empty slots, kNoId).
  std::int64_t live() const { return size() - holes_; }
  std::int64_t holes() const { return holes_; }

  // The rows of `ids`, which must be distinct and present: NotFound names the first unknown
  // id, InvalidArgument a repeated one. Changes nothing.
  absl::StatusOr<std::vector<std::int64_t>> RowsOf(absl::Span<const std::int64_t> ids) const {
    std::vector<std::int64_t> rows(ids.size());
    absl::flat_hash_map<std::int64_t, std::size_t> seen;
    seen.reserve(ids.size());
    for (std::size_t i = 0; i < ids.size(); ++i) {
      rows[i] = Row(ids[i]);
      if (rows[i] < 0) {
        return absl::NotFoundError(absl::StrCat("id ", ids[i], " (position ", i, ") is not in the index"));
      }
      auto [it, inserted] = seen.emplace(ids[i], i);
      if (!inserted) {
        return absl::InvalidArgumentError(absl::StrCat("id ", ids[i], " appears twice (positions ",
                                                       it->second, " and ", i, ")"));
      }
    }
    return rows;
  }

  // Empties `row` (its slot stays, holding kNoId) / gives the empty slot `row` the id `id`.
  void Erase(std::int64_t row) {
    row_of_.erase(ids_[row]);
    ids_[row] = -1;
    ++holes_;
  }
  void Fill(std::int64_t row, std::int64_t id) {
    ids_[row] = id;
    row_of_.emplace(id, row);
    --holes_;
  }

  // Removes `rows` (ascending, distinct, not empty slots); the others keep their order.
  void RemoveRows(absl::Span<const std::int64_t> rows) {
    for (std::int64_t row : rows) row_of_.erase(ids_[row]);
    std::size_t next = 0, out = 0;
    for (std::size_t row = 0; row < ids_.size(); ++row) {
      if (next < rows.size() && static_cast<std::int64_t>(row) == rows[next]) {
        ++next;
        continue;
      }
      if (out != row && ids_[row] != -1) row_of_[ids_[row]] = static_cast<std::int64_t>(out);
      ids_[out++] = ids_[row];
    }
    ids_.resize(out);
  }

 private:
  std::vector<std::int64_t> ids_;
  absl::flat_hash_map<std::int64_t, std::int64_t> row_of_;
  std::int64_t holes_ = 0;  // rows holding kNoId
};

}  // namespace densefb

#endif  // DENSEFB_SRC_INDEX_ID_TABLE_H_
