// Composable retrieval pipelines over the four roles: Retriever (densefb/retriever.h),
// FeedbackModel (densefb/feedback_model.h), Reranker (densefb/reranker.h) and Fusion
// (densefb/fusion_method.h). A pipeline is built from objects, or from a spec that builds the
// same objects from the registry (open to user types of all four roles):
//
//   auto dense = std::make_shared<DenseRetriever>(index, encoder);
//   auto rocchio = std::make_shared<RocchioPrf>(index, RocchioPrf::Config{0.4, 0.6, 0.1, 5});
//   Pipeline p = dense >> rocchio >> dense;
//
//   Resources r;  r.Set<VectorIndex>("dense_index", index).Set<Encoder>("encoder", encoder);
//   Pipeline q = *Pipeline::Parse("dense >> rocchio(alpha=0.4,beta=0.6,topk=5) >> dense", r);
//   // p.ToString() == q.ToString(); both give the same ranking:
//   BatchRanking out = *q.Run(queries, PipelineOptions{});
//
// ---- Spec grammar (one grammar for C++, Python and the command line) ----------------------
//   pipeline := term ('>>' term)*
//   term     := stage | 'fuse' '(' method ',' pipeline (',' pipeline)+ ')' | '(' pipeline ')'
//   stage    := NAME [ '(' [ arg (',' arg)* ] ')' ]
//   method   := NAME [ '(' [ arg (',' arg)* ] ')' ]      (a registered Fusion: rrf, interpolate,
//                                                          combsum, combmnz, combmax, borda, ...)
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
// Document ids are positions in the corpus (the ids the indexes were built with). A retriever
// replaces the ranking; a feedback model reads it and replaces a query representation in the
// QueryState (densefb/query_state.h), which the next retriever or reranker uses; a reranker
// re-scores or cuts it. A fusion node runs each branch on a copy of the incoming state and
// fuses the branches' rankings. Query representations missing from the incoming state that a
// branch's stages use are computed once before the branches run (Prepare: the original
// encoding), and the state after the node carries the incoming representations, never a
// branch's refined ones: in
//   fuse(interpolate,dense,bm25) >> avg(k=3) >> fuse(interpolate,dense,bm25)
// avg refines the original query vector from the fused ranking, and the second fusion's dense
// branch searches with the refined vector while its bm25 branch uses the query text.
//
// Depth planning: a retriever whose ranking the next stage reads only to depth d
// (FeedbackModel::DepthRead), and which the stage after that replaces, is asked for a copy
// that retrieves d deep (Retriever::WithDepth); `dense >> avg(k=3) >> dense` then searches 3
// deep first over an exact index. Results are the same.
//
// Thread safety: stages and pipelines are immutable after construction; Run is const and may be
// called from several threads at once (each call owns its QueryState). Results do not depend
// on PipelineOptions::num_threads. Stages report errors as absl::Status; the pipeline prefixes
// the stage's spec.
#ifndef DENSEFB_PIPELINE_H_
#define DENSEFB_PIPELINE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "densefb/data.h"
#include "densefb/feedback_model.h"
#include "densefb/fusion_method.h"
#include "densefb/params.h"
#include "densefb/query_state.h"
#include "densefb/ranking.h"
#include "densefb/reranker.h"
#include "densefb/resources.h"
#include "densefb/retriever.h"
#include "densefb/status.h"

namespace densefb {

// The deepest nesting a spec may have, of pipelines ('(' groups and 'fuse(') and of lists.
inline constexpr int kMaxSpecNesting = 64;

enum class StageRole : std::uint8_t { kRetriever, kFeedbackModel, kReranker, kFusion };
absl::string_view StageRoleName(StageRole role);  // "retriever", "feedback", "reranker", "fusion"

// ---- the registry: names in specs -> factories -----------------------------------------------
// Retrievers, feedback models and rerankers share one name space (stage names); fusion methods
// have their own (the first argument of fuse(...)). A factory reads its arguments from
// StageArgs (unknown keys are refused after it returns) and the objects it uses from Resources;
// one missing there gives an unbound stage (see Retriever::bound), which fails when run.

using RetrieverFactory =
    std::function<absl::StatusOr<std::shared_ptr<const Retriever>>(StageArgs&, const Resources&)>;
using FeedbackModelFactory =
    std::function<absl::StatusOr<std::shared_ptr<const FeedbackModel>>(StageArgs&, const Resources&)>;
using RerankerFactory =
    std::function<absl::StatusOr<std::shared_ptr<const Reranker>>(StageArgs&, const Resources&)>;
// `num_inputs` is the number of fused pipelines.
using FusionFactory =
    std::function<absl::StatusOr<std::shared_ptr<const Fusion>>(StageArgs&, std::size_t num_inputs)>;

// What `densefb stages` and Python's pipeline_stages() show of a registered name.
struct StageInfo {
  std::string name;
  StageRole role = StageRole::kRetriever;
  std::string help;                  // one line
  std::vector<ParamInfo> params;     // may be empty (a factory that reads StageArgs itself)
  std::vector<std::string> resources;  // resource names the factory reads
};

// Registration (thread-safe). AlreadyExists if the name is taken in its name space;
// InvalidArgument for a name that is not [A-Za-z_][A-Za-z0-9_.-]* or is reserved ("fuse",
// "true", "false"). The built-ins are registered before the registry is first used.
absl::Status RegisterRetriever(StageInfo info, RetrieverFactory factory);
absl::Status RegisterFeedbackModel(StageInfo info, FeedbackModelFactory factory);
absl::Status RegisterReranker(StageInfo info, RerankerFactory factory);
absl::Status RegisterFusion(StageInfo info, FusionFactory factory);
// Removes a registration (for tests and for Python modules that re-register); NotFound if the
// name is not registered in that role's name space.
absl::Status Unregister(StageRole role, const std::string& name);

// Every registered name of all four roles, sorted by name (fusion methods after the stages).
std::vector<StageInfo> RegisteredStages();

// The registered fusion method that `method` names with its arguments, as in a spec's
// fuse(METHOD, ...), e.g. "rrf(k=60)" or "interpolate(weights=[0.3,0.7])", built for
// `num_inputs` inputs. InvalidArgument with the column for a malformed or unknown method.
absl::StatusOr<std::shared_ptr<const Fusion>> ParseFusion(absl::string_view method,
                                                          std::size_t num_inputs);

// ---- pipelines ----------------------------------------------------------------------------

class Pipeline;

// One step of a pipeline: a stage of one of the three sequential roles, or a fusion node.
struct PipelineStep {
  StageRole role = StageRole::kRetriever;
  std::shared_ptr<const Retriever> retriever;  // kRetriever
  std::shared_ptr<const FeedbackModel> feedback;  // kFeedbackModel
  std::shared_ptr<const Reranker> reranker;  // kReranker
  std::shared_ptr<const Fusion> fusion;      // kFusion
  std::vector<Pipeline> branches;            // kFusion: at least two
  std::vector<std::string> resources;        // names it was built from (specs), for Requires()

  std::string ToString() const;
  // Rerankers read the ranking; feedback models do unless they read none of it (DepthRead() 0:
  // generative feedback such as hyde or query2doc may start a pipeline).
  bool ReadsRanking() const {
    return role == StageRole::kReranker || (role == StageRole::kFeedbackModel && feedback->DepthRead() != 0);
  }
};

template <typename T>
inline constexpr bool kIsStage = std::is_base_of_v<Retriever, T> ||
                                 std::is_base_of_v<FeedbackModel, T> ||
                                 std::is_base_of_v<Reranker, T>;

class Pipeline {
 public:
  Pipeline() = default;
  // A pipeline of one stage (a retriever, feedback model or reranker).
  template <typename T, typename = std::enable_if_t<kIsStage<T>>>
  Pipeline(std::shared_ptr<T> stage) {  // NOLINT: implicit, so that `a >> b` composes objects
    Append(Step(std::shared_ptr<const T>(std::move(stage))));
  }
  explicit Pipeline(std::vector<PipelineStep> steps) : steps_(std::move(steps)) {}

  // A fusion node over `branches` (at least two); InvalidArgument from method->CheckInputs.
  static absl::StatusOr<Pipeline> Fuse(std::shared_ptr<const Fusion> method,
                                       std::vector<Pipeline> branches);
  // This pipeline followed by `next`.
  Pipeline Then(const Pipeline& next) const;

  // Parses a spec (grammar above) into the objects it names, built from the registry with
  // `resources`; validated like Validate(). InvalidArgument with the column otherwise.
  static absl::StatusOr<Pipeline> Parse(absl::string_view spec, const Resources& resources = {});
  // As Parse, without requiring a ranking before the stages that read one: for pieces that are
  // composed later (a lone "avg" is a valid fragment; running it alone fails).
  static absl::StatusOr<Pipeline> ParseFragment(absl::string_view spec,
                                                const Resources& resources = {});

  // FailedPrecondition naming the first stage that reads a ranking no earlier stage makes.
  absl::Status Validate() const;

  // A copy whose unbound stages (built without a resource, Retriever::bound) are rebuilt from
  // their spec with `resources`; stages that are bound are shared, not copied.
  absl::StatusOr<Pipeline> Bind(const Resources& resources) const;

  // Canonical spec: every stage with every parameter, " >> " between stages; for registered
  // stages Parse(ToString()) builds an equal pipeline.
  std::string ToString() const;
  // The spec as Run runs it, after depth planning, e.g.
  // "dense(k=3,ef_search=0) >> avg(k=3,normalize=false) >> dense(k=1000,ef_search=0)".
  std::string Explain() const;
  // Resource names the stages built from specs read, sorted (objects built in code hold theirs).
  std::vector<std::string> Requires() const;

  // What the stages counted (Reranker::Counters, FeedbackModel::Counters): one entry per stage
  // with counts, in pipeline order. `stage` is the step's position and spec, e.g.
  // "3 rerank_listwise(k=100,...)"; a fusion branch's steps are "2.b1.1 ...". Stages built
  // from specs are rebuilt by Bind, so read the counters of the pipeline that ran.
  struct StageCounters {
    std::string stage;
    std::map<std::string, std::int64_t> counters;
  };
  std::vector<StageCounters> Counters() const;

  const std::vector<PipelineStep>& steps() const { return steps_; }
  bool empty() const { return steps_.empty(); }

  // Runs every step on `state`. A pipeline that ends without a ranking is FailedPrecondition.
  // The final ranking is cut to state.options.k.
  absl::StatusOr<BatchRanking> Run(QueryState& state) const;
  // The same for a batch of queries; `query_vectors`, if not null, are the dense query
  // vectors (queries.size() x dim) used instead of encoding the texts.
  absl::StatusOr<BatchRanking> Run(const Queries& queries, const PipelineOptions& options = {},
                                   const RowMatrix* query_vectors = nullptr) const;
  // As Run, converted to a Run with string ids: doc_names[id] names document id. The run's
  // name is the canonical spec without spaces (a TREC run tag).
  absl::StatusOr<densefb::Run> Search(const Queries& queries, absl::Span<const std::string> doc_names,
                                      const PipelineOptions& options = {},
                                      const RowMatrix* query_vectors = nullptr) const;

 private:
  template <typename T>
  static PipelineStep Step(std::shared_ptr<const T> stage) {
    PipelineStep s;
    if constexpr (std::is_base_of_v<Retriever, T>) {
      s.role = StageRole::kRetriever;
      s.retriever = std::move(stage);
    } else if constexpr (std::is_base_of_v<FeedbackModel, T>) {
      s.role = StageRole::kFeedbackModel;
      s.feedback = std::move(stage);
    } else {
      s.role = StageRole::kReranker;
      s.reranker = std::move(stage);
    }
    return s;
  }
  void Append(PipelineStep step) { steps_.push_back(std::move(step)); }
  absl::Status RunSteps(QueryState& state, BatchRanking* ranking, bool* has_ranking) const;
  // Step i as Run runs it (depth planning): the retriever itself or a shallower copy.
  std::shared_ptr<const Retriever> Planned(std::size_t i) const;

  std::vector<PipelineStep> steps_;
};

// Sequence: `a >> b` for pipelines and stage objects (std::shared_ptr of any of the roles).
Pipeline operator>>(const Pipeline& a, const Pipeline& b);

}  // namespace densefb

#endif  // DENSEFB_PIPELINE_H_
