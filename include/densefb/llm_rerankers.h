// LLM rerankers (Reranker, densefb/reranker.h). Each reads the first k candidates of the
// ranking, asks the generator (resource "generator", densefb/generator.h) about them, and keeps
// those k in the new order; documents after the first k are dropped, as rerank_cross does.
//
//   rerank_pointwise  one prompt per (query, passage): a relevance grade from the first-token
//                     log-probabilities of "Yes"/"No" (mode=yes_no), or a 0-3 label the model
//                     writes (mode=grade).
//   rerank_listwise   RankGPT / RankZephyr sliding window: windows of `window` passages from the
//                     bottom of the list up, `step` apart; the model writes a permutation
//                     ("[3] > [1] > [2]") that is parsed robustly (ParsePermutation below).
//   rerank_first      FIRST: the same windows, but each window's order is read off the
//                     first-token log-probabilities over the passage labels A, B, C, ...: one
//                     decoding step per window.
//   rerank_setwise    Setwise: a knockout tournament over sets of `set_size` passages (the model
//                     names the best of each set); the winner goes first, the tournament is
//                     replayed along the winner's path for each of the top `topn` places; the
//                     other candidates keep their order after them.
//
// Reasoning models (Rank-R1, ERank, DeepSeek-R1 style) are read after their "<think>...
// </think>" block; an unterminated block is an unparseable answer.
//
// Scores of the new ranking: n - position (n the candidates kept), except rerank_pointwise, whose
// score is the grade (ties by the earlier rank). Prompts of one step are sent to the generator in
// one batch across all queries (the HTTP client runs them concurrently). Every window, call and
// repair is counted (Counters()).
#ifndef DENSEFB_LLM_RERANKERS_H_
#define DENSEFB_LLM_RERANKERS_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "densefb/data.h"
#include "densefb/generator.h"
#include "densefb/params.h"
#include "densefb/reranker.h"

namespace densefb {

// ---- permutation parsing --------------------------------------------------------------------

// What ParsePermutation repaired in a model's answer.
struct PermutationRepairs {
  bool unparseable = false;     // no usable id: the window keeps its order
  std::int64_t duplicates = 0;  // ids written again (dropped)
  std::int64_t out_of_range = 0;  // ids outside [1, n] (dropped)
  std::int64_t missing = 0;     // ids never written (appended in their original order)
};

// The permutation of 0..n-1 a model wrote for a window of n passages labelled [1]..[n]: the
// bracketed numbers "[i]" of `answer` in order if there are any, else every number in it;
// duplicates and out-of-range ids are dropped, missing ids appended in their original order, and
// an answer with no usable id keeps the identity order. `answer` is read after any reasoning
// block. Never fails; total for any input.
std::vector<int> ParsePermutation(absl::string_view answer, int n, PermutationRepairs* repairs = nullptr);

// The label index (0-based) a model named among `labels` in `answer` (after any reasoning block):
// the first whole word of the answer equal to a label, also as "[A]", "A." or "Passage A"; -1 if
// none.
int ParseLabel(absl::string_view answer, const std::vector<std::string>& labels);

// The 0-3 relevance grade in `answer` (after any reasoning block): its first digit 0-3 standing
// alone; -1 if none.
int ParseGrade(absl::string_view answer);

// The 0-3 relevance grade the generator gives each (query, passage) pair, with the prompt of
// rerank_pointwise(mode=grade) (PointwiseRerank::DefaultPrompt("grade"), UMBRELA's scale) or
// `prompt` ({query}, {passage}); passages are cut to max_words words. All pairs go to the
// generator in one batch. An answer without a grade gives -1 (counted in *unparseable).
// This is `densefb judge`'s model call.
absl::StatusOr<std::vector<int>> GradePairs(const Generator& generator, const std::vector<std::string>& queries,
                                            const std::vector<std::string>& passages, const std::string& prompt = "",
                                            int max_words = 300, int max_tokens = 16,
                                            std::int64_t* unparseable = nullptr);

// ---- shared counters ------------------------------------------------------------------------

// Thread-safe named counters for Counters().
class StageCounterSet {
 public:
  explicit StageCounterSet(std::vector<std::string> names);
  void Add(const std::string& name, std::int64_t n = 1);
  std::map<std::string, std::int64_t> Snapshot() const;

 private:
  std::vector<std::string> names_;
  std::unique_ptr<std::atomic<std::int64_t>[]> values_;
};

// ---- the rerankers' common part -------------------------------------------------------------

// What the LLM rerankers share: the constructor, the corpus and the generator they read, their
// configuration, their counters (named by Derived::CounterNames()), and the spec they print
// (Derived::Params()).
template <typename Derived, typename ConfigT>
class LlmReranker : public Reranker {
 public:
  using Config = ConfigT;

  LlmReranker(std::shared_ptr<const Corpus> corpus, std::shared_ptr<const Generator> generator, Config config = {})
      : corpus_(std::move(corpus)),
        generator_(std::move(generator)),
        config_(std::move(config)),
        counters_(Derived::CounterNames()) {}

  std::string ToString() const override { return Derived::Params().Print(config_); }
  bool bound() const override { return corpus_ != nullptr && generator_ != nullptr; }
  std::map<std::string, std::int64_t> Counters() const override { return counters_.Snapshot(); }

 protected:
  std::shared_ptr<const Corpus> corpus_;
  std::shared_ptr<const Generator> generator_;
  Config config_;
  mutable StageCounterSet counters_;
};

// ---- rerank_pointwise -----------------------------------------------------------------------

struct PointwiseRerankConfig {
  std::int64_t k = 100;        // candidates re-ranked
  std::string mode = "yes_no";  // yes_no | grade
  int max_words = 300;         // passage words shown to the model
  int max_tokens = 16;         // completion tokens at most (mode=grade; reasoning models need more)
  std::string prompt;          // template; empty = the mode's default (DefaultPrompt)
};

// Pointwise relevance. yes_no: score = P(Yes) / (P(Yes) + P(No)) from the first-token
// log-probabilities (a pair with neither gets 0, counted as "missing_logprobs"). grade: the 0-3
// label the model writes; an answer with none counts as "unparseable" and gets 0. Placeholders:
// {query}, {passage}.
class PointwiseRerank final : public LlmReranker<PointwiseRerank, PointwiseRerankConfig> {
 public:
  static const ParamTable<Config>& Params();
  static std::string DefaultPrompt(const std::string& mode);

  using LlmReranker::LlmReranker;  // (corpus, generator, config = {})
  static std::vector<std::string> CounterNames() { return {"calls", "reasoning", "unparseable", "missing_logprobs"}; }

  absl::StatusOr<BatchRanking> Rerank(QueryState& queries, BatchRanking ranking) const override;
};

// ---- rerank_listwise and rerank_first -------------------------------------------------------

struct ListwiseRerankConfig {
  std::int64_t k = 100;   // candidates re-ranked
  int window = 20;        // passages per window
  int step = 10;          // windows start this many places apart, from the bottom up
  int max_words = 300;    // passage words shown to the model
  int max_tokens = 300;   // completion tokens at most (reasoning models need more)
  std::string prompt;     // template; empty = DefaultPrompt()
};

// The windows [begin, end) a sliding window of `window` passages, `step` apart, covers on a list
// of n, in the order they are ranked: from the bottom (n - window) up to the top (0). One window
// if n <= window; none if n <= 1 (nothing to order).
std::vector<std::pair<std::int64_t, std::int64_t>> SlidingWindows(std::int64_t n, int window, int step);

// RankGPT / RankZephyr listwise reranking; the model writes a permutation of the window's
// labels [1]..[m]. Counters: windows, reasoning (answers with a <think> block), unparseable,
// repaired_duplicates, repaired_missing, repaired_out_of_range (windows with that repair).
// Placeholders: {query}, {num}, {passages} ("[1] text\n[2] text\n...").
class ListwiseRerank final : public LlmReranker<ListwiseRerank, ListwiseRerankConfig> {
 public:
  static const ParamTable<Config>& Params();
  static std::string DefaultPrompt();

  using LlmReranker::LlmReranker;  // (corpus, generator, config = {})
  static std::vector<std::string> CounterNames() {
    return {"windows", "reasoning", "unparseable", "repaired_duplicates", "repaired_missing",
            "repaired_out_of_range"};
  }

  absl::StatusOr<BatchRanking> Rerank(QueryState& queries, BatchRanking ranking) const override;
};

struct FirstRerankConfig {
  std::int64_t k = 100;   // candidates re-ranked
  int window = 20;        // passages per window (at most 26: labels A-Z)
  int step = 10;          // windows start this many places apart, from the bottom up
  int max_words = 300;    // passage words shown to the model
  std::string prompt;     // template; empty = DefaultPrompt()
};

// FIRST: each window's order from the first-token log-probabilities over its labels A, B, ...
// (descending; ties and labels without a log-probability keep their order, after the others).
// Counters: windows, missing_logprobs (windows where some label had none). Placeholders:
// {query}, {num}, {passages} ("[A] text\n[B] text\n...").
class FirstRerank final : public LlmReranker<FirstRerank, FirstRerankConfig> {
 public:
  static const ParamTable<Config>& Params();
  static std::string DefaultPrompt();

  using LlmReranker::LlmReranker;  // (corpus, generator, config = {})
  static std::vector<std::string> CounterNames() { return {"windows", "missing_logprobs"}; }

  absl::StatusOr<BatchRanking> Rerank(QueryState& queries, BatchRanking ranking) const override;
};

// ---- rerank_setwise -------------------------------------------------------------------------

struct SetwiseRerankConfig {
  std::int64_t k = 100;   // candidates re-ranked
  int set_size = 4;       // passages compared per call (labels A, B, ...; at most 26)
  int topn = 10;          // places decided by the tournament; the rest keep their order
  int max_words = 300;    // passage words shown to the model
  int max_tokens = 16;    // completion tokens at most (reasoning models need more)
  std::string prompt;     // template; empty = DefaultPrompt()
};

// Setwise tournament. Counters: comparisons (model calls), reasoning, unparseable (answers that
// name no label of the set: its best-ranked passage wins). Placeholders: {query}, {num},
// {passages} ("Passage A: text\n...").
class SetwiseRerank final : public LlmReranker<SetwiseRerank, SetwiseRerankConfig> {
 public:
  static const ParamTable<Config>& Params();
  static std::string DefaultPrompt();

  using LlmReranker::LlmReranker;  // (corpus, generator, config = {})
  static std::vector<std::string> CounterNames() { return {"comparisons", "reasoning", "unparseable"}; }

  absl::StatusOr<BatchRanking> Rerank(QueryState& queries, BatchRanking ranking) const override;
};

}  // namespace densefb

#endif  // DENSEFB_LLM_RERANKERS_H_
