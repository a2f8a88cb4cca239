#include "densefb/model_dir.h"

#include <cstdlib>
#include <filesystem>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"

namespace densefb {
namespace {

namespace fs = std::filesystem;

bool IsModelDir(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p / "config.json", ec);
}

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? "" : v;
}

}  // namespace

absl::StatusOr<std::string> ResolveModelDir(absl::string_view name_or_path) {
  if (name_or_path.empty()) return absl::InvalidArgumentError("empty model name");
  const fs::path path{std::string(name_or_path)};
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    if (!IsModelDir(path)) {
      return absl::InvalidArgumentError(absl::StrCat(path.string(), ": not a model directory (no config.json)"));
    }
    return path.string();
  }
  std::vector<std::string> looked;
  for (absl::string_view root : absl::StrSplit(Env("DENSEFB_MODEL_PATH"), ':', absl::SkipEmpty())) {
    const fs::path candidate = fs::path(std::string(root)) / path;
    if (IsModelDir(candidate)) return candidate.string();
    looked.push_back(candidate.string());
  }
  fs::path hub;
  if (!Env("HF_HUB_CACHE").empty()) {
    hub = Env("HF_HUB_CACHE");
  } else if (!Env("HF_HOME").empty()) {
    hub = fs::path(Env("HF_HOME")) / "hub";
  } else if (!Env("HOME").empty()) {
    hub = fs::path(Env("HOME")) / ".cache" / "huggingface" / "hub";
  }
  if (!hub.empty()) {
    const fs::path snapshots =
        hub / absl::StrCat("models--", absl::StrReplaceAll(name_or_path, {{"/", "--"}})) / "snapshots";
    fs::path best;
    fs::file_time_type newest{};
    for (const auto& snap : fs::directory_iterator(snapshots, ec)) {
      if (!IsModelDir(snap.path())) continue;
      const auto t = fs::last_write_time(snap.path(), ec);
      if (best.empty() || t > newest) {
        best = snap.path();
        newest = t;
      }
    }
    if (!best.empty()) return best.string();
    looked.push_back(snapshots.string());
  }
  return absl::NotFoundError(absl::StrCat("model \"", name_or_path, "\" not found: not a directory",
                                          looked.empty() ? "" : "; looked in ", absl::StrJoin(looked, ", ")));
}

}  // namespace densefb
