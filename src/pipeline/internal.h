// Internal pieces of the pipeline module shared by its .cc files.
#ifndef DENSEFB_SRC_PIPELINE_INTERNAL_H_
#define DENSEFB_SRC_PIPELINE_INTERNAL_H_

#include <cstddef>
#include <memory>
#include <string>

#include "densefb/pipeline.h"

namespace densefb::pipeline_internal {

// The step of the stage registered as `name` (retriever, feedback model or reranker), built
// with `args` and `resources`; InvalidArgument for an unknown name (listing the known ones) or
// a bad argument.
absl::StatusOr<PipelineStep> MakeStep(const std::string& name, StageArgs& args,
                                      const Resources& resources);
// The fusion method registered as `name` for `num_inputs` inputs.
absl::StatusOr<std::shared_ptr<const Fusion>> MakeFusion(const std::string& name, StageArgs& args,
                                                         std::size_t num_inputs);
// "rrf, interpolate, ..." (the registered fusion methods, for messages).
std::string FusionNames();

// True when the step reads a ranking before making one: a feedback model, a reranker, or a
// fusion node one of whose branches starts by reading the incoming ranking.
bool NeedsRanking(const PipelineStep& step);

// Registers the built-in stages and fusion methods (src/pipeline/builtins.cc); called once,
// by the registry's initialisation, through the Add* functions below (RegisterX would wait on
// that initialisation).
void RegisterBuiltins();
// The LLM rerankers (src/rerank/llm_rerankers.cc), the generative feedback models
// (src/feedback/llm_feedback.cc) and selective PRF (src/feedback/selective_prf.cc); called by
// RegisterBuiltins.
void RegisterLlmRerankers();
void RegisterLlmFeedback();
void RegisterSelectivePrf();
absl::Status AddRetriever(StageInfo info, RetrieverFactory factory);
absl::Status AddFeedbackModel(StageInfo info, FeedbackModelFactory factory);
absl::Status AddReranker(StageInfo info, RerankerFactory factory);
absl::Status AddFusion(StageInfo info, FusionFactory factory);

}  // namespace densefb::pipeline_internal

#endif  // DENSEFB_SRC_PIPELINE_INTERNAL_H_
