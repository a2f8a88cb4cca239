// The LLM rerankers (include/densefb/llm_rerankers.h) and their registration.
#include "densefb/llm_rerankers.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "densefb/pipeline.h"
#include "llm/text.h"
#include "pipeline/internal.h"

namespace densefb {

// ---- parsing --------------------------------------------------------------------------------

namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// The numbers of `text`: inside brackets ("[12]") when `bracketed`, else every run of digits.
// Runs longer than 9 digits count as out of range (-1 stands for "too large").
std::vector<std::int64_t> Numbers(absl::string_view text, bool bracketed) {
  std::vector<std::int64_t> out;
  std::size_t i = 0;
  while (i < text.size()) {
    if (!IsDigit(text[i]) || (bracketed && (i == 0 || text[i - 1] != '['))) {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < text.size() && IsDigit(text[j])) ++j;
    if (!bracketed || (j < text.size() && text[j] == ']')) {
      std::int64_t v = -1;
      if (j - i <= 9) {
        v = 0;
        for (std::size_t t = i; t < j; ++t) v = v * 10 + (text[t] - '0');
      }
      out.push_back(v);
    }
    i = j;
  }
  return out;
}

}  // namespace

std::vector<int> ParsePermutation(absl::string_view answer, int n, PermutationRepairs* repairs) {
  PermutationRepairs r;
  std::vector<int> perm;
  if (n <= 0) {
    if (repairs != nullptr) *repairs = r;
    return perm;
  }
  const llm::Answer a = llm::StripReasoning(answer);
  std::vector<std::int64_t> ids = Numbers(a.text, /*bracketed=*/true);
  if (ids.empty()) ids = Numbers(a.text, /*bracketed=*/false);
  std::vector<bool> seen(static_cast<std::size_t>(n), false);
  for (std::int64_t id : ids) {
    if (id < 1 || id > n) {
      ++r.out_of_range;
      continue;
    }
    if (seen[id - 1]) {
      ++r.duplicates;
      continue;
    }
    seen[id - 1] = true;
    perm.push_back(static_cast<int>(id - 1));
  }
  if (perm.empty()) {
    r = PermutationRepairs{};
    r.unparseable = true;
    perm.resize(static_cast<std::size_t>(n));
    std::iota(perm.begin(), perm.end(), 0);
  } else {
    for (int i = 0; i < n; ++i) {
      if (!seen[i]) {
        perm.push_back(i);
        ++r.missing;
      }
    }
  }
  if (repairs != nullptr) *repairs = r;
  return perm;
}

int ParseLabel(absl::string_view answer, const std::vector<std::string>& labels) {
  const llm::Answer a = llm::StripReasoning(answer);
  const std::string& t = a.text;
  std::size_t i = 0;
  while (i < t.size()) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(t[i]))) {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < t.size() && absl::ascii_isalnum(static_cast<unsigned char>(t[j]))) ++j;
    const absl::string_view word(t.data() + i, j - i);
    for (std::size_t l = 0; l < labels.size(); ++l) {
      if (word == labels[l]) return static_cast<int>(l);
    }
    i = j;
  }
  return -1;
}

int ParseGrade(absl::string_view answer) {
  const llm::Answer a = llm::StripReasoning(answer);
  const std::string& t = a.text;
  for (std::size_t i = 0; i < t.size(); ++i) {
    if (!IsDigit(t[i])) continue;
    const bool alone = (i == 0 || !IsDigit(t[i - 1])) && (i + 1 >= t.size() || !IsDigit(t[i + 1]));
    if (alone && t[i] <= '3') return t[i] - '0';
    while (i + 1 < t.size() && IsDigit(t[i + 1])) ++i;
  }
  return -1;
}

std::vector<std::pair<std::int64_t, std::int64_t>> SlidingWindows(std::int64_t n, int window, int step) {
  std::vector<std::pair<std::int64_t, std::int64_t>> out;
  if (n <= 1) return out;  // nothing to order
  if (window < 1) window = 1;
  if (step < 1) step = 1;
  std::int64_t end = n;
  std::int64_t begin = std::max<std::int64_t>(0, n - window);
  out.emplace_back(begin, end);
  while (begin > 0) {
    end -= step;
    begin = std::max<std::int64_t>(0, begin - step);
    out.emplace_back(begin, end);
  }
  return out;
}

// ---- counters -------------------------------------------------------------------------------

StageCounterSet::StageCounterSet(std::vector<std::string> names)
    : names_(std::move(names)), values_(new std::atomic<std::int64_t>[names_.size()]) {
  for (std::size_t i = 0; i < names_.size(); ++i) values_[i].store(0);
}

void StageCounterSet::Add(const std::string& name, std::int64_t n) {
  for (std::size_t i = 0; i < names_.size(); ++i) {
    if (names_[i] == name) {
      values_[i].fetch_add(n, std::memory_order_relaxed);
      return;
    }
  }
}

std::map<std::string, std::int64_t> StageCounterSet::Snapshot() const {
  std::map<std::string, std::int64_t> out;
  for (std::size_t i = 0; i < names_.size(); ++i) out[names_[i]] = values_[i].load(std::memory_order_relaxed);
  return out;
}

// ---- shared pieces --------------------------------------------------------------------------

namespace {

const std::vector<std::string>& Letters() {
  static const auto* letters = [] {
    auto* v = new std::vector<std::string>;
    for (char c = 'A'; c <= 'Z'; ++c) v->push_back(std::string(1, c));
    return v;
  }();
  return *letters;
}

// Checks the resources and the ids, and cuts each list to its first k.
absl::Status PrepareLists(const char* stage, const Corpus* corpus, const Generator* generator, std::int64_t k,
                          const QueryState& queries, BatchRanking& ranking) {
  if (corpus == nullptr) return MissingResource(stage, "a corpus", resource::kCorpus);
  if (generator == nullptr) return MissingResource(stage, "a generator (an LLM)", resource::kGenerator);
  if (queries.original_texts.size() != queries.size()) {
    return absl::FailedPreconditionError(absl::StrCat("stage '", stage, "' needs the query texts"));
  }
  for (std::size_t i = 0; i < ranking.lists.size(); ++i) {
    Ranking& list = ranking.lists[i];
    if (static_cast<std::int64_t>(list.size()) > k) list.resize(k);
    for (const ScoredDoc& doc : list) {
      if (doc.id < 0 || static_cast<std::size_t>(doc.id) >= corpus->size()) {
        return absl::OutOfRangeError(absl::StrCat("stage '", stage, "': query ", queries.query_ids[i],
                                                  ": document id ", doc.id, " is outside the corpus (",
                                                  corpus->size(), " documents)"));
      }
    }
  }
  return absl::OkStatus();
}

// Scores n - position: the order as it stands, with no ties.
void ScoreByPosition(Ranking& list) {
  const auto n = static_cast<float>(list.size());
  for (std::size_t p = 0; p < list.size(); ++p) list[p].score = n - static_cast<float>(p);
}

std::string PassageText(const Corpus& corpus, std::int64_t id, int max_words) {
  return llm::TruncateWords(corpus.FullText(static_cast<std::size_t>(id)), max_words);
}

// "[<label>] text\n" per document of `docs`.
std::string LabelledPassages(const Corpus& corpus, const ScoredDoc* docs, std::size_t m, int max_words,
                             bool letters, const char* prefix = "[", const char* suffix = "] ") {
  std::string out;
  for (std::size_t j = 0; j < m; ++j) {
    absl::StrAppend(&out, prefix, letters ? Letters()[j] : absl::StrCat(j + 1), suffix,
                    PassageText(corpus, docs[j].id, max_words), "\n");
  }
  return out;
}

const std::vector<std::string> kWindowPlaceholders = {"query", "num", "passages"};

absl::StatusOr<std::string> WindowPrompt(const std::string& tmpl, const std::string& query, std::size_t num,
                                         std::string passages, const char* stage) {
  return llm::FillTemplate(tmpl, {{"query", query}, {"num", absl::StrCat(num)}, {"passages", std::move(passages)}},
                           stage);
}

absl::Status CheckWindowConfig(const char* stage, int window, int step, const std::string& prompt) {
  if (step > window) {
    return absl::InvalidArgumentError(absl::StrCat("stage '", stage, "': step = ", step, " exceeds window = ", window,
                                                   " (passages between windows would never move)"));
  }
  return llm::CheckPrompt(prompt, kWindowPlaceholders, stage);
}

// The sliding windows of every query's list; round r holds each query's r-th window (windows of
// one query depend on each other, those of different queries do not).
struct WindowPlan {
  std::vector<std::vector<std::pair<std::int64_t, std::int64_t>>> windows;  // [query][round]
  std::size_t rounds = 0;
};

WindowPlan PlanWindows(const BatchRanking& ranking, int window, int step) {
  WindowPlan plan;
  plan.windows.resize(ranking.lists.size());
  for (std::size_t i = 0; i < ranking.lists.size(); ++i) {
    plan.windows[i] = SlidingWindows(static_cast<std::int64_t>(ranking.lists[i].size()), window, step);
    plan.rounds = std::max(plan.rounds, plan.windows[i].size());
  }
  return plan;
}

// The prompts of round r of `plan`: one per query with an r-th window (`owners`: those queries,
// in order), its passages labelled [1], [2], ... or, with `letters`, [A], [B], ...
struct RoundPrompts {
  std::vector<std::string> prompts;
  std::vector<std::size_t> owners;
};

absl::StatusOr<RoundPrompts> WindowPrompts(const std::string& tmpl, const Corpus& corpus, const QueryState& queries,
                                           const BatchRanking& ranking, const WindowPlan& plan, std::size_t r,
                                           int max_words, bool letters, const char* stage) {
  RoundPrompts out;
  for (std::size_t i = 0; i < ranking.lists.size(); ++i) {
    if (r >= plan.windows[i].size()) continue;
    const auto [b, e] = plan.windows[i][r];
    const std::size_t m = static_cast<std::size_t>(e - b);
    DENSEFB_ASSIGN_OR_RETURN(std::string p,
                             WindowPrompt(tmpl, queries.original_texts[i], m,
                                          LabelledPassages(corpus, ranking.lists[i].data() + b, m, max_words, letters),
                                          stage));
    out.prompts.push_back(std::move(p));
    out.owners.push_back(i);
  }
  return out;
}

// The window's documents in a new order: list[b + j] = old list[b + order[j]].
template <typename Order>
void Reorder(Ranking& list, std::int64_t b, const Order& order) {
  const Ranking old(list.begin() + b, list.begin() + b + static_cast<std::int64_t>(order.size()));
  for (std::size_t j = 0; j < order.size(); ++j) list[b + static_cast<std::int64_t>(j)] = old[order[j]];
}

}  // namespace

// ---- rerank_pointwise -----------------------------------------------------------------------

const ParamTable<PointwiseRerank::Config>& PointwiseRerank::Params() {
  static const auto* table = new ParamTable<Config>(
      ParamTable<Config>("rerank_pointwise")
          .Integer("k", &Config::k, 1, std::int64_t{1} << 24, "candidates re-ranked, the first k")
          .Text("mode", &Config::mode, {"yes_no", "grade"},
                "yes_no: P(Yes) from first-token log-probabilities; grade: the 0-3 label the model writes")
          .Integer("max_words", &Config::max_words, 1, 1 << 20, "passage words shown to the model")
          .Integer("max_tokens", &Config::max_tokens, 1, 1 << 20, "completion tokens at most (mode=grade)")
          .Text("prompt", &Config::prompt, {}, "prompt template with {query} and {passage}; empty = the default")
          .Check([](const Config& c) { return llm::CheckPrompt(c.prompt, {"query", "passage"}, "rerank_pointwise"); }));
  return *table;
}

std::string PointwiseRerank::DefaultPrompt(const std::string& mode) {
  if (mode == "grade") {
    return "Grade how relevant the passage is to the search query, on a scale from 0 to 3:\n"
           "3 = perfectly relevant: the passage is dedicated to the query and contains the exact answer;\n"
           "2 = highly relevant: the passage answers the query, but the answer is unclear or mixed with "
           "other information;\n"
           "1 = related: the passage is on the topic of the query but does not answer it;\n"
           "0 = irrelevant: the passage has nothing to do with the query.\n\n"
           "Query: {query}\nPassage: {passage}\n\nAnswer with the grade only (0, 1, 2 or 3).";
  }
  return "Passage: {passage}\nQuery: {query}\n"
         "Does the passage answer the query? Answer \"Yes\" or \"No\".";
}

absl::StatusOr<BatchRanking> PointwiseRerank::Rerank(QueryState& queries, BatchRanking ranking) const {
  static constexpr char kStage[] = "rerank_pointwise";
  DENSEFB_RETURN_IF_ERROR(Params().Validate(config_));
  DENSEFB_RETURN_IF_ERROR(PrepareLists(kStage, corpus_.get(), generator_.get(), config_.k, queries, ranking));
  const std::string tmpl = config_.prompt.empty() ? DefaultPrompt(config_.mode) : config_.prompt;
  std::vector<std::string> prompts;
  for (std::size_t i = 0; i < ranking.lists.size(); ++i) {
    for (const ScoredDoc& doc : ranking.lists[i]) {
      DENSEFB_ASSIGN_OR_RETURN(std::string p,
                               llm::FillTemplate(tmpl, {{"query", queries.original_texts[i]},
                                                        {"passage", PassageText(*corpus_, doc.id, config_.max_words)}},
                                                 kStage));
      prompts.push_back(std::move(p));
    }
  }
  if (prompts.empty()) return ranking;
  std::vector<double> grades(prompts.size(), 0.0);
  counters_.Add("calls", static_cast<std::int64_t>(prompts.size()));
  if (config_.mode == "yes_no") {
    GenerateOptions options;
    options.max_tokens = 1;
    auto lp = generator_->FirstTokenLogprobs(prompts, std::vector<std::string>{"Yes", "No"}, options);
    if (!lp.ok()) return llm::InStage(lp.status(), kStage);
    for (std::size_t j = 0; j < prompts.size(); ++j) {
      const double yes = (*lp)[j][0], no = (*lp)[j][1];
      if (std::isinf(yes) && std::isinf(no)) {
        counters_.Add("missing_logprobs");
        continue;
      }
      const double m = std::max(yes, no);
      const double ey = std::exp(yes - m), en = std::exp(no - m);
      grades[j] = ey / (ey + en);
    }
  } else {
    GenerateOptions options;
    options.max_tokens = config_.max_tokens;
    auto gens = generator_->Generate(prompts, options);
    if (!gens.ok()) return llm::InStage(gens.status(), kStage);
    for (std::size_t j = 0; j < prompts.size(); ++j) {
      const llm::Answer a = llm::StripReasoning((*gens)[j].text);
      if (a.reasoning) counters_.Add("reasoning");
      const int g = ParseGrade((*gens)[j].text);
      if (g < 0) {
        counters_.Add("unparseable");
      } else {
        grades[j] = g;
      }
    }
  }
  std::size_t offset = 0;
  for (Ranking& list : ranking.lists) {
    const double n = static_cast<double>(list.size());
    for (std::size_t p = 0; p < list.size(); ++p) {
      // grade: the earlier rank first among equal grades (a fraction below 0.5).
      const double tie = config_.mode == "grade" ? 0.5 * (n - static_cast<double>(p)) / (n + 1) : 0.0;
      list[p].score = static_cast<float>(grades[offset++] + tie);
    }
    std::stable_sort(list.begin(), list.end(), [](const ScoredDoc& a, const ScoredDoc& b) { return a.score > b.score; });
  }
  return ranking;
}

absl::StatusOr<std::vector<int>> GradePairs(const Generator& generator, const std::vector<std::string>& queries,
                                            const std::vector<std::string>& passages, const std::string& prompt,
                                            int max_words, int max_tokens, std::int64_t* unparseable) {
  if (queries.size() != passages.size()) {
    return absl::InvalidArgumentError(absl::StrCat("grade_pairs: ", queries.size(), " queries but ", passages.size(),
                                                   " passages; one query per passage"));
  }
  const std::string tmpl = prompt.empty() ? PointwiseRerank::DefaultPrompt("grade") : prompt;
  DENSEFB_RETURN_IF_ERROR(llm::CheckTemplate(tmpl, {"query", "passage"}, "judge"));
  std::vector<std::string> prompts;
  prompts.reserve(queries.size());
  for (std::size_t i = 0; i < queries.size(); ++i) {
    DENSEFB_ASSIGN_OR_RETURN(
        std::string p,
        llm::FillTemplate(tmpl, {{"query", queries[i]}, {"passage", llm::TruncateWords(passages[i], max_words)}},
                          "judge"));
    prompts.push_back(std::move(p));
  }
  std::vector<int> grades;
  if (prompts.empty()) return grades;
  GenerateOptions options;
  options.max_tokens = max_tokens;
  DENSEFB_ASSIGN_OR_RETURN(std::vector<Generation> gens, generator.Generate(prompts, options));
  std::int64_t bad = 0;
  for (const Generation& g : gens) {
    grades.push_back(ParseGrade(g.text));
    bad += grades.back() < 0 ? 1 : 0;
  }
  if (unparseable != nullptr) *unparseable = bad;
  return grades;
}

// ---- rerank_listwise ------------------------------------------------------------------------

const ParamTable<ListwiseRerank::Config>& ListwiseRerank::Params() {
  static const auto* table = new ParamTable<Config>(
      ParamTable<Config>("rerank_listwise")
          .Integer("k", &Config::k, 1, std::int64_t{1} << 24, "candidates re-ranked, the first k")
          .Integer("window", &Config::window, 2, 1000, "passages per window")
          .Integer("step", &Config::step, 1, 1000, "windows start this many places apart, from the bottom up")
          .Integer("max_words", &Config::max_words, 1, 1 << 20, "passage words shown to the model")
          .Integer("max_tokens", &Config::max_tokens, 1, 1 << 20, "completion tokens at most")
          .Text("prompt", &Config::prompt, {}, "prompt template with {query}, {num}, {passages}; empty = the default")
          .Check([](const Config& c) { return CheckWindowConfig("rerank_listwise", c.window, c.step, c.prompt); }));
  return *table;
}

std::string ListwiseRerank::DefaultPrompt() {
  return "I will give you {num} passages, each marked with a numerical identifier []. Rank them by their "
         "relevance to the search query: {query}.\n\n{passages}\nSearch query: {query}.\n"
         "Rank the {num} passages above by their relevance to the search query, most relevant first. "
         "List every passage by its identifier, in the format [] > [], e.g. [2] > [1]. "
         "Answer with the ranking only, without any explanation.";
}

absl::StatusOr<BatchRanking> ListwiseRerank::Rerank(QueryState& queries, BatchRanking ranking) const {
  static constexpr char kStage[] = "rerank_listwise";
  DENSEFB_RETURN_IF_ERROR(Params().Validate(config_));
  DENSEFB_RETURN_IF_ERROR(PrepareLists(kStage, corpus_.get(), generator_.get(), config_.k, queries, ranking));
  const std::string tmpl = config_.prompt.empty() ? DefaultPrompt() : config_.prompt;
  const WindowPlan plan = PlanWindows(ranking, config_.window, config_.step);
  GenerateOptions options;
  options.max_tokens = config_.max_tokens;
  for (std::size_t r = 0; r < plan.rounds; ++r) {
    DENSEFB_ASSIGN_OR_RETURN(RoundPrompts round, WindowPrompts(tmpl, *corpus_, queries, ranking, plan, r,
                                                               config_.max_words, /*letters=*/false, kStage));
    auto gens = generator_->Generate(round.prompts, options);
    if (!gens.ok()) return llm::InStage(gens.status(), kStage);
    counters_.Add("windows", static_cast<std::int64_t>(round.prompts.size()));
    for (std::size_t w = 0; w < round.owners.size(); ++w) {
      const std::size_t i = round.owners[w];
      const auto [b, e] = plan.windows[i][r];
      const int m = static_cast<int>(e - b);
      const std::string& text = (*gens)[w].text;
      if (llm::StripReasoning(text).reasoning) counters_.Add("reasoning");
      PermutationRepairs repairs;
      const std::vector<int> perm = ParsePermutation(text, m, &repairs);
      if (repairs.unparseable) counters_.Add("unparseable");
      if (repairs.duplicates > 0) counters_.Add("repaired_duplicates");
      if (repairs.missing > 0) counters_.Add("repaired_missing");
      if (repairs.out_of_range > 0) counters_.Add("repaired_out_of_range");
      Reorder(ranking.lists[i], b, perm);
    }
  }
  for (Ranking& list : ranking.lists) ScoreByPosition(list);
  return ranking;
}

// ---- rerank_first ---------------------------------------------------------------------------

const ParamTable<FirstRerank::Config>& FirstRerank::Params() {
  static const auto* table = new ParamTable<Config>(
      ParamTable<Config>("rerank_first")
          .Integer("k", &Config::k, 1, std::int64_t{1} << 24, "candidates re-ranked, the first k")
          .Integer("window", &Config::window, 2, 26, "passages per window (labels A-Z)")
          .Integer("step", &Config::step, 1, 26, "windows start this many places apart, from the bottom up")
          .Integer("max_words", &Config::max_words, 1, 1 << 20, "passage words shown to the model")
          .Text("prompt", &Config::prompt, {}, "prompt template with {query}, {num}, {passages}; empty = the default")
          .Check([](const Config& c) { return CheckWindowConfig("rerank_first", c.window, c.step, c.prompt); }));
  return *table;
}

std::string FirstRerank::DefaultPrompt() {
  return "I will give you {num} passages, each marked with an alphabetical identifier [A], [B], ... "
         "Rank them by their relevance to the search query: {query}.\n\n{passages}\nSearch query: {query}.\n"
         "Rank the {num} passages above by their relevance to the search query, most relevant first, in "
         "the format [] > [], e.g. [B] > [A]. Answer with the ranking only, without any explanation.";
}

absl::StatusOr<BatchRanking> FirstRerank::Rerank(QueryState& queries, BatchRanking ranking) const {
  static constexpr char kStage[] = "rerank_first";
  DENSEFB_RETURN_IF_ERROR(Params().Validate(config_));
  DENSEFB_RETURN_IF_ERROR(PrepareLists(kStage, corpus_.get(), generator_.get(), config_.k, queries, ranking));
  const std::string tmpl = config_.prompt.empty() ? DefaultPrompt() : config_.prompt;
  const WindowPlan plan = PlanWindows(ranking, config_.window, config_.step);
  GenerateOptions options;
  options.max_tokens = 1;
  for (std::size_t r = 0; r < plan.rounds; ++r) {
    DENSEFB_ASSIGN_OR_RETURN(RoundPrompts round, WindowPrompts(tmpl, *corpus_, queries, ranking, plan, r,
                                                               config_.max_words, /*letters=*/true, kStage));
    // Windows of equal size share one label set, so one call per size.
    std::map<std::size_t, std::pair<std::vector<std::string>, std::vector<std::size_t>>> by_size;
    for (std::size_t w = 0; w < round.owners.size(); ++w) {
      const std::size_t i = round.owners[w];
      const auto m = static_cast<std::size_t>(plan.windows[i][r].second - plan.windows[i][r].first);
      by_size[m].first.push_back(std::move(round.prompts[w]));
      by_size[m].second.push_back(i);
    }
    for (auto& [m, group] : by_size) {
      const std::vector<std::string> labels(Letters().begin(), Letters().begin() + static_cast<std::ptrdiff_t>(m));
      auto lp = generator_->FirstTokenLogprobs(group.first, labels, options);
      if (!lp.ok()) return llm::InStage(lp.status(), kStage);
      counters_.Add("windows", static_cast<std::int64_t>(group.first.size()));
      for (std::size_t w = 0; w < group.second.size(); ++w) {
        const std::size_t i = group.second[w];
        const std::int64_t b = plan.windows[i][r].first;
        const std::vector<double>& l = (*lp)[w];
        if (std::any_of(l.begin(), l.end(), [](double x) { return std::isinf(x) || std::isnan(x); })) {
          counters_.Add("missing_logprobs");
        }
        std::vector<int> order(m);
        std::iota(order.begin(), order.end(), 0);
        auto key = [&](int j) { return std::isnan(l[j]) ? -std::numeric_limits<double>::infinity() : l[j]; };
        std::stable_sort(order.begin(), order.end(), [&](int x, int y) { return key(x) > key(y); });
        Reorder(ranking.lists[i], b, order);
      }
    }
  }
  for (Ranking& list : ranking.lists) ScoreByPosition(list);
  return ranking;
}

// ---- rerank_setwise -------------------------------------------------------------------------

const ParamTable<SetwiseRerank::Config>& SetwiseRerank::Params() {
  static const auto* table = new ParamTable<Config>(
      ParamTable<Config>("rerank_setwise")
          .Integer("k", &Config::k, 1, std::int64_t{1} << 24, "candidates re-ranked, the first k")
          .Integer("set_size", &Config::set_size, 2, 26, "passages compared per call (labels A-Z)")
          .Integer("topn", &Config::topn, 1, 1 << 24, "places decided by the tournament; the rest keep their order")
          .Integer("max_words", &Config::max_words, 1, 1 << 20, "passage words shown to the model")
          .Integer("max_tokens", &Config::max_tokens, 1, 1 << 20, "completion tokens at most")
          .Text("prompt", &Config::prompt, {}, "prompt template with {query}, {num}, {passages}; empty = the default")
          .Check([](const Config& c) { return llm::CheckPrompt(c.prompt, kWindowPlaceholders, "rerank_setwise"); }));
  return *table;
}

std::string SetwiseRerank::DefaultPrompt() {
  return "Given the query \"{query}\", which of the following {num} passages is the most relevant to it?\n\n"
         "{passages}\nAnswer with the label of the most relevant passage only.";
}

namespace {

// A knockout tournament over the positions 0..n-1 of one list: node (L, j) holds the winner of
// its children (level 0: the positions j*s ... j*s+s-1; level L: the winners of nodes
// (L-1, j*s ...)); -1 when it has none left.
struct Tournament {
  std::int64_t n = 0;
  int s = 2;
  std::vector<std::vector<std::int64_t>> winner;  // [level][node]
  std::vector<bool> alive;

  void Init(std::int64_t size, int set_size) {
    n = size;
    s = set_size;
    alive.assign(static_cast<std::size_t>(n), true);
    std::int64_t nodes = n;
    do {
      nodes = (nodes + s - 1) / s;
      winner.emplace_back(static_cast<std::size_t>(nodes), -1);
    } while (nodes > 1);
  }
  // The candidates of node (L, j), best-ranked first (level 0) or in child order.
  std::vector<std::int64_t> Members(std::size_t level, std::int64_t j) const {
    std::vector<std::int64_t> out;
    const std::int64_t children = level == 0 ? n : static_cast<std::int64_t>(winner[level - 1].size());
    for (std::int64_t c = j * s; c < std::min(children, (j + 1) * s); ++c) {
      const std::int64_t m = level == 0 ? (alive[c] ? c : -1) : winner[level - 1][c];
      if (m >= 0) out.push_back(m);
    }
    return out;
  }
};

// One pending comparison: query i's node (level, node) over `members`.
struct Comparison {
  std::size_t query;
  std::size_t level;
  std::int64_t node;
  std::vector<std::int64_t> members;
};

}  // namespace

absl::StatusOr<BatchRanking> SetwiseRerank::Rerank(QueryState& queries, BatchRanking ranking) const {
  static constexpr char kStage[] = "rerank_setwise";
  DENSEFB_RETURN_IF_ERROR(Params().Validate(config_));
  DENSEFB_RETURN_IF_ERROR(PrepareLists(kStage, corpus_.get(), generator_.get(), config_.k, queries, ranking));
  const std::string tmpl = config_.prompt.empty() ? DefaultPrompt() : config_.prompt;
  const std::size_t nq = ranking.lists.size();
  std::vector<Tournament> t(nq);
  for (std::size_t i = 0; i < nq; ++i) t[i].Init(static_cast<std::int64_t>(ranking.lists[i].size()), config_.set_size);
  GenerateOptions options;
  options.max_tokens = config_.max_tokens;

  // Decides the nodes in `todo` (one batch of model calls for those with two or more members).
  auto decide = [&](const std::vector<Comparison>& todo) -> absl::Status {
    std::vector<std::string> prompts;
    std::vector<std::size_t> asked;
    for (std::size_t c = 0; c < todo.size(); ++c) {
      const Comparison& cmp = todo[c];
      Tournament& tt = t[cmp.query];
      if (cmp.members.size() < 2) {
        tt.winner[cmp.level][cmp.node] = cmp.members.empty() ? -1 : cmp.members[0];
        continue;
      }
      std::string passages;
      for (std::size_t j = 0; j < cmp.members.size(); ++j) {
        absl::StrAppend(&passages, "Passage ", Letters()[j], ": ",
                        PassageText(*corpus_, ranking.lists[cmp.query][cmp.members[j]].id, config_.max_words), "\n");
      }
      DENSEFB_ASSIGN_OR_RETURN(std::string p, WindowPrompt(tmpl, queries.original_texts[cmp.query],
                                                           cmp.members.size(), std::move(passages), kStage));
      prompts.push_back(std::move(p));
      asked.push_back(c);
    }
    if (prompts.empty()) return absl::OkStatus();
    auto gens = generator_->Generate(prompts, options);
    if (!gens.ok()) return llm::InStage(gens.status(), kStage);
    counters_.Add("comparisons", static_cast<std::int64_t>(prompts.size()));
    for (std::size_t a = 0; a < asked.size(); ++a) {
      const Comparison& cmp = todo[asked[a]];
      const std::string& text = (*gens)[a].text;
      if (llm::StripReasoning(text).reasoning) counters_.Add("reasoning");
      const std::vector<std::string> labels(Letters().begin(),
                                            Letters().begin() + static_cast<std::ptrdiff_t>(cmp.members.size()));
      int pick = ParseLabel(text, labels);
      if (pick < 0) {
        counters_.Add("unparseable");
        pick = static_cast<int>(std::min_element(cmp.members.begin(), cmp.members.end()) - cmp.members.begin());
      }
      t[cmp.query].winner[cmp.level][cmp.node] = cmp.members[pick];
    }
    return absl::OkStatus();
  };

  // The first tournament, level by level.
  std::size_t levels = 0;
  for (const Tournament& tt : t) levels = std::max(levels, tt.winner.size());
  for (std::size_t level = 0; level < levels; ++level) {
    std::vector<Comparison> todo;
    for (std::size_t i = 0; i < nq; ++i) {
      if (t[i].n == 0 || level >= t[i].winner.size()) continue;
      for (std::int64_t j = 0; j < static_cast<std::int64_t>(t[i].winner[level].size()); ++j) {
        todo.push_back({i, level, j, t[i].Members(level, j)});
      }
    }
    DENSEFB_RETURN_IF_ERROR(decide(todo));
  }
  // Each place: take the champion, replay its path without it.
  std::vector<Ranking> out(nq);
  const std::int64_t topn = config_.topn;
  for (std::int64_t place = 0; place < topn; ++place) {
    std::vector<std::int64_t> leaf(nq, -1);
    bool any = false;
    for (std::size_t i = 0; i < nq; ++i) {
      if (t[i].n == 0 || place >= t[i].n) continue;
      const std::int64_t champion = t[i].winner.back()[0];
      out[i].push_back(ranking.lists[i][champion]);
      t[i].alive[champion] = false;
      leaf[i] = champion;
      any = any || place + 1 < std::min(topn, t[i].n);
    }
    if (!any) break;
    for (std::size_t level = 0; level < levels; ++level) {
      std::vector<Comparison> todo;
      for (std::size_t i = 0; i < nq; ++i) {
        if (leaf[i] < 0 || level >= t[i].winner.size() || place + 1 >= std::min(topn, t[i].n)) continue;
        std::int64_t node = leaf[i];
        for (std::size_t l = 0; l <= level; ++l) node /= t[i].s;
        todo.push_back({i, level, node, t[i].Members(level, node)});
      }
      DENSEFB_RETURN_IF_ERROR(decide(todo));
    }
  }
  for (std::size_t i = 0; i < nq; ++i) {
    for (std::int64_t p = 0; p < t[i].n; ++p) {
      if (t[i].alive[p]) out[i].push_back(ranking.lists[i][p]);
    }
    ranking.lists[i] = std::move(out[i]);
    ScoreByPosition(ranking.lists[i]);
  }
  return ranking;
}

// ---- registration ---------------------------------------------------------------------------

namespace pipeline_internal {
namespace {

template <typename T>
StageInfo LlmInfo(const char* help) {
  StageInfo info;
  info.name = T::Params().stage();
  info.help = help;
  info.params = T::Params().Info();
  info.resources = {resource::kCorpus, resource::kGenerator};
  return info;
}

template <typename T>
RerankerFactory LlmFactory() {
  return [](StageArgs& args, const Resources& r) -> absl::StatusOr<std::shared_ptr<const Reranker>> {
    typename T::Config config;
    DENSEFB_RETURN_IF_ERROR(T::Params().Read(args, &config));
    return std::shared_ptr<const Reranker>(std::make_shared<T>(
        r.Get<Corpus>(resource::kCorpus), r.Get<Generator>(resource::kGenerator), std::move(config)));
  };
}

}  // namespace

void RegisterLlmRerankers() {
  (void)AddReranker(LlmInfo<PointwiseRerank>("LLM pointwise relevance of each of the first k candidates: P(Yes) "
                                             "from first-token log-probabilities, or a 0-3 grade"),
                    LlmFactory<PointwiseRerank>());
  (void)AddReranker(LlmInfo<ListwiseRerank>("LLM listwise sliding window (RankGPT/RankZephyr) over the first k "
                                            "candidates, bottom up; permutations parsed and repaired"),
                    LlmFactory<ListwiseRerank>());
  (void)AddReranker(LlmInfo<FirstRerank>("FIRST: each sliding window ordered by the first-token "
                                         "log-probabilities over its passage labels"),
                    LlmFactory<FirstRerank>());
  (void)AddReranker(LlmInfo<SetwiseRerank>("LLM setwise tournament: the best of small sets, for the top places"),
                    LlmFactory<SetwiseRerank>());
}

}  // namespace pipeline_internal
}  // namespace densefb
