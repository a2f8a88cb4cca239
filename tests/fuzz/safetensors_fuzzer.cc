// Fuzzes the safetensors reader on in-memory images: every tensor of an image that validates
// must lie inside the image with num_bytes = numel * dtype size, and floating-point tensors
// must convert to float32; and the tensors must tile the data section (after the header) exactly:
// no two overlap, no gap between them and no trailing bytes, as the safetensors library requires.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "densefb/safetensors.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // A private copy, so reads past the end are caught by AddressSanitizer at the exact size.
  std::vector<std::uint8_t> image(data, data + size);
  auto file = densefb::SafetensorsFile::FromBuffer(image.data(), image.size(), "fuzz.safetensors");
  if (!file.ok()) {
    densefb_fuzz::CheckNamesFile(file.status(), "fuzz.safetensors");
    return 0;
  }
  const auto* begin = image.data();
  const auto* end = begin + image.size();
  std::uint64_t header_len = 0;
  std::memcpy(&header_len, begin, 8);
  const auto* payload = begin + 8 + header_len;
  std::vector<std::pair<const std::uint8_t*, std::size_t>> extents;
  for (const auto& [name, t] : (*file)->tensors()) {
    std::int64_t numel = 1;
    for (std::int64_t d : t.shape) {
      FUZZ_CHECK(d >= 0);
      numel *= d;
    }
    FUZZ_CHECK(t.numel() == numel);
    FUZZ_CHECK(t.num_bytes == static_cast<std::size_t>(numel) * densefb::DtypeSize(t.dtype));
    const auto* p = static_cast<const std::uint8_t*>(t.data);
    FUZZ_CHECK(t.num_bytes == 0 || (p >= begin && p + t.num_bytes <= end));
    FUZZ_CHECK(p >= payload && p <= end);
    extents.emplace_back(p, t.num_bytes);
    auto got = (*file)->Get(name);
    FUZZ_CHECK(got.ok() && got->data == t.data);
    std::vector<float> out(static_cast<std::size_t>(numel));
    const absl::Status copied = densefb::CopyAsFloat32(t, out.data());
    const bool floating = t.dtype == densefb::TensorDtype::kF32 || t.dtype == densefb::TensorDtype::kF16 ||
                          t.dtype == densefb::TensorDtype::kBF16 || t.dtype == densefb::TensorDtype::kF64;
    FUZZ_CHECK(copied.ok() == floating);
  }
  std::sort(extents.begin(), extents.end());
  const std::uint8_t* covered = payload;
  for (const auto& [p, n] : extents) {
    FUZZ_CHECK(p == covered);  // no overlap, no gap
    covered = p + n;
  }
  FUZZ_CHECK(covered == end);  // no trailing bytes
  FUZZ_CHECK(!(*file)->Get("no such tensor").ok());
  return 0;
}
