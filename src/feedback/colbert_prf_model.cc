// ColbertPrfFeedback (include/densefb/multivector.h): ColBERT-PRF's query expansion as a
// feedback model over the token queries.
#include <memory>
#include <utility>
#include <vector>

#include "densefb/multivector.h"

namespace densefb {

std::vector<TokenQuery> TokenQueriesOf(const QueryState& state);  // src/retrieve/maxsim.cc

const ParamTable<ColbertPrfFeedback::Config>& ColbertPrfFeedback::Params() {
  static const auto* table = new ParamTable<Config>(
      ParamTable<Config>("colbert_prf")
          .Integer("fb_docs", &Config::fb_docs, 1, 1 << 20, "feedback documents, the top of the ranking")
          .Integer("k", &Config::clusters, 2, 1 << 20, "k-means clusters (pyterrier_colbert's k; > fb_embs)")
          .Integer("fb_embs", &Config::fb_embs, 1, 1 << 20, "expansion embeddings appended, by IDF")
          .Number("beta", &Config::beta, 0, 1e30, "weight of the expansion embeddings (times their IDF)")
          .Integer("seed", &Config::seed, 0, std::int64_t{9000000000000000}, "k-means seed")
          .Check([](const Config& c) -> absl::Status {
            const absl::Status s = c.Validate();
            if (s.ok()) return s;
            return absl::InvalidArgumentError(absl::StrCat("stage 'colbert_prf': ", s.message()));
          }));
  return *table;
}

ColbertPrfFeedback::ColbertPrfFeedback(std::shared_ptr<const TokenCollection> index,
                                       std::shared_ptr<const TokenEncoder> encoder,
                                       std::shared_ptr<const Corpus> corpus, Config config)
    : index_(std::move(index)), encoder_(std::move(encoder)), corpus_(std::move(corpus)), config_(config) {}

absl::Status ColbertPrfFeedback::Prepare(QueryState& queries) const {
  if (encoder_ == nullptr) return absl::OkStatus();
  return queries.EnsureTokenQueries(encoder_.get(), "colbert_prf");
}

absl::Status ColbertPrfFeedback::Refine(QueryState& queries, const BatchRanking& ranking) const {
  DENSEFB_RETURN_IF_ERROR(Params().Validate(config_));
  if (index_ == nullptr) return MissingResource("colbert_prf", "a multi-vector index", "multivector");
  DENSEFB_RETURN_IF_ERROR(queries.EnsureTokenQueries(encoder_.get(), "colbert_prf"));
  if (queries.size() == 0) return absl::OkStatus();
  DENSEFB_ASSIGN_OR_RETURN(ColbertPrf prf, ColbertPrf::Create(config_));
  DocumentTokenSource source;
  source.index = index_.get();
  source.encoder = encoder_.get();
  source.corpus = corpus_.get();
  source.encode_batch_size = queries.options.encode_batch_size;
  DENSEFB_ASSIGN_OR_RETURN(std::vector<TokenQuery> expanded,
                           prf.Expand(source, TokenQueriesOf(queries), ranking, queries.options.num_threads));
  for (std::size_t q = 0; q < queries.size(); ++q) {
    queries.token_queries[q] = std::move(expanded[q].vectors);
    queries.token_weights[q] = std::move(expanded[q].weights);
    if (queries.token_weights[q].empty()) {
      queries.token_weights[q].assign(static_cast<std::size_t>(queries.token_queries[q].rows()), 1.0f);
    }
  }
  return absl::OkStatus();
}

}  // namespace densefb
