// Internal (torch target): the device tensor of a TorchFlatIndex, for the other device code.
#ifndef DENSEFB_SRC_TORCH_FLAT_INDEX_INTERNAL_H_
#define DENSEFB_SRC_TORCH_FLAT_INDEX_INTERNAL_H_

#include <ATen/ATen.h>

#include "densefb/torch/flat_index.h"

namespace densefb::torch_impl {

// Rows [0, size()) of the index's storage, (size(), dim) on its device, in its storage type.
// A view: valid until the index changes.
at::Tensor StoredRows(const TorchFlatIndex& index);

}  // namespace densefb::torch_impl

#endif  // DENSEFB_SRC_TORCH_FLAT_INDEX_INTERNAL_H_
