// Internal: numeric kernels with run-time selection of the widest instruction set the CPU
// has (AVX-512, AVX2+FMA, or the baseline build).
#ifndef DENSEFB_SRC_INDEX_KERNELS_H_
#define DENSEFB_SRC_INDEX_KERNELS_H_

#include <cstddef>
#include <cstdint>

#include "index/topk.h"

namespace densefb::kernels {

// C (m x n, row stride ldc) = A (m x d, row-major) * B (n x d, row-major)^T.
using GemmNtFn = void (*)(const float* a, std::int64_t m, const float* b, std::int64_t n,
                          std::int64_t d, float* c, std::int64_t ldc);
// <a, b> over d floats.
using DotFn = float (*)(const float* a, const float* b, std::int64_t d);
// hnswlib's DISTFUNC<float> over rows of dim + 1 floats (vector, then a factor):
// -(<a, b> * f_a * f_b); `param` points at the dimension as a size_t.
using HnswDistanceFn = float (*)(const void* a, const void* b, const void* param);

// An hnswlib graph as raw memory (HierarchicalNSW's members), for HnswSearchFn.
struct HnswGraphView {
  const char* level0;            // data_level0_memory_: per element, layer-0 links then data
  std::size_t element_bytes;     // size_data_per_element_
  std::size_t offset_data;       // offsetData_: the element's dim + 1 floats
  char* const* upper_links;      // linkLists_[i]: layers 1..level of element i
  std::size_t upper_link_bytes;  // size_links_per_element_
  int max_level;                 // maxlevel_
  std::uint32_t entry;           // enterpoint_node_
  std::int64_t dim;
  bool scaled;  // false: every factor is 1 (inner product), so none is read
};
struct HnswHit {
  float distance;  // -(<q, x> * f_q * f_x), as hnsw_distance
  std::uint32_t id;  // hnswlib internal id
};
// hnswlib's search (greedy descent through the upper layers, then searchBaseLayerST without
// deletions: the same visiting order, heaps and ties) with hnsw_distance inlined, for an
// encoded query (dim + 1 floats). `visited`/`tag`: a hnswlib VisitedList. `allowed`: null, or
// a bitmap over internal ids; then only those are returned (hnswlib 0.7's filtered search).
// Writes the k nearest found of the ef-deep beam into `out` (k slots, any order); returns how many.
using HnswSearchFn = std::int64_t (*)(const HnswGraphView& graph, const float* query,
                                      std::int64_t ef, std::int64_t k, std::uint16_t* visited,
                                      std::uint16_t tag, const std::uint64_t* allowed, HnswHit* out);

struct KernelSet {
  const char* name;  // "avx512", "avx2", "generic"
  GemmNtFn gemm_nt;
  DotFn dot;
  HnswDistanceFn hnsw_distance;
  HnswSearchFn hnsw_search;
  SelectAboveFn select_above;
};

// The kernels for this CPU, chosen once.
const KernelSet& Best();

// Per-ISA sets (nullptr when not compiled in).
const KernelSet* GenericKernels();
const KernelSet* Avx2Kernels();
const KernelSet* Avx512Kernels();

}  // namespace densefb::kernels

#endif  // DENSEFB_SRC_INDEX_KERNELS_H_
