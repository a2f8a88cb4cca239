// The generative feedback models.
#include "pipeline/internal.h"

namespace densefb::pipeline_internal {

void RegisterLlmFeedback() {}

}  // namespace densefb::pipeline_internal
