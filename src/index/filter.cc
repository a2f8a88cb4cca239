#include "densefb/filter.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace densefb {
namespace {

// A bitmap is used when it costs at most this many bytes more than 8 per allowed id.
constexpr std::int64_t kBitmapSlackBytes = std::int64_t{1} << 17;

absl::Status CheckIds(absl::Span<const std::int64_t> ids, std::int64_t row) {
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0) {
      return absl::InvalidArgumentError(absl::StrCat("filter row ", row, ": id ", ids[i],
                                                     " at position ", i, " is negative"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

bool Filter::Row::Allows(std::int64_t id) const {
  if (bitmap) {
    const std::uint64_t word = static_cast<std::uint64_t>(id) >> 6;
    return word < bits.size() && ((bits[word] >> (id & 63)) & 1u) != 0;
  }
  return std::binary_search(ids.begin(), ids.end(), id);
}

std::shared_ptr<const Filter::Row> Filter::MakeRow(std::vector<std::int64_t> sorted) {
  auto row = std::make_shared<Row>();
  row->count = static_cast<std::int64_t>(sorted.size());
  const std::int64_t words = sorted.empty() ? 0 : sorted.back() / 64 + 1;
  if (words * 8 <= row->count * 8 + kBitmapSlackBytes) {
    row->bitmap = true;
    row->bits.assign(static_cast<std::size_t>(words), 0);
    for (std::int64_t id : sorted) row->bits[static_cast<std::size_t>(id >> 6)] |= std::uint64_t{1} << (id & 63);
  } else {
    row->ids = std::move(sorted);
  }
  return row;
}

absl::StatusOr<Filter> Filter::FromIds(absl::Span<const std::int64_t> ids) {
  return FromIdLists({std::vector<std::int64_t>(ids.begin(), ids.end())});
}

absl::StatusOr<Filter> Filter::FromIdLists(absl::Span<const std::vector<std::int64_t>> lists) {
  if (lists.empty()) return absl::InvalidArgumentError("a filter needs at least one row");
  Filter f;
  for (std::size_t r = 0; r < lists.size(); ++r) {
    DENSEFB_RETURN_IF_ERROR(CheckIds(lists[r], static_cast<std::int64_t>(r)));
    std::vector<std::int64_t> sorted(lists[r]);
    std::sort(sorted.begin(), sorted.end());
    sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
    f.rows_.push_back(MakeRow(std::move(sorted)));
  }
  return f;
}

absl::StatusOr<Filter> Filter::FromMask(const std::uint8_t* mask, std::int64_t rows, std::int64_t bits) {
  if (rows < 1 || bits < 0) {
    return absl::InvalidArgumentError(absl::StrCat("a filter mask must have at least one row, got ", rows, " x ", bits));
  }
  if (bits > 0 && mask == nullptr) return absl::InvalidArgumentError("filter mask: null data");
  Filter f;
  for (std::int64_t r = 0; r < rows; ++r) {
    auto row = std::make_shared<Row>();
    row->bitmap = true;
    row->bits.assign(static_cast<std::size_t>((bits + 63) / 64), 0);
    const std::uint8_t* m = mask + r * bits;
    for (std::int64_t i = 0; i < bits; ++i) {
      if (m[i] != 0) row->bits[static_cast<std::size_t>(i >> 6)] |= std::uint64_t{1} << (i & 63);
    }
    for (std::uint64_t w : row->bits) row->count += __builtin_popcountll(w);
    f.rows_.push_back(std::move(row));
  }
  return f;
}

absl::Status Filter::CheckQueries(std::int64_t num_queries) const {
  if (rows() == 1 || rows() == num_queries) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("the filter has ", rows(), " rows for ", num_queries,
                                                 " queries (give one row, or one per query)"));
}

Filter Filter::Slice(std::int64_t begin, std::int64_t end) const {
  if (rows_.size() == 1) return *this;
  Filter f;
  f.rows_.assign(rows_.begin() + begin, rows_.begin() + end);
  return f;
}

std::vector<std::int64_t> Filter::Ids(std::int64_t query) const {
  const Row& r = row(query);
  if (!r.bitmap) return r.ids;
  std::vector<std::int64_t> out;
  out.reserve(static_cast<std::size_t>(r.count));
  for (std::size_t w = 0; w < r.bits.size(); ++w) {
    for (std::uint64_t word = r.bits[w]; word != 0; word &= word - 1) {
      out.push_back(static_cast<std::int64_t>(w * 64 + static_cast<std::size_t>(__builtin_ctzll(word))));
    }
  }
  return out;
}

}  // namespace densefb
