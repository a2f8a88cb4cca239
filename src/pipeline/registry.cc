// The global stage registry.
#include <cctype>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "densefb/pipeline.h"
#include "pipeline/internal.h"
#include "multivector/stages.h"

namespace densefb {

namespace {

struct Entry {
  StageFactory factory;
  std::string help;
};

struct Registry {
  std::mutex mutex;
  std::map<std::string, Entry> stages;
};

bool ValidName(const std::string& name) {
  if (name.empty() || !(std::isalpha(static_cast<unsigned char>(name[0])) || name[0] == '_')) {
    return false;
  }
  for (char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-')) {
      return false;
    }
  }
  return name != "fuse" && name != "true" && name != "false";
}

absl::Status Add(Registry& r, const std::string& name, StageFactory factory, std::string help) {
  if (!ValidName(name)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "stage name '", name,
        "' is not usable: names match [A-Za-z_][A-Za-z0-9_.-]* and 'fuse', 'true', 'false' are reserved"));
  }
  if (!factory) return absl::InvalidArgumentError(absl::StrCat("stage '", name, "': empty factory"));
  std::lock_guard<std::mutex> lock(r.mutex);
  if (!r.stages.emplace(name, Entry{std::move(factory), std::move(help)}).second) {
    return absl::AlreadyExistsError(absl::StrCat("a stage named '", name, "' is already registered"));
  }
  return absl::OkStatus();
}

Registry& RawRegistry() {
  static Registry* registry = new Registry;
  return *registry;
}

// Stage families compiled into the library. Each is a plain function (not a static
// initialiser, which the linker drops from a static library when nothing else in its object
// file is used); add one call per family here.
void RegisterLibraryStages() {
  pipeline_internal::RegisterCoreStages();  // src/pipeline/stages.cc
  multivector_internal::RegisterMultiVectorStages();  // src/multivector/stages.cc
}

// True on the thread running RegisterLibraryStages (RegisterStage must not wait on itself).
thread_local bool initializing = false;

Registry& GetRegistry() {
  static std::once_flag once;
  if (!initializing) {
    std::call_once(once, [] {
      initializing = true;
      RegisterLibraryStages();
      initializing = false;
    });
  }
  return RawRegistry();
}

}  // namespace

namespace pipeline_internal {
// Used by the library families during the one-time initialisation (no re-entry into call_once).
absl::Status RegisterBuiltinStage(const std::string& name, StageFactory factory, std::string help) {
  return Add(RawRegistry(), name, std::move(factory), std::move(help));
}
}  // namespace pipeline_internal

absl::Status RegisterStage(const std::string& name, StageFactory factory, std::string help) {
  Registry& r = RawRegistry();
  GetRegistry();  // library stages first, so a clash is reported to the later registration
  return Add(r, name, std::move(factory), std::move(help));
}

std::vector<StageInfo> RegisteredStages() {
  Registry& r = GetRegistry();
  std::lock_guard<std::mutex> lock(r.mutex);
  std::vector<StageInfo> out;
  for (const auto& kv : r.stages) out.push_back({kv.first, kv.second.help});
  return out;
}

absl::StatusOr<std::unique_ptr<Stage>> MakeStage(const std::string& name, StageArgs& args) {
  Registry& r = GetRegistry();
  StageFactory factory;
  std::vector<std::string> names;
  {
    std::lock_guard<std::mutex> lock(r.mutex);
    auto it = r.stages.find(name);
    if (it != r.stages.end()) {
      factory = it->second.factory;
    } else {
      for (const auto& kv : r.stages) names.push_back(kv.first);
    }
  }
  if (!factory) {
    return absl::InvalidArgumentError(absl::StrCat("unknown stage '", name, "'; known stages: ",
                                                   absl::StrJoin(names, ", "), ", fuse(...)"));
  }
  DENSEFB_ASSIGN_OR_RETURN(std::unique_ptr<Stage> stage, factory(args));
  DENSEFB_RETURN_IF_ERROR(args.Finish());
  if (stage == nullptr) {
    return absl::InternalError(absl::StrCat("the factory of stage '", name, "' returned null"));
  }
  return stage;
}

}  // namespace densefb
