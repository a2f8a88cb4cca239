// Generative feedback (include/densefb/llm_feedback.h) and its registration.
#include "densefb/llm_feedback.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "densefb/pipeline.h"
#include "llm/text.h"
#include "pipeline/internal.h"

namespace densefb {
namespace {

// The answers to `prompts` (one batch), their text after any reasoning block; counts the calls,
// reasoning and empty answers. A generator error is returned naming `stage`.
absl::StatusOr<std::vector<std::string>> GenerateAnswers(const Generator& generator,
                                                         const std::vector<std::string>& prompts,
                                                         const GenerateOptions& options, StageCounterSet& counters,
                                                         const char* stage) {
  auto gens = generator.Generate(prompts, options);
  if (!gens.ok()) return llm::InStage(gens.status(), stage);
  std::vector<std::string> out;
  out.reserve(gens->size());
  counters.Add("calls", static_cast<std::int64_t>(gens->size()));
  for (const Generation& g : *gens) {
    llm::Answer a = llm::StripReasoning(g.text);
    if (a.reasoning) counters.Add("reasoning");
    if (a.text.empty()) counters.Add("empty");
    out.push_back(std::move(a.text));
  }
  return out;
}

// One prompt per query from a template with {query} (the original query text).
absl::StatusOr<std::vector<std::string>> QueryPrompts(const std::string& tmpl, const QueryState& queries,
                                                      const char* stage) {
  std::vector<std::string> prompts;
  prompts.reserve(queries.size());
  for (std::size_t i = 0; i < queries.size(); ++i) {
    const std::string& q = i < queries.original_texts.size() ? queries.original_texts[i] : queries.query_texts[i];
    DENSEFB_ASSIGN_OR_RETURN(std::string p, llm::FillTemplate(tmpl, {{"query", q}}, stage));
    prompts.push_back(std::move(p));
  }
  return prompts;
}

}  // namespace

// ---- query2doc ------------------------------------------------------------------------------

const ParamTable<Query2Doc::Config>& Query2Doc::Params() {
  static const auto* table = new ParamTable<Config>(
      ParamTable<Config>("query2doc")
          .Integer("query_repeat", &Config::query_repeat, 1, 100,
                   "copies of the query before the passage (query2doc: 1 with [SEP] for dense, 5 for BM25)")
          .Text("sep", &Config::sep, {}, "between the query and the passage; empty = a space")
          .Integer("max_tokens", &Config::max_tokens, 1, 1 << 20, "passage tokens at most")
          .Text("prompt", &Config::prompt, {}, "prompt template with {query}; empty = the default")
          .Check([](const Config& c) { return llm::CheckPrompt(c.prompt, {"query"}, "query2doc"); }));
  return *table;
}

std::string Query2Doc::DefaultPrompt() { return "Write a passage that answers the given query.\n\nQuery: {query}\nPassage:"; }

absl::Status Query2Doc::Refine(QueryState& queries, const BatchRanking&) const {
  static constexpr char kStage[] = "query2doc";
  DENSEFB_RETURN_IF_ERROR(Params().Validate(config_));
  if (generator_ == nullptr) return MissingResource(kStage, "a generator (an LLM)", resource::kGenerator);
  if (queries.size() == 0) return absl::OkStatus();
  DENSEFB_ASSIGN_OR_RETURN(std::vector<std::string> prompts,
                           QueryPrompts(config_.prompt.empty() ? DefaultPrompt() : config_.prompt, queries, kStage));
  GenerateOptions options;
  options.max_tokens = config_.max_tokens;
  DENSEFB_ASSIGN_OR_RETURN(const std::vector<std::string> passages,
                           GenerateAnswers(*generator_, prompts, options, counters_, kStage));
  std::vector<std::string> texts(queries.size());
  for (std::size_t i = 0; i < queries.size(); ++i) {
    std::string t;
    for (int r = 0; r < config_.query_repeat; ++r) absl::StrAppend(&t, r ? " " : "", queries.query_texts[i]);
    if (!passages[i].empty()) {
      absl::StrAppend(&t, " ", config_.sep.empty() ? "" : absl::StrCat(config_.sep, " "),
                      llm::TruncateWords(passages[i], 0));
    }
    texts[i] = std::move(t);
  }
  return queries.ReplaceTexts(std::move(texts));
}

// ---- hyde -----------------------------------------------------------------------------------

const ParamTable<Hyde::Config>& Hyde::Params() {
  static const auto* table = new ParamTable<Config>(
      ParamTable<Config>("hyde")
          .Integer("n", &Config::n, 1, 1000, "generated passages per query")
          .Number("temperature", &Config::temperature, 0, 2, "sampling temperature of the passages")
          .Integer("max_tokens", &Config::max_tokens, 1, 1 << 20, "passage tokens at most")
          .Text("prompt", &Config::prompt, {}, "prompt template with {query}; empty = the default")
          .Check([](const Config& c) { return llm::CheckPrompt(c.prompt, {"query"}, "hyde"); }));
  return *table;
}

std::string Hyde::DefaultPrompt() { return "Please write a passage to answer the question.\nQuestion: {query}\nPassage:"; }

Hyde::Hyde(std::shared_ptr<const Generator> generator, std::shared_ptr<const Encoder> encoder, Config config)
    : LlmFeedback(std::move(generator), std::move(config)), encoder_(std::move(encoder)) {}

absl::Status Hyde::Refine(QueryState& queries, const BatchRanking&) const {
  static constexpr char kStage[] = "hyde";
  DENSEFB_RETURN_IF_ERROR(Params().Validate(config_));
  if (generator_ == nullptr) return MissingResource(kStage, "a generator (an LLM)", resource::kGenerator);
  if (encoder_ == nullptr) return MissingResource(kStage, "a query encoder", resource::kEncoder);
  const std::size_t nq = queries.size();
  if (nq == 0) return absl::OkStatus();
  DENSEFB_ASSIGN_OR_RETURN(std::vector<std::string> prompts,
                           QueryPrompts(config_.prompt.empty() ? DefaultPrompt() : config_.prompt, queries, kStage));
  // Sample s of every query in one batch.
  std::vector<std::vector<std::string>> passages(nq);
  for (int s = 0; s < config_.n; ++s) {
    GenerateOptions options;
    options.max_tokens = config_.max_tokens;
    options.temperature = config_.temperature;
    options.sample = s;
    DENSEFB_ASSIGN_OR_RETURN(std::vector<std::string> answers,
                             GenerateAnswers(*generator_, prompts, options, counters_, kStage));
    for (std::size_t i = 0; i < nq; ++i) {
      if (!answers[i].empty()) passages[i].push_back(std::move(answers[i]));
    }
  }
  const int d = encoder_->Dimension();
  RowMatrix q(static_cast<std::int64_t>(nq), d);
  DENSEFB_RETURN_IF_ERROR(encoder_->EncodeQueries(queries.query_texts, MutableView(q),
                                                  queries.MakeEncodeOptions(queries.options.encode_batch_size)));
  std::vector<std::string> all;
  for (const auto& p : passages) all.insert(all.end(), p.begin(), p.end());
  RowMatrix docs(static_cast<std::int64_t>(all.size()), d);
  if (!all.empty()) {
    DENSEFB_RETURN_IF_ERROR(encoder_->EncodeDocuments(all, MutableView(docs),
                                                      queries.MakeEncodeOptions(queries.options.encode_batch_size)));
  }
  std::int64_t row = 0;
  for (std::size_t i = 0; i < nq; ++i) {
    Eigen::VectorXd sum = q.row(static_cast<std::int64_t>(i)).cast<double>().transpose();
    for (std::size_t j = 0; j < passages[i].size(); ++j) sum += docs.row(row++).cast<double>().transpose();
    q.row(static_cast<std::int64_t>(i)) = (sum / static_cast<double>(passages[i].size() + 1)).cast<float>().transpose();
  }
  queries.query_vectors = std::move(q);
  return absl::OkStatus();
}

// ---- prompt_prf -----------------------------------------------------------------------------

const ParamTable<PromptPrf::Config>& PromptPrf::Params() {
  static const auto* table = new ParamTable<Config>(
      ParamTable<Config>("prompt_prf")
          .Integer("k", &Config::k, 1, 1000, "feedback passages, the top of the ranking")
          .Text("feature", &Config::feature, {"keywords", "entities", "summary", "essay"},
                "what the model writes from each passage")
          .Number("alpha", &Config::alpha, 0, 1e6, "weight of the query vector")
          .Number("beta", &Config::beta, 0, 1e6, "weight of the mean feature vector")
          .Integer("max_words", &Config::max_words, 1, 1 << 20, "passage words shown to the model")
          .Integer("max_tokens", &Config::max_tokens, 1, 1 << 20, "feature tokens at most")
          .Text("prompt", &Config::prompt, {}, "prompt template with {passage}; empty = the feature's default")
          .Check([](const Config& c) { return llm::CheckPrompt(c.prompt, {"passage"}, "prompt_prf"); }));
  return *table;
}

std::string PromptPrf::DefaultPrompt(const std::string& feature) {
  if (feature == "entities") {
    return "List the named entities (people, organisations, places, products, scientific terms) of the "
           "passage below, as a comma-separated list.\n\nPassage: {passage}\nEntities:";
  }
  if (feature == "summary") {
    return "Summarise the passage below in a few sentences.\n\nPassage: {passage}\nSummary:";
  }
  if (feature == "essay") {
    return "Write a short essay on the topic of the passage below, explaining its main points.\n\n"
           "Passage: {passage}\nEssay:";
  }
  return "Think about what the passage below is about, then write its most important keywords as a "
         "comma-separated list.\n\nPassage: {passage}\nKeywords:";
}

PromptPrf::PromptPrf(std::shared_ptr<const Generator> generator, std::shared_ptr<const Encoder> encoder,
                     std::shared_ptr<const Corpus> corpus, Config config)
    : LlmFeedback(std::move(generator), std::move(config)), encoder_(std::move(encoder)), corpus_(std::move(corpus)) {}

absl::Status PromptPrf::Prepare(QueryState& queries) const {
  if (encoder_ == nullptr && !queries.has_query_vectors()) return absl::OkStatus();
  return queries.EnsureQueryVectors(encoder_.get(), "prompt_prf");
}

absl::Status PromptPrf::Refine(QueryState& queries, const BatchRanking& ranking) const {
  static constexpr char kStage[] = "prompt_prf";
  DENSEFB_RETURN_IF_ERROR(Params().Validate(config_));
  if (generator_ == nullptr) return MissingResource(kStage, "a generator (an LLM)", resource::kGenerator);
  if (encoder_ == nullptr) return MissingResource(kStage, "a query encoder", resource::kEncoder);
  if (corpus_ == nullptr) return MissingResource(kStage, "a corpus", resource::kCorpus);
  const std::size_t nq = queries.size();
  if (nq == 0) return absl::OkStatus();
  DENSEFB_RETURN_IF_ERROR(queries.EnsureQueryVectors(encoder_.get(), kStage));
  DENSEFB_RETURN_IF_ERROR(queries.CheckQueryDim(encoder_->Dimension(), kStage));
  // One feature per distinct feedback passage (features do not depend on the query).
  const std::string tmpl = config_.prompt.empty() ? DefaultPrompt(config_.feature) : config_.prompt;
  std::unordered_map<std::int64_t, std::size_t> slot;
  std::vector<std::string> prompts;
  for (std::size_t i = 0; i < nq; ++i) {
    const Ranking& list = ranking.lists[i];
    for (std::size_t j = 0; j < list.size() && static_cast<int>(j) < config_.k; ++j) {
      const std::int64_t id = list[j].id;
      if (id < 0 || static_cast<std::size_t>(id) >= corpus_->size()) {
        return absl::OutOfRangeError(absl::StrCat("stage 'prompt_prf': query ", queries.query_ids[i], ": document id ",
                                                  id, " is outside the corpus (", corpus_->size(), " documents)"));
      }
      if (slot.count(id) != 0) continue;
      DENSEFB_ASSIGN_OR_RETURN(
          std::string p,
          llm::FillTemplate(tmpl, {{"passage", llm::TruncateWords(corpus_->FullText(static_cast<std::size_t>(id)),
                                                                  config_.max_words)}},
                            kStage));
      slot.emplace(id, prompts.size());
      prompts.push_back(std::move(p));
    }
  }
  std::vector<std::string> features;
  if (!prompts.empty()) {
    GenerateOptions options;
    options.max_tokens = config_.max_tokens;
    DENSEFB_ASSIGN_OR_RETURN(features, GenerateAnswers(*generator_, prompts, options, counters_, kStage));
  }
  const int d = encoder_->Dimension();
  RowMatrix f(static_cast<std::int64_t>(features.size()), d);
  if (!features.empty()) {
    DENSEFB_RETURN_IF_ERROR(encoder_->EncodeDocuments(features, MutableView(f),
                                                      queries.MakeEncodeOptions(queries.options.encode_batch_size)));
  }
  for (std::size_t i = 0; i < nq; ++i) {
    const Ranking& list = ranking.lists[i];
    Eigen::VectorXd mean = Eigen::VectorXd::Zero(d);
    int used = 0;
    for (std::size_t j = 0; j < list.size() && static_cast<int>(j) < config_.k; ++j) {
      const std::size_t s = slot.at(list[j].id);
      if (features[s].empty()) continue;  // nothing written: no feature
      mean += f.row(static_cast<std::int64_t>(s)).cast<double>().transpose();
      ++used;
    }
    if (used == 0) continue;  // the query stays as it was
    const Eigen::VectorXd qv = queries.query_vectors.row(static_cast<std::int64_t>(i)).cast<double>().transpose();
    queries.query_vectors.row(static_cast<std::int64_t>(i)) =
        (config_.alpha * qv + config_.beta * mean / used).cast<float>().transpose();
  }
  return absl::OkStatus();
}

// ---- llm_terms ------------------------------------------------------------------------------

const ParamTable<LlmTerms::Config>& LlmTerms::Params() {
  static const auto* table = new ParamTable<Config>(
      ParamTable<Config>("llm_terms")
          .Number("term_weight", &Config::term_weight, 0, 1e6, "weight of each generated term occurrence")
          .Integer("max_tokens", &Config::max_tokens, 1, 1 << 20, "keyword-list tokens at most")
          .Text("prompt", &Config::prompt, {}, "prompt template with {query}; empty = the default")
          .Check([](const Config& c) { return llm::CheckPrompt(c.prompt, {"query"}, "llm_terms"); }));
  return *table;
}

std::string LlmTerms::DefaultPrompt() {
  return "Write a list of keywords, comma-separated, that a relevant document for the search query below "
         "would contain.\n\nQuery: {query}\nKeywords:";
}

LlmTerms::LlmTerms(std::shared_ptr<const Generator> generator, std::shared_ptr<const Bm25Collection> bm25, Config config)
    : LlmFeedback(std::move(generator), std::move(config)), bm25_(std::move(bm25)) {}

absl::Status LlmTerms::Prepare(QueryState& queries) const {
  return bm25_ == nullptr ? absl::OkStatus() : queries.EnsureBm25Queries(bm25_.get(), "llm_terms");
}

absl::Status LlmTerms::Refine(QueryState& queries, const BatchRanking&) const {
  static constexpr char kStage[] = "llm_terms";
  DENSEFB_RETURN_IF_ERROR(Params().Validate(config_));
  if (generator_ == nullptr) return MissingResource(kStage, "a generator (an LLM)", resource::kGenerator);
  if (bm25_ == nullptr) return MissingResource(kStage, "a BM25 index", resource::kBm25);
  if (queries.size() == 0) return absl::OkStatus();
  DENSEFB_RETURN_IF_ERROR(queries.EnsureBm25Queries(bm25_.get(), kStage));
  DENSEFB_ASSIGN_OR_RETURN(std::vector<std::string> prompts,
                           QueryPrompts(config_.prompt.empty() ? DefaultPrompt() : config_.prompt, queries, kStage));
  GenerateOptions options;
  options.max_tokens = config_.max_tokens;
  DENSEFB_ASSIGN_OR_RETURN(const std::vector<std::string> answers,
                           GenerateAnswers(*generator_, prompts, options, counters_, kStage));
  DENSEFB_ASSIGN_OR_RETURN(const std::vector<WeightedQuery> generated, bm25_->AnalyzeQueries(answers));
  if (generated.size() != queries.size()) {
    return absl::InternalError(absl::StrCat("the BM25 collection analysed ", generated.size(), " of ",
                                            queries.size(), " answers"));
  }
  for (std::size_t i = 0; i < queries.size(); ++i) {
    WeightedQuery& q = queries.bm25_queries[i];
    for (const auto& entry : generated[i]) {
      const std::string& term = entry.first;
      const float w = static_cast<float>(config_.term_weight) * entry.second;
      auto it = std::find_if(q.begin(), q.end(), [&term](const auto& e) { return e.first == term; });
      if (it != q.end()) {
        it->second += w;
      } else {
        q.emplace_back(term, w);
      }
    }
  }
  return absl::OkStatus();
}

// ---- registration ---------------------------------------------------------------------------

namespace pipeline_internal {
namespace {

template <typename T>
StageInfo FeedbackInfo(const char* help, std::vector<std::string> resources) {
  StageInfo info;
  info.name = T::Params().stage();
  info.help = help;
  info.params = T::Params().Info();
  info.resources = std::move(resources);
  return info;
}

template <typename T, typename Make>
FeedbackModelFactory MakeFactory(Make make) {
  return [make](StageArgs& args, const Resources& r) -> absl::StatusOr<std::shared_ptr<const FeedbackModel>> {
    typename T::Config config;
    DENSEFB_RETURN_IF_ERROR(T::Params().Read(args, &config));
    return std::shared_ptr<const FeedbackModel>(make(std::move(config), r));
  };
}

}  // namespace

void RegisterLlmFeedback() {
  namespace res = resource;
  (void)AddFeedbackModel(
      FeedbackInfo<Query2Doc>("query2doc: the query plus one generated passage becomes the query text "
                              "(the next dense or bm25 stage uses it)",
                              {res::kGenerator}),
      MakeFactory<Query2Doc>([](Query2Doc::Config c, const Resources& r) {
        return std::make_shared<Query2Doc>(r.Get<Generator>(res::kGenerator), std::move(c));
      }));
  (void)AddFeedbackModel(
      FeedbackInfo<Hyde>("HyDE: the mean of the encodings of n generated passages and of the query",
                         {res::kGenerator, res::kEncoder}),
      MakeFactory<Hyde>([](Hyde::Config c, const Resources& r) {
        return std::make_shared<Hyde>(r.Get<Generator>(res::kGenerator), r.Get<Encoder>(res::kEncoder), std::move(c));
      }));
  (void)AddFeedbackModel(
      FeedbackInfo<PromptPrf>("PromptPRF: features generated from the top-k passages, encoded, mixed into the "
                              "query vector with Rocchio weights",
                              {res::kGenerator, res::kEncoder, res::kCorpus}),
      MakeFactory<PromptPrf>([](PromptPrf::Config c, const Resources& r) {
        return std::make_shared<PromptPrf>(r.Get<Generator>(res::kGenerator), r.Get<Encoder>(res::kEncoder),
                                           r.Get<Corpus>(res::kCorpus), std::move(c));
      }));
  (void)AddFeedbackModel(
      FeedbackInfo<LlmTerms>("generated expansion terms added to the weighted BM25 query", {res::kGenerator, res::kBm25}),
      MakeFactory<LlmTerms>([](LlmTerms::Config c, const Resources& r) {
        return std::make_shared<LlmTerms>(r.Get<Generator>(res::kGenerator), r.GetAny<Bm25Collection, Bm25Index>(res::kBm25),
                                          std::move(c));
      }));
}

}  // namespace pipeline_internal
}  // namespace densefb
