// RM3 pseudo-relevance feedback over a Bm25Index, as Pyserini's Python port codes it (see
// include/densefb/bm25.h for the formula and the term filters).
#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include <utf8proc.h>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "densefb/bm25.h"

namespace densefb {
namespace {

absl::Status CheckOptions(const Rm3Options& o) {
  if (o.fb_terms < 1) return absl::InvalidArgumentError(absl::StrCat("fb_terms = ", o.fb_terms, " must be >= 1"));
  if (o.fb_docs < 1) return absl::InvalidArgumentError(absl::StrCat("fb_docs = ", o.fb_docs, " must be >= 1"));
  if (!(o.original_query_weight >= 0.0f && o.original_query_weight <= 1.0f)) {
    return absl::InvalidArgumentError(
        absl::StrCat("original_query_weight = ", o.original_query_weight, " must be in [0, 1]"));
  }
  return absl::OkStatus();
}

// Length in code points and whether every code point is a letter or a number (L*, Nd, Nl, No:
// Python's str.isalnum, up to the few CJK ideographs that Python counts as numeric).
void InspectTerm(const std::string& term, std::size_t* length, bool* alnum) {
  *length = 0;
  *alnum = true;
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(term.data());
  utf8proc_ssize_t left = static_cast<utf8proc_ssize_t>(term.size());
  while (left > 0) {
    utf8proc_int32_t cp = 0;
    utf8proc_ssize_t n = utf8proc_iterate(p, left, &cp);
    if (n <= 0) {
      cp = 0xFFFD;
      n = 1;
    }
    ++*length;
    if (cp < 0x80) {
      *alnum = *alnum && ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9'));
    } else {
      switch (utf8proc_category(cp)) {
        case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
        case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_ND:
        case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
          break;
        default:
          *alnum = false;
      }
    }
    p += n;
    left -= n;
  }
}

// Keeps the `k` largest weights; ties go to the smaller term string (Pyserini's prune_top_k).
template <typename Entry, typename TermOf>
void PruneTopK(std::vector<Entry>* v, int k, TermOf term_of) {
  auto better = [&](const Entry& a, const Entry& b) {
    if (a.second != b.second) return a.second > b.second;
    return term_of(a) < term_of(b);
  };
  std::sort(v->begin(), v->end(), better);
  if (static_cast<int>(v->size()) > k) v->resize(static_cast<std::size_t>(k));
}

WeightedQuery Expand(const Bm25Index& index, const WeightedQuery& query, const Ranking& feedback,
                     const Rm3Options& options) {
  // q: the query's weights, L1-normalised (every analysed term, in the index or not).
  double q_norm = 0;
  for (const auto& [term, w] : query) q_norm += std::fabs(static_cast<double>(w));
  std::vector<std::pair<std::string, double>> q;
  for (const auto& [term, w] : query) {
    // (a structured binding cannot be captured by a lambda before C++20)
    auto it = std::find_if(q.begin(), q.end(), [&t = term](const auto& e) { return e.first == t; });
    const double v = q_norm > 0 ? static_cast<double>(w) / q_norm : static_cast<double>(w);
    if (it == q.end()) {
      q.emplace_back(term, v);
    } else {
      it->second += v;
    }
  }

  // Feedback document vectors: eligible terms, pruned to fb_terms, with their L1 norms.
  const double num_docs = static_cast<double>(index.num_docs());
  auto term_of = [&](const std::pair<std::int32_t, double>& e) -> const std::string& { return index.Term(e.first); };
  absl::flat_hash_map<std::int32_t, double> rm;
  std::vector<std::pair<std::int32_t, double>> vec;
  const std::size_t fb = std::min<std::size_t>(static_cast<std::size_t>(options.fb_docs), feedback.size());
  for (std::size_t i = 0; i < fb; ++i) {
    const std::int64_t doc = feedback[i].id;
    const auto terms = index.DocTerms(doc);
    const auto freqs = index.DocFreqs(doc);
    vec.clear();
    for (std::size_t e = 0; e < terms.size(); ++e) {
      const std::string& term = index.Term(terms[e]);
      std::size_t length = 0;
      bool alnum = true;
      InspectTerm(term, &length, &alnum);
      if (options.filter_terms && !alnum) continue;
      if (length < 2 || length > 20) continue;
      if (static_cast<double>(index.DocFreq(terms[e])) / num_docs > 0.1) continue;
      vec.emplace_back(terms[e], static_cast<double>(freqs[e]));
    }
    PruneTopK(&vec, options.fb_terms, term_of);
    double norm = 0;
    for (const auto& e : vec) norm += std::fabs(e.second);
    if (!(norm > 0.001)) continue;
    const double score = feedback[i].score;
    for (const auto& [t, tf] : vec) rm[t] += (tf / norm) * score;
  }

  // RM: pruned to fb_terms, L1-normalised.
  std::vector<std::pair<std::int32_t, double>> model(rm.begin(), rm.end());
  PruneTopK(&model, options.fb_terms, term_of);
  double rm_norm = 0;
  for (const auto& e : model) rm_norm += std::fabs(e.second);
  if (rm_norm > 0) {
    for (auto& e : model) e.second /= rm_norm;
  }

  // w * q + (1 - w) * RM, positive weights only.
  const double w = options.original_query_weight;
  std::vector<std::pair<std::string, double>> mixed;
  for (const auto& [term, v] : q) mixed.emplace_back(term, w * v);
  for (const auto& [t, v] : model) {
    const std::string& term = index.Term(t);
    auto it = std::find_if(mixed.begin(), mixed.end(), [&](const auto& e) { return e.first == term; });
    if (it == mixed.end()) {
      mixed.emplace_back(term, (1 - w) * v);
    } else {
      it->second += (1 - w) * v;
    }
  }
  std::sort(mixed.begin(), mixed.end(), [](const auto& a, const auto& b) {
    return a.second > b.second || (a.second == b.second && a.first < b.first);
  });
  WeightedQuery out;
  for (auto& [term, v] : mixed) {
    if (v > 0) out.emplace_back(std::move(term), static_cast<float>(v));
  }
  return out;
}

}  // namespace

absl::StatusOr<WeightedQuery> Rm3ExpandQuery(const Bm25Index& index, const WeightedQuery& query,
                                             const Ranking& feedback, const Rm3Options& options) {
  DENSEFB_RETURN_IF_ERROR(CheckOptions(options));
  for (const auto& [term, w] : query) {
    if (!std::isfinite(w)) return absl::InvalidArgumentError(absl::StrCat("weight of term \"", term, "\" is not finite"));
  }
  const std::size_t fb = std::min<std::size_t>(static_cast<std::size_t>(options.fb_docs), feedback.size());
  for (std::size_t i = 0; i < fb; ++i) {
    if (feedback[i].id < 0 || feedback[i].id >= index.num_docs()) {
      return absl::OutOfRangeError(absl::StrCat("feedback document id ", feedback[i].id, " is outside [0, ",
                                                index.num_docs(), ")"));
    }
  }
  return Expand(index, query, feedback, options);
}

}  // namespace densefb
