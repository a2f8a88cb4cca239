// The selective PRF.
#include "pipeline/internal.h"

namespace densefb::pipeline_internal {

void RegisterSelectivePrf() {}

}  // namespace densefb::pipeline_internal
