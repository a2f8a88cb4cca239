// Internal: registration of the multi-vector pipeline stages (maxsim, rerank_maxsim,
// colbert_prf), called once from the stage registry's initialisation (src/pipeline/registry.cc).
#ifndef DENSEFB_SRC_MULTIVECTOR_STAGES_H_
#define DENSEFB_SRC_MULTIVECTOR_STAGES_H_

namespace densefb::multivector_internal {

void RegisterMultiVectorStages();

}  // namespace densefb::multivector_internal

#endif  // DENSEFB_SRC_MULTIVECTOR_STAGES_H_
