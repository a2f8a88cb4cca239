// A reader for the safetensors format (Hugging Face weights): an 8-byte little-endian header
// length, a JSON header mapping tensor names to {dtype, shape, data_offsets}, then the raw
// data. The file is memory-mapped; tensors are views into it. Every offset, shape and dtype is
// validated against the file size before use, so a hostile header cannot read out of bounds,
// and the layout is checked as the safetensors library checks it: sorted by offset, the tensors
// tile the data section exactly (no overlap, no gap, no trailing bytes), so that no two
// tensors alias the same bytes.
#ifndef DENSEFB_SAFETENSORS_H_
#define DENSEFB_SAFETENSORS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "densefb/status.h"

namespace densefb {

enum class TensorDtype : std::uint8_t { kF32, kF16, kBF16, kF64, kI64, kI32, kI16, kI8, kU8, kBool };

absl::string_view DtypeName(TensorDtype dtype);
std::size_t DtypeSize(TensorDtype dtype);

struct TensorView {
  TensorDtype dtype;
  std::vector<std::int64_t> shape;
  const void* data;       // into the mapped file
  std::size_t num_bytes;  // product(shape) * DtypeSize(dtype)
  std::int64_t numel() const;
};

class SafetensorsFile {
 public:
  // Maps and validates `path` (header, dtypes, shapes, offsets and layout). Errors
  // (InvalidArgument) name the file and the offending tensor or field.
  static absl::StatusOr<std::unique_ptr<SafetensorsFile>> Open(const std::string& path);
  // Validates an in-memory image (used by Open and by the fuzzer); `data` must outlive it.
  static absl::StatusOr<std::unique_ptr<SafetensorsFile>> FromBuffer(const void* data,
                                                                     std::size_t size,
                                                                     std::string name);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::map<std::string, TensorView>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // NotFound naming the tensor and the file.
  absl::StatusOr<TensorView> Get(absl::string_view name) const;
  const std::string& path() const { return path_; }

 private:
  SafetensorsFile() = default;
  std::string path_;
  void* mapping_ = nullptr;
  std::size_t mapping_size_ = 0;
  std::map<std::string, TensorView> tensors_;
  std::map<std::string, std::string> metadata_;
};

// Converts a floating-point tensor (F32, F16, BF16, F64) to float32 into `out` (numel floats).
absl::Status CopyAsFloat32(const TensorView& tensor, float* out);

}  // namespace densefb

#endif  // DENSEFB_SAFETENSORS_H_
