// Generative feedback (FeedbackModel, densefb/feedback_model.h): an LLM (resource "generator",
// densefb/generator.h) writes text that refines each query.
//
//   query2doc   the query (repeated query_repeat times) plus one generated passage becomes the
//               query text; the next dense or bm25 stage encodes / analyses it.
//   hyde        HyDE: the mean of the encodings of n passages generated at temperature t
//               (documents side) and of the query (query side) becomes the query vector.
//   prompt_prf  PromptPRF: a feature (keywords, entities, a summary or an essay) generated from
//               each of the top-k feedback passages, independent of the query (so a passage's
//               feature is generated once and cached across queries), encoded on the documents
//               side and mixed into the query vector: q' = alpha q + beta mean(f_1..f_k).
//   llm_terms   expansion terms for BM25: the analysed query plus every analysed term of the
//               model's keyword list with weight term_weight per occurrence.
//
// Answers of reasoning models are read after their "<think>...</think>" block. Prompts of a
// batch go to the generator in one call. Counters: calls, reasoning, empty (answers with no
// text after the reasoning block; the query is left as it was).
#ifndef DENSEFB_LLM_FEEDBACK_H_
#define DENSEFB_LLM_FEEDBACK_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "densefb/bm25.h"
#include "densefb/data.h"
#include "densefb/encoder.h"
#include "densefb/feedback.h"
#include "densefb/feedback_model.h"
#include "densefb/generator.h"
#include "densefb/llm_rerankers.h"
#include "densefb/params.h"

namespace densefb {

// ---- the models' common part ----------------------------------------------------------------

// What the generative feedback models share: the generator, their configuration, their counters
// (calls, reasoning, empty), the spec they print (Derived::Params()) and a depth read of 0 (they
// read no ranking unless they say otherwise). Models that need more resources than the
// generator take them in their own constructor.
template <typename Derived, typename ConfigT>
class LlmFeedback : public FeedbackModel {
 public:
  using Config = ConfigT;

  LlmFeedback(std::shared_ptr<const Generator> generator, Config config = {})
      : generator_(std::move(generator)), config_(std::move(config)), counters_({"calls", "reasoning", "empty"}) {}

  std::string ToString() const override { return Derived::Params().Print(config_); }
  std::int64_t DepthRead() const override { return 0; }
  bool bound() const override { return generator_ != nullptr; }
  std::map<std::string, std::int64_t> Counters() const override { return counters_.Snapshot(); }

 protected:

  std::shared_ptr<const Generator> generator_;
  Config config_;
  mutable StageCounterSet counters_;
};

// ---- query2doc ------------------------------------------------------------------------------

struct Query2DocConfig {
  int query_repeat = 1;      // copies of the query before the passage (query2doc: 5 for BM25)
  std::string sep = "[SEP]"; // between the query and the passage (query2doc's dense setting)
  int max_tokens = 128;      // passage tokens at most (query2doc: 128)
  std::string prompt;        // template with {query}; empty = DefaultPrompt()
};

// Resources: "generator". The new text is "q q ... q sep passage" (single spaces; no sep when
// empty); the original text stays in QueryState::original_texts.
class Query2Doc final : public LlmFeedback<Query2Doc, Query2DocConfig> {
 public:
  static const ParamTable<Config>& Params();
  static std::string DefaultPrompt();

  using LlmFeedback::LlmFeedback;  // (generator, config = {})

  absl::Status Refine(QueryState& queries, const BatchRanking& ranking) const override;
};

// ---- hyde -----------------------------------------------------------------------------------

struct HydeConfig {
  int n = 8;                  // generated passages (HyDE: 8)
  double temperature = 0.7;   // sampling temperature (HyDE: 0.7)
  int max_tokens = 512;       // passage tokens at most (HyDE: 512)
  std::string prompt;         // template with {query}; empty = DefaultPrompt()
};

// q' = (E_q(query) + E_d(p_1) + ... + E_d(p_n)) / (n + 1), the passages generated as samples
// 0..n-1 of the same prompt (each its own cache entry). An empty passage is left out of the
// mean (counted as "empty"). Resources: "generator", "encoder".
class Hyde final : public LlmFeedback<Hyde, HydeConfig> {
 public:
  static const ParamTable<Config>& Params();
  static std::string DefaultPrompt();

  Hyde(std::shared_ptr<const Generator> generator, std::shared_ptr<const Encoder> encoder, Config config = {});

  absl::Status Refine(QueryState& queries, const BatchRanking& ranking) const override;
  bool bound() const override { return generator_ != nullptr && encoder_ != nullptr; }

 private:
  std::shared_ptr<const Encoder> encoder_;
};

// ---- prompt_prf -----------------------------------------------------------------------------

struct PromptPrfConfig {
  int k = 3;                          // feedback passages, the top of the ranking
  std::string feature = "keywords";   // keywords | entities | summary | essay
  double alpha = RocchioPrfConfig{}.alpha;  // weight of the query vector (rocchio's)
  double beta = RocchioPrfConfig{}.beta;    // weight of the mean feature vector (rocchio's)
  int max_words = 300;                // passage words shown to the model
  int max_tokens = 256;               // feature tokens at most
  std::string prompt;                 // template with {passage}; empty = DefaultPrompt(feature)
};

// Resources: "generator", "encoder", "corpus" (the passages' texts). The query vector is the
// current one (the encoder's encoding of the query text if none yet).
class PromptPrf final : public LlmFeedback<PromptPrf, PromptPrfConfig> {
 public:
  static const ParamTable<Config>& Params();
  static std::string DefaultPrompt(const std::string& feature);

  PromptPrf(std::shared_ptr<const Generator> generator, std::shared_ptr<const Encoder> encoder,
            std::shared_ptr<const Corpus> corpus, Config config = {});

  absl::Status Refine(QueryState& queries, const BatchRanking& ranking) const override;
  std::int64_t DepthRead() const override { return config_.k; }
  absl::Status Prepare(QueryState& queries) const override;
  bool bound() const override { return generator_ != nullptr && encoder_ != nullptr && corpus_ != nullptr; }

 private:
  std::shared_ptr<const Encoder> encoder_;
  std::shared_ptr<const Corpus> corpus_;
};

// ---- llm_terms ------------------------------------------------------------------------------

struct LlmTermsConfig {
  double term_weight = 0.5;  // weight of each generated term occurrence (the query's own: 1)
  int max_tokens = 64;       // keyword-list tokens at most
  std::string prompt;        // template with {query}; empty = DefaultPrompt()
};

// q' = AnalyzeQuery(query) + term_weight * AnalyzeQuery(keywords): the next bm25 stage searches
// with it. Resources: "generator", "bm25" (its analyzer).
class LlmTerms final : public LlmFeedback<LlmTerms, LlmTermsConfig> {
 public:
  static const ParamTable<Config>& Params();
  static std::string DefaultPrompt();

  LlmTerms(std::shared_ptr<const Generator> generator, std::shared_ptr<const Bm25Collection> bm25, Config config = {});

  absl::Status Refine(QueryState& queries, const BatchRanking& ranking) const override;
  absl::Status Prepare(QueryState& queries) const override;
  bool bound() const override { return generator_ != nullptr && bm25_ != nullptr; }

 private:
  std::shared_ptr<const Bm25Collection> bm25_;
};

}  // namespace densefb

#endif  // DENSEFB_LLM_FEEDBACK_H_
