// MaxSimRetriever (include/densefb/retrievers.h): end-to-end late-interaction retrieval.
#include <algorithm>
#include <memory>
#include <utility>
#include <vector>

#include "densefb/multivector.h"
#include "densefb/retrievers.h"

namespace densefb {

const ParamTable<MaxSimRetriever::Config>& MaxSimRetriever::Params() {
  static const auto* table = new ParamTable<Config>(
      ParamTable<Config>("maxsim")
          .Integer("k", &Config::k, 0, 1 << 30, "documents retrieved per query; 0 = every candidate")
          .Integer("token_k", &Config::token_k, 1, 1 << 20,
                   "nearest document tokens per query token (candidate generation)")
          .Integer("ef_search", &Config::ef_search, 0, 1 << 20,
                   "HNSW candidate list of the token index; 0 = its default"));
  return *table;
}

MaxSimRetriever::MaxSimRetriever(std::shared_ptr<const TokenCollection> index,
                                 std::shared_ptr<const TokenEncoder> encoder, Config config)
    : index_(std::move(index)), encoder_(std::move(encoder)), config_(config) {}

absl::Status MaxSimRetriever::Prepare(QueryState& queries) const {
  if (index_ == nullptr || encoder_ == nullptr) return absl::OkStatus();
  return queries.EnsureTokenQueries(encoder_.get(), "maxsim");
}

std::vector<TokenQuery> TokenQueriesOf(const QueryState& state) {
  std::vector<TokenQuery> out(state.size());
  for (std::size_t q = 0; q < state.size(); ++q) {
    out[q].vectors = state.token_queries[q];
    out[q].weights = state.token_weights[q];
  }
  return out;
}

absl::StatusOr<BatchRanking> MaxSimRetriever::Retrieve(QueryState& queries) const {
  DENSEFB_RETURN_IF_ERROR(Params().Validate(config_));
  if (index_ == nullptr) return MissingResource("maxsim", "a multi-vector index", "multivector");
  DENSEFB_RETURN_IF_ERROR(queries.EnsureTokenQueries(encoder_.get(), "maxsim"));
  if (queries.size() == 0) return BatchRanking{};
  MultiVectorSearchOptions o;
  o.k = static_cast<int>(config_.k > 0 ? std::min<std::int64_t>(config_.k, index_->size())
                                        : std::max<std::int64_t>(index_->size(), 1));
  o.token_k = config_.token_k;
  o.ef_search = config_.ef_search;
  o.num_threads = queries.options.num_threads;
  o.filter = queries.options.filter.get();
  return MaxSimSearch(*index_, TokenQueriesOf(queries), o);
}

}  // namespace densefb
