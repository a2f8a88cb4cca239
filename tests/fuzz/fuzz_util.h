// Helpers shared by the libFuzzer targets: a scratch folder per process (under /dev/shm when it
// exists, so writing one file per input stays cheap), writing an input to a file there, and
// FUZZ_CHECK, which aborts (a crash for libFuzzer) when an invariant of a loaded object fails.
#ifndef DENSEFB_TESTS_FUZZ_FUZZ_UTIL_H_
#define DENSEFB_TESTS_FUZZ_FUZZ_UTIL_H_

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "densefb/file_format.h"

#define FUZZ_CHECK(cond)                                                              \
  do {                                                                                \
    if (!(cond)) {                                                                    \
      std::fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                   \
    }                                                                                 \
  } while (0)

namespace densefb_fuzz {

inline void RemoveScratch();

inline const std::string& ScratchDir() {
  // Never destroyed: RemoveScratch runs from atexit, after static destructors may have run.
  static const std::string& dir = *new std::string([] {
    namespace fs = std::filesystem;
    std::error_code ec;
    fs::path base = fs::is_directory("/dev/shm", ec) ? fs::path("/dev/shm") : fs::temp_directory_path();
    fs::path d = base / ("densefb-fuzz-" + std::to_string(static_cast<long>(::getpid())));
    fs::create_directories(d);
    std::atexit(RemoveScratch);
    return d.string();
  }());
  return dir;
}

inline void RemoveScratch() {
  std::error_code ec;
  std::filesystem::remove_all(ScratchDir(), ec);
}

// Writes `size` bytes to <scratch>/<name> and returns the path.
inline std::string WriteInput(const std::string& name, const std::uint8_t* data, std::size_t size) {
  const std::string path = ScratchDir() + "/" + name;
  std::FILE* f = std::fopen(path.c_str(), "wb");
  FUZZ_CHECK(f != nullptr);
  FUZZ_CHECK(size == 0 || std::fwrite(data, 1, size, f) == size);
  FUZZ_CHECK(std::fclose(f) == 0);
  return path;
}

// The index loaders check a CRC before parsing, so random bytes rarely reach the parser. Inputs
// of the index targets therefore start with a mode byte: odd -> the rest is written as the
// whole file (the container header is fuzzed); even -> the rest is a payload wrapped in a valid
// container of `kind`, version 1 (the parser behind the checksum is fuzzed).
inline std::string WriteIndexInput(const std::string& name, absl::string_view kind,
                                   const std::uint8_t* data, std::size_t size) {
  if (size == 0) return WriteInput(name, data, 0);
  if (data[0] & 1) return WriteInput(name, data + 1, size - 1);
  const std::string path = ScratchDir() + "/" + name;
  auto writer = densefb::AtomicFileWriter::Open(path, kind, 1);
  FUZZ_CHECK(writer.ok());
  FUZZ_CHECK((*writer)->Write(data + 1, size - 1).ok());
  FUZZ_CHECK((*writer)->Commit().ok());
  return path;
}

// Every error of a loader must name the file it read.
inline void CheckNamesFile(const absl::Status& status, const std::string& path) {
  if (status.ok()) return;
  if (std::string(status.message()).find(path) == std::string::npos) {
    std::fprintf(stderr, "error does not name the file %s: %s\n", path.c_str(),
                 status.ToString().c_str());
    std::abort();
  }
}

}  // namespace densefb_fuzz

#endif  // DENSEFB_TESTS_FUZZ_FUZZ_UTIL_H_
