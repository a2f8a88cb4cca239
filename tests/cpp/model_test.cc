// The safetensors reader validates the tensor layout at open as the safetensors library does:
// offsets inside the data section, tensors tiling it in order with no overlap, gap or trailing
// bytes, and dtype x shape equal to each tensor's byte length (issue 12, item 12).
#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "densefb/safetensors.h"
#include "test_util.h"

namespace densefb {
namespace {

using Catch::Matchers::Contains;

struct Spec {
  std::string name, dtype, shape;
  std::uint64_t begin, end;
};

// An image: 8-byte header length, the JSON header, then `data_bytes` bytes (value = offset).
std::string Image(const std::vector<Spec>& specs, std::size_t data_bytes) {
  std::string header = "{";
  for (const Spec& s : specs) {
    if (header.size() > 1) header += ", ";
    header += "\"" + s.name + "\": {\"dtype\": \"" + s.dtype + "\", \"shape\": " + s.shape +
              ", \"data_offsets\": [" + std::to_string(s.begin) + ", " + std::to_string(s.end) + "]}";
  }
  header += "}";
  std::string image(8, '\0');
  const std::uint64_t len = header.size();
  std::memcpy(image.data(), &len, 8);
  image += header;
  for (std::size_t i = 0; i < data_bytes; ++i) image += static_cast<char>(i);
  return image;
}

absl::StatusOr<std::unique_ptr<SafetensorsFile>> Read(const std::string& image) {
  return SafetensorsFile::FromBuffer(image.data(), image.size(), "m.safetensors");
}

std::string Error(const std::string& image) {
  auto file = Read(image);
  REQUIRE_FALSE(file.ok());
  CHECK(file.status().code() == absl::StatusCode::kInvalidArgument);
  return std::string(file.status().message());
}

TEST_CASE("safetensors: a layout that tiles the data section loads, in any header order") {
  // Header order differs from offset order; zero-size tensors may sit at any boundary.
  const std::string image = Image({{"b", "F32", "[2]", 8, 16},
                                   {"a", "F16", "[2, 2]", 0, 8},
                                   {"e", "F32", "[0, 4]", 8, 8},
                                   {"z", "U8", "[0]", 16, 16}},
                                  16);
  auto file = Read(image);
  REQUIRE(file.ok());
  CHECK((*file)->tensors().size() == 4);
  CHECK((*file)->Get("b")->num_bytes == 8);
  auto empty = Read(Image({}, 0));
  REQUIRE(empty.ok());
  CHECK((*empty)->tensors().empty());
}

TEST_CASE("safetensors: overlapping tensors are refused, naming both tensors") {
  // The red-team file: the key's offsets moved into the query's bytes. Without the layout
  // check both views were valid and the key silently aliased the query's weights.
  const std::string msg = Error(Image({{"query", "F32", "[4]", 0, 16}, {"key", "F32", "[4]", 8, 24}}, 24));
  CHECK_THAT(msg, Contains("m.safetensors") && Contains("tensor \"key\"") && Contains("[8, 24]") &&
                      Contains("overlap tensor \"query\"") && Contains("ends at byte 16"));
  // Two tensors on exactly the same bytes.
  CHECK_THAT(Error(Image({{"a", "F32", "[2]", 0, 8}, {"b", "F32", "[2]", 0, 8}}, 8)),
             Contains("overlap"));
  // A tensor inside another one.
  CHECK_THAT(Error(Image({{"a", "F32", "[4]", 0, 16}, {"b", "U8", "[4]", 4, 8}, {"c", "U8", "[8]", 8, 16}}, 16)),
             Contains("overlap"));
}

TEST_CASE("safetensors: gaps and trailing bytes are refused") {
  CHECK_THAT(Error(Image({{"a", "F32", "[1]", 0, 4}, {"b", "F32", "[1]", 8, 12}}, 12)),
             Contains("tensor \"b\"") && Contains("leave a gap after tensor \"a\""));
  CHECK_THAT(Error(Image({{"a", "F32", "[1]", 4, 8}}, 8)), Contains("gap after the header"));
  CHECK_THAT(Error(Image({{"a", "F32", "[1]", 0, 4}}, 12)),
             Contains("cover 4 bytes of the 12-byte data section") && Contains("trailing"));
  CHECK_THAT(Error(Image({}, 4)), Contains("cover 0 bytes of the 4-byte data section"));
}

TEST_CASE("safetensors: shapes, dtypes and offsets must agree") {
  CHECK_THAT(Error(Image({{"a", "F32", "[3]", 0, 8}, {"b", "U8", "[8]", 8, 16}}, 16)),
             Contains("tensor \"a\"") && Contains("holds 8 bytes, shape and dtype need 12"));
  CHECK_THAT(Error(Image({{"a", "F32", "[-2]", 0, 8}}, 8)), Contains("non-negative"));
  CHECK_THAT(Error(Image({{"a", "F32", "[2.5]", 0, 8}}, 8)), Contains("non-negative integers"));
  CHECK_THAT(Error(Image({{"a", "F32", "[2]", 0, 16}}, 8)), Contains("outside the 8-byte data section"));
  CHECK_THAT(Error(Image({{"a", "F32", "[2]", 8, 0}}, 8)), Contains("outside"));
  CHECK_THAT(Error(Image({{"a", "F64", "[4294967296, 4294967296]", 0, 8}}, 8)), Contains("overflows"));
}

TEST_CASE("safetensors: Open applies the same layout check to a file") {
  const std::string dir = testing::TempDir("model_test_safetensors");
  const std::string path = dir + "/overlap.safetensors";
  {
    std::ofstream out(path, std::ios::binary);
    const std::string image = Image({{"w", "F32", "[2, 2]", 0, 16}, {"b", "F32", "[2]", 8, 16}}, 16);
    out.write(image.data(), static_cast<std::streamsize>(image.size()));
  }
  auto file = SafetensorsFile::Open(path);
  REQUIRE_FALSE(file.ok());
  CHECK_THAT(std::string(file.status().message()), Contains(path) && Contains("tensor \"b\"") && Contains("overlap"));
}

}  // namespace
}  // namespace densefb
