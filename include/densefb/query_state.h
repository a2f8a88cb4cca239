// One batch of queries as it flows through a pipeline: ids, texts, and the query
// representations that retrievers search with and feedback models replace.
//
// A representation is computed when a stage first needs it (the dense retriever encodes the
// texts with its encoder; BM25 analyses them) and kept for the stages after it. A feedback model
// replaces one: a dense vector (avg, rocchio, text_prf), weighted terms (rm3), token embeddings
// (colbert_prf) or the text itself (ReplaceTexts, which drops the representations derived
// from the old text).
#ifndef DENSEFB_QUERY_STATE_H_
#define DENSEFB_QUERY_STATE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "densefb/bm25.h"
#include "densefb/data.h"
#include "densefb/encoder.h"
#include "densefb/filter.h"
#include "densefb/status.h"
#include "densefb/types.h"

namespace densefb {

struct PipelineOptions {
  std::int64_t k = 1000;      // the final ranking is cut to k per query (0 = as produced)
  int num_threads = 0;        // threads of searches and scoring; 0 = all hardware threads
  int encode_batch_size = 32; // texts per encoder forward pass
  // Polled between stages and between encoder batches (may be empty); returning true stops the
  // run with a Cancelled status (the Python bindings use it for Ctrl-C).
  std::function<bool()> interrupted;
  // Allowed documents per query of the batch (one row, or one per query; densefb/filter.h);
  // null = all. Every retriever searches within it, so feedback documents and the final
  // ranking hold allowed documents only; the pipeline also drops any disallowed document a
  // retriever or reranker returns (a user stage that ignores the filter).
  std::shared_ptr<const Filter> filter;
};

struct QueryState {
  std::vector<std::string> query_ids;
  // The current query texts (a feedback model may replace them) and the texts as given.
  std::vector<std::string> query_texts;
  std::vector<std::string> original_texts;

  // Dense query vectors (num_queries x dim); 0 rows until a stage needs them.
  RowMatrix query_vectors;
  // Weighted term queries, one per query; empty until a stage needs them.
  std::vector<WeightedQuery> bm25_queries;
  // Multi-vector queries: one (tokens x dim) matrix and one weight per token row per query.
  std::vector<RowMatrix> token_queries;
  std::vector<std::vector<float>> token_weights;

  PipelineOptions options;

  std::size_t size() const { return query_ids.size(); }
  bool has_query_vectors() const {
    return query_vectors.rows() > 0 && static_cast<std::size_t>(query_vectors.rows()) == size();
  }
  bool has_bm25_queries() const { return size() > 0 && bm25_queries.size() == size(); }
  bool has_token_queries() const {
    return size() > 0 && token_queries.size() == size() && token_weights.size() == size();
  }

  // The state of a batch (ids and texts of `queries`).
  static QueryState FromQueries(const Queries& queries, const PipelineOptions& options = {});

  // Compute a representation when it is missing; `stage` names the stage asking, for errors.
  // A null encoder or index is FailedPrecondition naming the resource it would come from.
  absl::Status EnsureQueryVectors(const Encoder* encoder, absl::string_view stage);
  absl::Status EnsureBm25Queries(const Bm25Collection* bm25, absl::string_view stage);
  absl::Status EnsureTokenQueries(const TokenEncoder* encoder, absl::string_view stage);
  // Replaces the texts (one per query) and drops the representations derived from the old ones.
  absl::Status ReplaceTexts(std::vector<std::string> texts);

  // Cancelled if options.interrupted says so.
  absl::Status CheckInterrupted() const;
  // Encoder options with `batch_size` whose progress callback polls options.interrupted.
  EncodeOptions MakeEncodeOptions(int batch_size) const;
  // InvalidArgument unless `dim` equals the query vectors' dimension.
  absl::Status CheckQueryDim(std::int64_t dim, absl::string_view stage) const;
};

}  // namespace densefb

#endif  // DENSEFB_QUERY_STATE_H_
