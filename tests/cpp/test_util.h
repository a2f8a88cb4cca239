// Helpers shared by the C++ tests.
#ifndef DENSEFB_TESTS_CPP_TEST_UTIL_H_
#define DENSEFB_TESTS_CPP_TEST_UTIL_H_

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "densefb/types.h"

// Catch2 v2 has no SKIP: warn and leave the test case (used when ../shared/data is absent).
#define DENSEFB_SKIP(msg) \
  do {                    \
    WARN(msg);            \
    return;               \
  } while (0)

namespace densefb::testing {

// A fresh directory under the build tree for one test.
inline std::string TempDir(const std::string& name) {
  const std::filesystem::path dir = std::filesystem::path(DENSEFB_TEST_TMPDIR) / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

inline void WriteFile(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary);
  out << content;
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The folder of real BEIR collections: $DENSEFB_DATA, else ../shared/data beside the checkout.
inline std::string DataDir() {
  if (const char* env = std::getenv("DENSEFB_DATA")) return env;
  if (const char* env = std::getenv("DENSEFB_DEFAULT_DATA")) return env;
  return std::string(DENSEFB_SOURCE_DIR) + "/../shared/data";
}

inline RowMatrix RandomMatrix(std::int64_t rows, std::int64_t cols, std::uint32_t seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist;
  RowMatrix m(rows, cols);
  for (std::int64_t i = 0; i < m.size(); ++i) m.data()[i] = dist(gen);
  return m;
}

}  // namespace densefb::testing

#endif  // DENSEFB_TESTS_CPP_TEST_UTIL_H_
