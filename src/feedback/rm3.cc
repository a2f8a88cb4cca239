// RM3 pseudo-relevance feedback as Pyserini's Python port codes it (see include/densefb/bm25.h
// for the formula and the term filters): one implementation on explicit feedback term vectors
// (Rm3Expand), which Rm3ExpandQuery feeds from a Bm25Index.
#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include <utf8proc.h>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
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

// The formula (see Rm3Expand in densefb/bm25.h) on validated input.
WeightedQuery Expand(const WeightedQuery& query, absl::Span<const Rm3FeedbackDoc> feedback, std::int64_t num_docs_count,
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

  // Feedback document vectors: eligible terms, pruned to fb_terms, with their L1 norms. The
  // pruning orders terms completely (weight, then term), so the input order does not matter.
  const double num_docs = static_cast<double>(num_docs_count);
  using Entry = std::pair<const std::string*, double>;
  auto term_of = [](const Entry& e) -> const std::string& { return *e.first; };
  absl::flat_hash_map<std::string, double> rm;
  std::vector<Entry> vec;
  const std::size_t fb = std::min<std::size_t>(static_cast<std::size_t>(options.fb_docs), feedback.size());
  for (std::size_t i = 0; i < fb; ++i) {
    vec.clear();
    for (const Rm3FeedbackTerm& e : feedback[i].terms) {
      std::size_t length = 0;
      bool alnum = true;
      InspectTerm(e.term, &length, &alnum);
      if (options.filter_terms && !alnum) continue;
      if (length < 2 || length > 20) continue;
      if (static_cast<double>(e.df) / num_docs > 0.1) continue;
      vec.emplace_back(&e.term, static_cast<double>(e.tf));
    }
    PruneTopK(&vec, options.fb_terms, term_of);
    double norm = 0;
    for (const auto& e : vec) norm += std::fabs(e.second);
    if (!(norm > 0.001)) continue;
    const double score = feedback[i].score;
    for (const auto& [t, tf] : vec) rm[*t] += (tf / norm) * score;
  }

  // RM: pruned to fb_terms, L1-normalised.
  std::vector<std::pair<std::string, double>> model(rm.begin(), rm.end());
  PruneTopK(&model, options.fb_terms, [](const auto& e) -> const std::string& { return e.first; });
  double rm_norm = 0;
  for (const auto& e : model) rm_norm += std::fabs(e.second);
  if (rm_norm > 0) {
    for (auto& e : model) e.second /= rm_norm;
  }

  // w * q + (1 - w) * RM, positive weights only.
  const double w = options.original_query_weight;
  std::vector<std::pair<std::string, double>> mixed;
  for (const auto& [term, v] : q) mixed.emplace_back(term, w * v);
  for (const auto& [term, v] : model) {
    auto it = std::find_if(mixed.begin(), mixed.end(), [&t = term](const auto& e) { return e.first == t; });
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

// The body lives in Bm25Index::TermVectors, under the index's lock (live updates).
absl::StatusOr<std::vector<Rm3FeedbackDoc>> Rm3FeedbackDocs(const Bm25Index& index, const Ranking& docs) {
  return index.TermVectors(docs);
}

absl::StatusOr<WeightedQuery> Rm3Expand(const WeightedQuery& query, absl::Span<const Rm3FeedbackDoc> feedback,
                                        std::int64_t num_docs, const Rm3Options& options) {
  DENSEFB_RETURN_IF_ERROR(CheckOptions(options));
  for (const auto& [term, w] : query) {
    if (!std::isfinite(w)) return absl::InvalidArgumentError(absl::StrCat("weight of term \"", term, "\" is not finite"));
  }
  const std::size_t fb = std::min<std::size_t>(static_cast<std::size_t>(options.fb_docs), feedback.size());
  if (fb > 0 && num_docs < 1) {
    return absl::InvalidArgumentError(absl::StrCat("num_docs = ", num_docs, " must be >= 1 with feedback documents"));
  }
  absl::flat_hash_set<absl::string_view> seen;
  for (std::size_t i = 0; i < fb; ++i) {
    const Rm3FeedbackDoc& d = feedback[i];
    if (!std::isfinite(d.score)) {
      return absl::InvalidArgumentError(absl::StrCat("feedback document ", i, ": score ", d.score, " is not finite"));
    }
    seen.clear();
    for (const Rm3FeedbackTerm& e : d.terms) {
      std::string problem;
      if (!seen.insert(e.term).second) {
        problem = "is repeated";
      } else if (e.tf < 1) {
        problem = absl::StrCat("has tf = ", e.tf, " (must be >= 1)");
      } else if (e.df < 1 || e.df > num_docs) {
        problem = absl::StrCat("has df = ", e.df, " outside [1, num_docs = ", num_docs, "]");
      }
      if (!problem.empty()) {
        return absl::InvalidArgumentError(absl::StrCat("feedback document ", i, ": term \"", e.term, "\" ", problem));
      }
    }
  }
  return Expand(query, feedback, num_docs, options);
}

absl::StatusOr<WeightedQuery> Rm3ExpandQuery(const Bm25Index& index, const WeightedQuery& query,
                                             const Ranking& feedback, const Rm3Options& options) {
  DENSEFB_RETURN_IF_ERROR(CheckOptions(options));
  const std::size_t fb = std::min<std::size_t>(static_cast<std::size_t>(options.fb_docs), feedback.size());
  DENSEFB_ASSIGN_OR_RETURN(const std::vector<Rm3FeedbackDoc> docs,
                           Rm3FeedbackDocs(index, Ranking(feedback.begin(), feedback.begin() + fb)));
  return Rm3Expand(query, docs, index.CollectionNumDocs(), options);
}

}  // namespace densefb
