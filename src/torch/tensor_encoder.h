// Internal (torch target): an encoder whose output can stay on its device, so that the device
// index (densefb/torch/flat_index.h) takes it without a copy through host memory.
#ifndef DENSEFB_SRC_TORCH_TENSOR_ENCODER_H_
#define DENSEFB_SRC_TORCH_TENSOR_ENCODER_H_

#include <ATen/ATen.h>

#include <string>

#include "absl/types/span.h"
#include "densefb/encoder.h"
#include "densefb/status.h"

namespace densefb::torch_impl {

class TensorEncoder {
 public:
  virtual ~TensorEncoder() = default;
  // The documents' vectors as EncodeDocuments computes them: (texts.size(), Dimension())
  // float32 on the encoder's device, in the order of `texts`.
  virtual absl::StatusOr<at::Tensor> EncodeDocumentsTensor(absl::Span<const std::string> texts,
                                                           const EncodeOptions& options) const = 0;
};

}  // namespace densefb::torch_impl

#endif  // DENSEFB_SRC_TORCH_TENSOR_ENCODER_H_
