#include "densefb/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "densefb/file_format.h"

namespace densefb {
namespace {

using Json = nlohmann::json;

constexpr std::uint64_t kMaxHeaderBytes = 100u << 20;  // the format's own limit is 100 MB

absl::StatusOr<TensorDtype> ParseDtype(const std::string& s) {
  static const std::pair<const char*, TensorDtype> kNames[] = {
      {"F32", TensorDtype::kF32}, {"F16", TensorDtype::kF16}, {"BF16", TensorDtype::kBF16},
      {"F64", TensorDtype::kF64}, {"I64", TensorDtype::kI64}, {"I32", TensorDtype::kI32},
      {"I16", TensorDtype::kI16}, {"I8", TensorDtype::kI8},   {"U8", TensorDtype::kU8},
      {"BOOL", TensorDtype::kBool}};
  for (const auto& [name, dtype] : kNames) {
    if (s == name) return dtype;
  }
  return absl::UnimplementedError(absl::StrCat("unsupported dtype \"", s, "\""));
}

float HalfToFloat(std::uint16_t h) {
  const std::uint32_t sign = (h & 0x8000u) << 16;
  std::uint32_t exp = (h >> 10) & 0x1f;
  std::uint32_t mant = h & 0x3ffu;
  std::uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      exp = 127 - 15 + 1;
      while ((mant & 0x400u) == 0) {
        mant <<= 1;
        --exp;
      }
      mant &= 0x3ffu;
      bits = sign | (exp << 23) | (mant << 13);
    }
  } else if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

}  // namespace

absl::string_view DtypeName(TensorDtype dtype) {
  switch (dtype) {
    case TensorDtype::kF32: return "F32";
    case TensorDtype::kF16: return "F16";
    case TensorDtype::kBF16: return "BF16";
    case TensorDtype::kF64: return "F64";
    case TensorDtype::kI64: return "I64";
    case TensorDtype::kI32: return "I32";
    case TensorDtype::kI16: return "I16";
    case TensorDtype::kI8: return "I8";
    case TensorDtype::kU8: return "U8";
    case TensorDtype::kBool: return "BOOL";
  }
  return "?";
}

std::size_t DtypeSize(TensorDtype dtype) {
  switch (dtype) {
    case TensorDtype::kF64:
    case TensorDtype::kI64: return 8;
    case TensorDtype::kF32:
    case TensorDtype::kI32: return 4;
    case TensorDtype::kF16:
    case TensorDtype::kBF16:
    case TensorDtype::kI16: return 2;
    default: return 1;
  }
}

std::int64_t TensorView::numel() const {
  std::int64_t n = 1;
  for (std::int64_t d : shape) n *= d;
  return n;
}

SafetensorsFile::~SafetensorsFile() {
  if (mapping_ != nullptr) ::munmap(mapping_, mapping_size_);
}

absl::StatusOr<std::unique_ptr<SafetensorsFile>> SafetensorsFile::Open(const std::string& path) {
  DENSEFB_RETURN_IF_ERROR(CheckPath(path));
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return absl::NotFoundError(absl::StrCat(path, ": no such file"));
  }
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return absl::PermissionDeniedError(absl::StrCat(path, ": cannot open"));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || st.st_size < 8) {
    ::close(fd);
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": truncated safetensors file (", st.st_size, " bytes)"));
  }
  const auto size = static_cast<std::size_t>(st.st_size);
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED) return absl::ResourceExhaustedError(absl::StrCat(path, ": mmap failed"));
  auto file = FromBuffer(map, size, path);
  if (!file.ok()) {
    ::munmap(map, size);
    return file.status();
  }
  (*file)->mapping_ = map;
  (*file)->mapping_size_ = size;
  return file;
}

absl::StatusOr<std::unique_ptr<SafetensorsFile>> SafetensorsFile::FromBuffer(const void* data,
                                                                             std::size_t size,
                                                                             std::string name) {
  auto bad = [&](absl::string_view problem) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": invalid safetensors file: ", problem));
  };
  if (size < 8) return bad("shorter than the 8-byte header length");
  std::uint64_t header_len = 0;
  std::memcpy(&header_len, data, 8);
  if (header_len > kMaxHeaderBytes || header_len > size - 8) {
    return bad(absl::StrCat("header length ", header_len, " exceeds the file (", size, " bytes)"));
  }
  const char* header = static_cast<const char*>(data) + 8;
  Json json;
  try {
    json = Json::parse(header, header + header_len);
  } catch (const Json::exception& e) {
    return bad(absl::StrCat("header is not JSON: ", e.what()));
  }
  if (!json.is_object()) return bad("header is not a JSON object");
  std::unique_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->path_ = name;  // a copy: `bad` still names the file in the errors below
  const char* payload = header + header_len;
  const std::size_t payload_size = size - 8 - header_len;
  struct Extent {
    std::uint64_t begin, end;
    const std::string* name;
  };
  std::vector<Extent> extents;
  for (auto it = json.begin(); it != json.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it->is_object()) return bad("__metadata__ is not an object");
      for (auto m = it->begin(); m != it->end(); ++m) {
        if (m->is_string()) file->metadata_[m.key()] = m->get<std::string>();
      }
      continue;
    }
    const Json& t = *it;
    const std::string where = absl::StrCat("tensor \"", it.key(), "\": ");
    if (!t.is_object() || !t.contains("dtype") || !t.contains("shape") || !t.contains("data_offsets") ||
        !t["dtype"].is_string() || !t["shape"].is_array() || !t["data_offsets"].is_array() ||
        t["data_offsets"].size() != 2) {
      return bad(where + "needs dtype, shape and data_offsets [begin, end]");
    }
    auto dtype = ParseDtype(t["dtype"].get<std::string>());
    if (!dtype.ok()) return bad(where + std::string(dtype.status().message()));
    TensorView view{*dtype, {}, nullptr, 0};
    std::uint64_t numel = 1;
    for (const Json& d : t["shape"]) {
      if (!d.is_number_unsigned() && !(d.is_number_integer() && d.get<std::int64_t>() >= 0)) {
        return bad(where + "shape entries must be non-negative integers");
      }
      const auto dim = d.get<std::uint64_t>();
      if (dim != 0 && numel > (std::uint64_t{1} << 62) / dim) return bad(where + "shape overflows");
      numel *= dim;
      view.shape.push_back(static_cast<std::int64_t>(dim));
    }
    const Json& off = t["data_offsets"];
    if (!off[0].is_number_unsigned() || !off[1].is_number_unsigned()) {
      return bad(where + "data_offsets must be non-negative integers");
    }
    const auto begin = off[0].get<std::uint64_t>(), end = off[1].get<std::uint64_t>();
    if (begin > end || end > payload_size) {
      return bad(absl::StrCat(where, "data_offsets [", begin, ", ", end, "] outside the ",
                              payload_size, "-byte data section"));
    }
    // numel * DtypeSize may wrap around 2^64 (e.g. 2^62 elements of 8 bytes): bound it first.
    if (numel > payload_size / DtypeSize(*dtype)) {
      return bad(absl::StrCat(where, "shape needs ", numel, " elements of ", DtypeSize(*dtype),
                              " bytes, more than the ", payload_size, "-byte data section"));
    }
    if (end - begin != numel * DtypeSize(*dtype)) {
      return bad(absl::StrCat(where, "holds ", end - begin, " bytes, shape and dtype need ",
                              numel * DtypeSize(*dtype)));
    }
    view.data = payload + begin;
    view.num_bytes = static_cast<std::size_t>(end - begin);
    const auto placed = file->tensors_.emplace(it.key(), std::move(view)).first;
    extents.push_back({begin, end, &placed->first});
  }
  // The layout the safetensors library requires: sorted by offset, the tensors tile the data
  // section exactly, each starting where the previous one ends (no overlap, no gap, no trailing
  // bytes). Overlapping tensors would alias each other's bytes and load silently wrong weights.
  std::sort(extents.begin(), extents.end(), [](const Extent& a, const Extent& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  std::uint64_t covered = 0;
  const std::string* previous = nullptr;
  for (const Extent& e : extents) {
    if (e.begin != covered) {
      return bad(absl::StrCat(
          "tensor \"", *e.name, "\": data_offsets [", e.begin, ", ", e.end, "] ",
          e.begin < covered ? "overlap " : "leave a gap after ",
          previous != nullptr ? absl::StrCat("tensor \"", *previous, "\"") : std::string("the header"),
          " (which ends at byte ", covered, "); tensors must tile the data section in order"));
    }
    covered = e.end;
    previous = e.name;
  }
  if (covered != payload_size) {
    return bad(absl::StrCat("the tensors cover ", covered, " bytes of the ", payload_size,
                            "-byte data section (trailing bytes)"));
  }
  return file;
}

absl::StatusOr<TensorView> SafetensorsFile::Get(absl::string_view name) const {
  auto it = tensors_.find(std::string(name));
  if (it == tensors_.end()) {
    return absl::NotFoundError(absl::StrCat(path_, ": no tensor \"", name, "\""));
  }
  return it->second;
}

absl::Status CopyAsFloat32(const TensorView& t, float* out) {
  const std::int64_t n = t.numel();
  switch (t.dtype) {
    case TensorDtype::kF32:
      if (n > 0) std::memcpy(out, t.data, n * sizeof(float));  // (t.data may be null when empty)
      return absl::OkStatus();
    case TensorDtype::kF64:
      for (std::int64_t i = 0; i < n; ++i) {
        double v;
        std::memcpy(&v, static_cast<const char*>(t.data) + 8 * i, 8);
        out[i] = static_cast<float>(v);
      }
      return absl::OkStatus();
    case TensorDtype::kF16:
      for (std::int64_t i = 0; i < n; ++i) {
        std::uint16_t h;
        std::memcpy(&h, static_cast<const char*>(t.data) + 2 * i, 2);
        out[i] = HalfToFloat(h);
      }
      return absl::OkStatus();
    case TensorDtype::kBF16:
      for (std::int64_t i = 0; i < n; ++i) {
        std::uint16_t h;
        std::memcpy(&h, static_cast<const char*>(t.data) + 2 * i, 2);
        const std::uint32_t bits = static_cast<std::uint32_t>(h) << 16;
        std::memcpy(&out[i], &bits, 4);
      }
      return absl::OkStatus();
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("tensor of dtype ", DtypeName(t.dtype), " is not floating point"));
  }
}

}  // namespace densefb
