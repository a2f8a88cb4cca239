// In-memory data model: identifiers, IdMap, Corpus, Queries, Qrels, Run.
#include <algorithm>
#include <cmath>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "densefb/data.h"

namespace densefb {
namespace {

// Decodes the UTF-8 sequence at text[i]: its length and code point, or length 0 when it is
// not well-formed (RFC 3629, as Python's strict decoder).
std::size_t DecodeUtf8(absl::string_view text, std::size_t i, char32_t* cp) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char b0 = byte(i);
  if (b0 < 0x80) {
    *cp = b0;
    return 1;
  }
  std::size_t len;
  char32_t min;
  if ((b0 & 0xE0) == 0xC0) {
    len = 2, min = 0x80, *cp = b0 & 0x1F;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3, min = 0x800, *cp = b0 & 0x0F;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4, min = 0x10000, *cp = b0 & 0x07;
  } else {
    return 0;
  }
  if (text.size() - i < len) return 0;
  for (std::size_t k = 1; k < len; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    *cp = (*cp << 6) | (byte(i + k) & 0x3F);
  }
  if (*cp < min || *cp > 0x10FFFF || (*cp >= 0xD800 && *cp <= 0xDFFF)) return 0;
  return len;
}

// The name of a code point an id may not hold, or nullptr if it may.
const char* ForbiddenInId(char32_t cp) {
  switch (cp) {
    case ' ': return "a space";
    case '\t': return "a tab";
    case '\n': return "a line feed";
    case '\r': return "a carriage return";
    case 0x0B: case 0x0C: case 0x1C: case 0x1D: case 0x1E: case 0x1F: case 0x85:
      return "a line-breaking control character";
    case 0xA0: case 0x1680: case 0x202F: case 0x205F: case 0x3000: return "a Unicode space";
    case 0x2028: return "a line separator";
    case 0x2029: return "a paragraph separator";
    case 0xFEFF: return "a byte order mark";
    default: break;
  }
  if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F)) return "a control character";
  if (cp >= 0x2000 && cp <= 0x200A) return "a Unicode space";
  return nullptr;
}

}  // namespace

std::size_t FindInvalidUtf8(absl::string_view text) {
  char32_t cp;
  for (std::size_t i = 0; i < text.size();) {
    // ASCII runs dominate real text: skip them a byte at a time without decoding.
    if (static_cast<unsigned char>(text[i]) < 0x80) {
      ++i;
      continue;
    }
    const std::size_t len = DecodeUtf8(text, i, &cp);
    if (len == 0) return i;
    i += len;
  }
  return absl::string_view::npos;
}

std::string QuoteId(absl::string_view text) {
  constexpr std::size_t kMaxBytes = 200;
  std::string out = "\"";
  char32_t cp;
  std::size_t i = 0;
  while (i < text.size() && i < kMaxBytes) {
    const std::size_t len = DecodeUtf8(text, i, &cp);
    if (len == 0) {
      absl::StrAppendFormat(&out, "\\x%02X", static_cast<unsigned char>(text[i]));
      ++i;
      continue;
    }
    switch (cp) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (cp != ' ' && ForbiddenInId(cp) != nullptr) {
          absl::StrAppendFormat(&out, "\\u{%04X}", static_cast<std::uint32_t>(cp));
        } else {
          out.append(text.data() + i, len);
        }
    }
    i += len;
  }
  out += "\"";
  if (i < text.size()) absl::StrAppend(&out, "... (", text.size(), " bytes)");
  return out;
}

absl::Status ValidateId(absl::string_view id, absl::string_view what) {
  if (id.empty()) return absl::InvalidArgumentError(absl::StrCat("empty ", what));
  char32_t cp;
  for (std::size_t i = 0; i < id.size();) {
    const std::size_t len = DecodeUtf8(id, i, &cp);
    const char* problem = len == 0 ? "bytes that are not UTF-8" : ForbiddenInId(cp);
    if (problem != nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, " ", QuoteId(id), " holds ", problem, " at byte ", i,
          ": ids must be UTF-8 without whitespace or control characters, which TREC and TSV "
          "files cannot hold"));
    }
    i += len;
  }
  return absl::OkStatus();
}

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
  DENSEFB_RETURN_IF_ERROR(ValidateId(doc.id, "document id"));
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
  DENSEFB_RETURN_IF_ERROR(ValidateId(query.id, "query id"));
  DENSEFB_RETURN_IF_ERROR(ids_.Add(query.id).status());
  queries_.push_back(std::move(query));
  return absl::OkStatus();
}

absl::Status Qrels::Set(absl::string_view query_id, absl::string_view doc_id, int grade) {
  DENSEFB_RETURN_IF_ERROR(ValidateId(query_id, "query id"));
  DENSEFB_RETURN_IF_ERROR(ValidateId(doc_id, "document id"));
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
  return absl::OkStatus();
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
  DENSEFB_RETURN_IF_ERROR(ValidateId(query_id, "query id"));
  auto [it, inserted] = query_index_.try_emplace(std::string(query_id), query_ids_.size());
  if (!inserted) {
    return absl::AlreadyExistsError(absl::StrCat("query \"", query_id, "\" is already in the run"));
  }
  query_ids_.emplace_back(query_id);
  lists_.emplace_back();
  return it->second;
}

absl::Status Run::Append(std::size_t query_index, absl::string_view doc_id, double score) {
  DENSEFB_RETURN_IF_ERROR(ValidateId(doc_id, "document id"));
  lists_[query_index].push_back({std::string(doc_id), score});
  return absl::OkStatus();
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
  absl::flat_hash_set<std::int64_t> seen;
  for (std::size_t q = 0; q < query_ids.size(); ++q) {
    DENSEFB_ASSIGN_OR_RETURN(std::size_t row, run.AddQuery(query_ids[q]));
    auto& list = run.list(row);
    list.reserve(k);
    seen.clear();
    for (std::int64_t j = 0; j < k; ++j) {
      const std::int64_t id = ids[q * k + j];
      if (id == -1) continue;
      const auto at = [&] {
        return absl::StrCat(" of query ", QuoteId(query_ids[q]), " at position ", j);
      };
      if (id < 0 || id >= static_cast<std::int64_t>(doc_ids.size())) {
        return absl::OutOfRangeError(absl::StrCat("result id ", id, at(), " is outside the ",
                                                  doc_ids.size(), " document ids"));
      }
      const float score = scores[q * k + j];
      if (!std::isfinite(score)) {
        return absl::InvalidArgumentError(absl::StrCat("score ", score, " of document ",
                                                       QuoteId(doc_ids[id]), at(),
                                                       " is not a finite number"));
      }
      if (!seen.insert(id).second) {
        return absl::InvalidArgumentError(absl::StrCat("document ", QuoteId(doc_ids[id]), at(),
                                                       " is already in the row"));
      }
      absl::Status appended = run.Append(row, doc_ids[id], static_cast<double>(score));
      if (!appended.ok()) return absl::InvalidArgumentError(absl::StrCat(appended.message(), at()));
    }
  }
  return run;
}

}  // namespace densefb
