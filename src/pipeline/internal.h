// Internal pieces of the pipeline module shared by its .cc files.
#ifndef DENSEFB_SRC_PIPELINE_INTERNAL_H_
#define DENSEFB_SRC_PIPELINE_INTERNAL_H_

#include <memory>
#include <string>
#include <vector>

#include "densefb/pipeline.h"

namespace densefb::pipeline_internal {

// Builds a fusion node: `method` is the method name as written (rrf, interpolate, ...) with
// its arguments; `branches` has at least two pipelines. InvalidArgument on a bad method or
// argument.
absl::StatusOr<std::unique_ptr<Stage>> MakeFuseStage(StageArgs& method,
                                                     std::vector<Pipeline> branches);

// Registers the stages of the core library (src/pipeline/stages.cc).
void RegisterCoreStages();

// RegisterStage for the library families called from the registry's one-time initialisation
// (src/pipeline/registry.cc); RegisterStage itself would wait on that initialisation.
absl::Status RegisterBuiltinStage(const std::string& name, StageFactory factory, std::string help);

}  // namespace densefb::pipeline_internal

#endif  // DENSEFB_SRC_PIPELINE_INTERNAL_H_
