// Composable retrieval pipelines: retrievers, feedback models, rerankers and fusion as stages
// that pass one batch of queries (a QueryState) from one to the next.
//
//   Pipeline p = *Pipeline::Parse("dense >> rocchio(alpha=0.4,beta=0.6,topk=5) >> dense");
//   Resources r;  r.encoder = &encoder;  r.dense_index = &index;  r.corpus = &corpus;
//   BatchRanking out = *p.Run(r, queries, PipelineOptions{});
//
// ---- Spec grammar (one grammar for C++, Python and the command line) ----------------------
//   pipeline := term ('>>' term)*
//   term     := stage | 'fuse' '(' method ',' pipeline (',' pipeline)+ ')' | '(' pipeline ')'
//   stage    := NAME [ '(' [ arg (',' arg)* ] ')' ]
//   method   := NAME [ '(' [ arg (',' arg)* ] ')' ]      (rrf, interpolate, combsum, combmnz,
//                                                          combmax, borda)
//   arg      := NAME '=' value
//   value    := number | NAME | quoted string | 'true' | 'false' | '[' [value (',' value)*] ']'
// NAME is [A-Za-z_][A-Za-z0-9_.-]*; a number is [+-]digits[.digits][e[+-]digits], finite;
// whitespace (ASCII space, tab, CR, LF) is ignored between tokens. The spec is UTF-8; outside
// quoted strings only ASCII is allowed. Errors are InvalidArgument with the 1-based column and
// what was expected there, e.g.
//   "pipeline spec column 14: expected ')' or ',' after argument, got '>>'".
// Columns count characters (Unicode code points), not bytes; a character that does not belong
// is named by its code point, e.g. "column 6: unexpected character U+00A0 (no-break space)".
// Nesting is limited to kMaxSpecNesting levels of pipelines (each '(' group and each 'fuse('
// opens one) and, separately, kMaxSpecNesting levels of nested lists; deeper is an error at
// the column of the bracket that opens the level too many. Parsing is linear in the spec's
// length; a spec accepted prints back (ToString) within the same limits.
// Pipeline::ToString() prints the canonical spec: every stage with every parameter, defaults
// included, no whitespace but " >> " between stages; Parse(p.ToString()) gives the same spec.
//
// ---- Data flow --------------------------------------------------------------------------
// Document ids are positions in the corpus (the ids the indexes were built with). A stage
// reads and replaces parts of the QueryState: retrievers (dense, bm25) replace the ranking;
// feedback stages (avg, rocchio, text_prf: the dense query vector; rm3: the weighted BM25
// query) read the current ranking and replace a query representation, which the next
// retriever uses; rerankers (rescore, rerank_cross, cut) re-order or cut the ranking.
// A fusion node runs each branch on a copy of the incoming state and fuses the branches'
// rankings. Query representations missing from the incoming state that a branch needs are
// computed once before the branches run (the original encoding), and the state after the node
// carries the incoming representations, never a branch's refined ones: in
//   fuse(interpolate,dense,bm25) >> avg(k=3) >> fuse(interpolate,dense,bm25)
// avg refines the original query vector from the fused ranking, and the second fusion's dense
// branch searches with the refined vector while its bm25 branch uses the query text.
//
// Thread safety: stages and pipelines are immutable after construction; Run is const and may be
// called from several threads at once (each call owns its QueryState). Results do not depend
// on PipelineOptions::num_threads.
#ifndef DENSEFB_PIPELINE_H_
#define DENSEFB_PIPELINE_H_

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
#include "densefb/ranking.h"
#include "densefb/status.h"
#include "densefb/types.h"

namespace densefb {

// The deepest nesting a spec may have, of pipelines ('(' groups and 'fuse(') and of lists.
inline constexpr int kMaxSpecNesting = 64;

class VectorIndex;
class MultiVectorIndex;  // include/densefb/multivector.h

// What the stages may use, all borrowed (the caller keeps them alive during Run). A stage that
// needs a missing one fails with FailedPrecondition naming it, e.g.
// "stage 'bm25' needs a BM25 index (resource 'bm25')".
struct Resources {
  const Corpus* corpus = nullptr;                   // "corpus": texts (text_prf, rerank_cross, ...)
  const Encoder* encoder = nullptr;                 // "encoder": query/document bi-encoder
  const VectorIndex* dense_index = nullptr;         // "dense_index": flat or HNSW
  const Bm25Index* bm25 = nullptr;                  // "bm25"
  const TokenEncoder* token_encoder = nullptr;      // "token_encoder": ColBERT-style encoder
  const MultiVectorIndex* multivector = nullptr;    // "multivector"
  const PairScorer* cross_encoder = nullptr;        // "cross_encoder"

  // The resource names the struct knows, in the order above.
  static const std::vector<std::string>& Names();
  // Whether the named resource is set (false for an unknown name).
  bool Has(absl::string_view name) const;
};

struct PipelineOptions {
  std::int64_t k = 1000;      // the final ranking is cut to k per query (0 = as produced)
  int num_threads = 0;        // threads of searches and scoring; 0 = all hardware threads
  int encode_batch_size = 32; // texts per encoder forward pass
  // Polled between stages and between encoder batches (may be empty); returning true stops the
  // run with a Cancelled status (the Python bindings use it for Ctrl-C).
  std::function<bool()> interrupted;
};

// One batch of queries flowing through the stages.
struct QueryState {
  std::vector<std::string> query_ids;
  std::vector<std::string> query_texts;

  // Dense query vectors (num_queries x dim). Empty (0 rows) until a stage needs them; then
  // encoded with Resources::encoder (EnsureQueryVectors) or supplied by the caller.
  // Replaced by feedback stages (avg, rocchio, text_prf).
  RowMatrix query_vectors;
  // Weighted BM25 queries, one per query. Empty until a stage needs them (then the analysed
  // query text, EnsureBm25Queries); replaced by rm3.
  std::vector<WeightedQuery> bm25_queries;
  // Multi-vector queries: one (tokens x dim) matrix per query and one weight per token
  // (1 for the encoded query tokens). Empty until needed (EnsureTokenQueries); colbert_prf
  // appends expansion embeddings with their weights.
  std::vector<RowMatrix> token_queries;
  std::vector<std::vector<float>> token_weights;

  // The current ranking, one list per query, best first (score descending, ties by smaller
  // id). Valid only when has_ranking.
  BatchRanking ranking;
  bool has_ranking = false;

  PipelineOptions options;

  std::size_t size() const { return query_ids.size(); }
  bool has_query_vectors() const {
    return query_vectors.rows() > 0 && static_cast<std::size_t>(query_vectors.rows()) == size();
  }

  // Builds the state of a batch (ids and texts of `queries`).
  static QueryState FromQueries(const Queries& queries, const PipelineOptions& options = {});

  // Encode / analyse lazily; `stage` names the stage asking, for error messages.
  absl::Status EnsureQueryVectors(const Resources& resources, absl::string_view stage);
  absl::Status EnsureBm25Queries(const Resources& resources, absl::string_view stage);
  absl::Status EnsureTokenQueries(const Resources& resources, absl::string_view stage);
  // Cancelled if options.interrupted says so.
  absl::Status CheckInterrupted() const;
  // Encoder options with `batch_size` whose progress callback polls options.interrupted.
  EncodeOptions MakeEncodeOptions(int batch_size) const;
  // FailedPrecondition "stage 'rocchio' needs a ranking from an earlier stage" if !has_ranking.
  absl::Status RequireRanking(absl::string_view stage) const;
  // Sets the ranking (and has_ranking).
  void SetRanking(BatchRanking r) {
    ranking = std::move(r);
    has_ranking = true;
  }
};

// FailedPrecondition naming the stage and the missing resource if `resources` lacks `name`.
absl::Status RequireResource(const Resources& resources, absl::string_view name,
                             absl::string_view stage);

class Stage {
 public:
  virtual ~Stage() = default;
  // Processes the whole batch at once. Const and thread-safe.
  virtual absl::Status Run(const Resources& resources, QueryState& state) const = 0;
  // Canonical spec with every parameter, defaults included; re-parsable, e.g.
  // "rocchio(alpha=0.9,beta=0.1,gamma=0.1,topk=3,bottomk=0,depth=0,normalize=false)".
  virtual std::string ToString() const = 0;
  // Resource names the stage may use (see Resources::Names()).
  virtual std::vector<std::string> Requires() const = 0;
  // True if the stage reads the current ranking (so it cannot come first).
  virtual bool NeedsRanking() const { return false; }

  // Depth planning. Pipeline::Run lets a retriever whose ranking the next stage reads only to
  // depth d, and which the stage after that replaces, retrieve only d deep: the first pass of
  // `dense >> avg(k=3) >> dense` searches 3 deep, not 1000. Results are the same, since the
  // retrievers that allow it give the same top d at any depth.
  //
  // How deep the stage reads the current ranking; -1 (default) = all of it, or unknown.
  virtual std::int64_t RankingDepthRead() const { return -1; }
  // True for retrievers: the stage sets a new ranking without reading the current one.
  virtual bool ReplacesRanking() const { return false; }
  // This retriever cut to `depth` results, where its top `depth` is then unchanged (an exact
  // index, BM25); null otherwise.
  virtual std::unique_ptr<Stage> Shallow(std::int64_t depth, const Resources& resources) const {
    (void)depth;
    (void)resources;
    return nullptr;
  }
};

// ---- parsed arguments and the stage registry -----------------------------------------------

// A parsed argument value.
struct SpecValue {
  enum class Kind : std::uint8_t { kNumber, kString, kBool, kList };
  Kind kind = Kind::kString;
  double number = 0;          // kNumber
  std::string text;           // kString (names and quoted strings); the source text otherwise
  bool boolean = false;       // kBool
  std::vector<SpecValue> list;  // kList
};

// The key=value arguments of one stage, with typed getters. Each getter marks its key as
// used; Finish() then rejects any key no getter asked for, listing the accepted ones. Errors
// are InvalidArgument naming the stage, the argument, the value and the expected type.
class StageArgs {
 public:
  StageArgs(std::string stage, std::vector<std::pair<std::string, SpecValue>> args);

  const std::string& stage() const { return stage_; }
  bool Has(absl::string_view key) const;

  absl::StatusOr<double> GetDouble(absl::string_view key, double default_value);
  // Integers must be whole numbers of magnitude at most 2^53 (e.g. "3", "3.0", "1e3"); a
  // larger one (1e30) is an error naming the argument, never a wrapped-around value.
  absl::StatusOr<std::int64_t> GetInt(absl::string_view key, std::int64_t default_value);
  absl::StatusOr<bool> GetBool(absl::string_view key, bool default_value);  // true/false/1/0
  absl::StatusOr<std::string> GetString(absl::string_view key, absl::string_view default_value);
  // A list of numbers, e.g. weights=[0.3,0.7]; a single number is a list of one. An empty
  // list is an error (leave the argument out for its default).
  absl::StatusOr<std::vector<double>> GetDoubleList(absl::string_view key,
                                                    std::vector<double> default_value);

  // The raw value of `key` (null if absent), for values of more than one type; marks it used.
  const SpecValue* Get(absl::string_view key) { return Find(key); }

  // InvalidArgument naming the first unknown key and listing the accepted (asked-for) keys.
  absl::Status Finish() const;

 private:
  const SpecValue* Find(absl::string_view key);
  std::string stage_;
  std::vector<std::pair<std::string, SpecValue>> args_;
  std::vector<std::string> accepted_;
};

using StageFactory = std::function<absl::StatusOr<std::unique_ptr<Stage>>(StageArgs& args)>;

// Adds a stage to the global registry (thread-safe). `help` is one line shown by
// RegisteredStages(). AlreadyExists if the name is taken; InvalidArgument for a bad name
// ("fuse" is reserved). Stages of the core library (dense, bm25, rm3, avg, rocchio, rescore,
// text_prf, rerank_cross, cut) are registered before the first use of the registry; modules
// compiled into the library register theirs from src/pipeline/registry.cc (static
// registration would be dropped by the linker from a static library).
absl::Status RegisterStage(const std::string& name, StageFactory factory, std::string help = "");

struct StageInfo {
  std::string name;
  std::string help;
};
// Every registered stage, sorted by name.
std::vector<StageInfo> RegisteredStages();

// Builds one stage from its name and arguments (InvalidArgument for an unknown name, listing
// the registered ones).
absl::StatusOr<std::unique_ptr<Stage>> MakeStage(const std::string& name, StageArgs& args);

// Number formatting used by canonical specs: the shortest form that reads back exactly
// (0.9 -> "0.9", 1000 -> "1000").
std::string SpecNumber(double x);

// ---- pipelines ----------------------------------------------------------------------------

class Pipeline {
 public:
  Pipeline() = default;
  explicit Pipeline(std::vector<std::shared_ptr<const Stage>> stages);

  // Parses and validates a spec: every stage known, arguments well typed, and a stage that
  // needs a ranking preceded by one that produces it. InvalidArgument otherwise.
  static absl::StatusOr<Pipeline> Parse(absl::string_view spec);
  // As Parse, without requiring a ranking before the stages that read one: for pieces that are
  // composed later (a lone "avg" is a valid fragment; running it alone fails at run time).
  static absl::StatusOr<Pipeline> ParseFragment(absl::string_view spec);

  // Canonical spec (see the grammar above).
  std::string ToString() const;
  // Union of the stages' resource names, sorted.
  std::vector<std::string> Requires() const;
  // The spec as Run runs it with `resources`: retrievers cut to the depth the next stage reads
  // (Stage::RankingDepthRead), e.g. "dense(k=3,ef_search=0) >> avg(k=3,...) >> dense(k=1000,...)".
  std::string Explain(const Resources& resources) const;
  const std::vector<std::shared_ptr<const Stage>>& stages() const { return stages_; }
  bool empty() const { return stages_.empty(); }

  // Runs every stage on `state` in order. A pipeline that ends without a ranking is
  // FailedPrecondition. The final ranking is cut to state.options.k.
  absl::Status Run(const Resources& resources, QueryState& state) const;
  // The same for a batch of queries; `query_vectors`, if not null, are used as the dense
  // query vectors (queries.size() x dim) instead of encoding the texts.
  absl::StatusOr<BatchRanking> Run(const Resources& resources, const Queries& queries,
                                   const PipelineOptions& options = {},
                                   const RowMatrix* query_vectors = nullptr) const;
  // As Run, converted to a Run with string ids: document names from resources.corpus, else
  // from resources.bm25's doc_names() (FailedPrecondition if neither is set). The run's name
  // is the canonical spec without spaces (a TREC run tag).
  absl::StatusOr<densefb::Run> Search(const Resources& resources, const Queries& queries,
                                      const PipelineOptions& options = {},
                                      const RowMatrix* query_vectors = nullptr) const;

 private:
  // Stage i as Run runs it: stages_[i], or a shallower copy held in `holder`.
  const Stage* Planned(std::size_t i, const Resources& resources, std::unique_ptr<Stage>& holder) const;

  std::vector<std::shared_ptr<const Stage>> stages_;
};

}  // namespace densefb

#endif  // DENSEFB_PIPELINE_H_
