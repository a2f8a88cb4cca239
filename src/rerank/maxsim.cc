// MaxSimReranker (include/densefb/multivector.h): exact MaxSim over any ranking.
#include <memory>
#include <utility>
#include <vector>

#include "densefb/multivector.h"

namespace densefb {

std::vector<TokenQuery> TokenQueriesOf(const QueryState& state);  // src/retrieve/maxsim.cc

const ParamTable<MaxSimReranker::Config>& MaxSimReranker::Params() {
  static const auto* table = new ParamTable<Config>(ParamTable<Config>("rerank_maxsim").Integer(
      "depth", &Config::depth, 0, 1 << 30, "candidates re-scored, the top depth; 0 = all"));
  return *table;
}

MaxSimReranker::MaxSimReranker(std::shared_ptr<const TokenCollection> index,
                               std::shared_ptr<const TokenEncoder> encoder,
                               std::shared_ptr<const Corpus> corpus, Config config)
    : index_(std::move(index)), encoder_(std::move(encoder)), corpus_(std::move(corpus)), config_(config) {}

absl::Status MaxSimReranker::Prepare(QueryState& queries) const {
  if (encoder_ == nullptr) return absl::OkStatus();
  return queries.EnsureTokenQueries(encoder_.get(), "rerank_maxsim");
}

absl::StatusOr<BatchRanking> MaxSimReranker::Rerank(QueryState& queries, BatchRanking ranking) const {
  DENSEFB_RETURN_IF_ERROR(Params().Validate(config_));
  if (index_ == nullptr && (encoder_ == nullptr || corpus_ == nullptr)) {
    return absl::FailedPreconditionError(
        "stage 'rerank_maxsim' needs a multi-vector index (resource 'multivector') or a token encoder "
        "and the corpus texts (resources 'token_encoder' and 'corpus')");
  }
  DENSEFB_RETURN_IF_ERROR(queries.EnsureTokenQueries(encoder_.get(), "rerank_maxsim"));
  if (config_.depth > 0) {
    for (Ranking& l : ranking.lists) {
      if (static_cast<std::int64_t>(l.size()) > config_.depth) l.resize(config_.depth);
    }
  }
  DocumentTokenSource source;
  source.index = index_.get();
  source.encoder = encoder_.get();
  source.corpus = corpus_.get();
  source.encode_batch_size = queries.options.encode_batch_size;
  return MaxSimRerank(source, TokenQueriesOf(queries), ranking, 0, queries.options.num_threads);
}

}  // namespace densefb
