// The LLM rerankers.
#include "pipeline/internal.h"

namespace densefb::pipeline_internal {

void RegisterLlmRerankers() {}

}  // namespace densefb::pipeline_internal
