// The registry of stage names and fusion methods (include/densefb/pipeline.h).
#include <algorithm>
#include <cctype>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "densefb/pipeline.h"
#include "pipeline/internal.h"

namespace densefb {

absl::string_view StageRoleName(StageRole role) {
  switch (role) {
    case StageRole::kRetriever: return "retriever";
    case StageRole::kFeedbackModel: return "feedback";
    case StageRole::kReranker: return "reranker";
    case StageRole::kFusion: return "fusion";
  }
  return "unknown";
}

namespace {

struct Entry {
  StageInfo info;
  RetrieverFactory retriever;
  FeedbackModelFactory feedback;
  RerankerFactory reranker;
  FusionFactory fusion;
};

struct Registry {
  std::mutex mutex;
  std::map<std::string, Entry> stages;   // retrievers, feedback models, rerankers
  std::map<std::string, Entry> fusions;  // fusion methods
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

Registry& RawRegistry() {
  static Registry* registry = new Registry;
  return *registry;
}

absl::Status Add(Entry entry, bool has_factory) {
  const std::string name = entry.info.name;
  if (!ValidName(name)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "stage name '", name,
        "' is not usable: names match [A-Za-z_][A-Za-z0-9_.-]* and 'fuse', 'true', 'false' are reserved"));
  }
  if (!has_factory) return absl::InvalidArgumentError(absl::StrCat("stage '", name, "': empty factory"));
  Registry& r = RawRegistry();
  const bool fusion = entry.info.role == StageRole::kFusion;
  std::lock_guard<std::mutex> lock(r.mutex);
  auto& map = fusion ? r.fusions : r.stages;
  auto it = map.find(name);
  if (it != map.end()) {
    return absl::AlreadyExistsError(absl::StrCat("a ", fusion ? "fusion method" : "stage", " named '",
                                                 name, "' is already registered (a ",
                                                 StageRoleName(it->second.info.role), ")"));
  }
  map.emplace(name, std::move(entry));
  return absl::OkStatus();
}

// True on the thread running RegisterBuiltins (registration must not wait on itself).
thread_local bool initializing = false;

Registry& GetRegistry() {
  static std::once_flag once;
  if (!initializing) {
    std::call_once(once, [] {
      initializing = true;
      pipeline_internal::RegisterBuiltins();
      initializing = false;
    });
  }
  return RawRegistry();
}

Entry MakeEntry(StageInfo info, StageRole role) {
  Entry e;
  info.role = role;
  e.info = std::move(info);
  return e;
}

// Prefixes a factory's error with the stage's name unless it already names it.
absl::Status InStage(const absl::Status& s, const std::string& name) {
  if (s.ok() || absl::StrContains(s.message(), absl::StrCat("'", name))) return s;
  return absl::Status(s.code(), absl::StrCat("stage '", name, "': ", s.message()));
}

}  // namespace

namespace pipeline_internal {

template <typename Factory>
absl::Status AddRole(StageInfo info, StageRole role, Factory factory, Factory Entry::*slot) {
  Entry e = MakeEntry(std::move(info), role);
  const bool has = static_cast<bool>(factory);
  e.*slot = std::move(factory);
  return Add(std::move(e), has);
}

absl::Status AddRetriever(StageInfo info, RetrieverFactory factory) {
  return AddRole(std::move(info), StageRole::kRetriever, std::move(factory), &Entry::retriever);
}
absl::Status AddFeedbackModel(StageInfo info, FeedbackModelFactory factory) {
  return AddRole(std::move(info), StageRole::kFeedbackModel, std::move(factory), &Entry::feedback);
}
absl::Status AddReranker(StageInfo info, RerankerFactory factory) {
  return AddRole(std::move(info), StageRole::kReranker, std::move(factory), &Entry::reranker);
}
absl::Status AddFusion(StageInfo info, FusionFactory factory) {
  return AddRole(std::move(info), StageRole::kFusion, std::move(factory), &Entry::fusion);
}

absl::StatusOr<PipelineStep> MakeStep(const std::string& name, StageArgs& args,
                                      const Resources& resources) {
  Registry& r = GetRegistry();
  Entry entry;
  bool found = false;
  std::vector<std::string> names;
  {
    std::lock_guard<std::mutex> lock(r.mutex);
    auto it = r.stages.find(name);
    if (it != r.stages.end()) {
      entry = it->second;
      found = true;
    } else {
      for (const auto& kv : r.stages) names.push_back(kv.first);
    }
  }
  if (!found) {
    return absl::InvalidArgumentError(absl::StrCat("unknown stage '", name, "'; known stages: ",
                                                   absl::StrJoin(names, ", "), ", fuse(...)"));
  }
  PipelineStep step;
  step.role = entry.info.role;
  step.resources = entry.info.resources;
  // Factories run without the registry lock: a Python factory may take a while, or register.
  switch (entry.info.role) {
    case StageRole::kRetriever: {
      auto made = entry.retriever(args, resources);
      if (!made.ok()) return InStage(made.status(), name);
      step.retriever = *std::move(made);
      break;
    }
    case StageRole::kFeedbackModel: {
      auto made = entry.feedback(args, resources);
      if (!made.ok()) return InStage(made.status(), name);
      step.feedback = *std::move(made);
      for (std::string& extra : step.feedback->ExtraResources()) {
        if (std::find(step.resources.begin(), step.resources.end(), extra) == step.resources.end()) {
          step.resources.push_back(std::move(extra));
        }
      }
      break;
    }
    case StageRole::kReranker: {
      auto made = entry.reranker(args, resources);
      if (!made.ok()) return InStage(made.status(), name);
      step.reranker = *std::move(made);
      break;
    }
    case StageRole::kFusion:
      return absl::InternalError("a fusion method in the stage registry");
  }
  DENSEFB_RETURN_IF_ERROR(args.Finish());
  if (step.retriever == nullptr && step.feedback == nullptr && step.reranker == nullptr) {
    return absl::InternalError(absl::StrCat("the factory of stage '", name, "' returned null"));
  }
  return step;
}

absl::StatusOr<std::shared_ptr<const Fusion>> MakeFusion(const std::string& name, StageArgs& args,
                                                         std::size_t num_inputs) {
  Registry& r = GetRegistry();
  FusionFactory factory;
  {
    std::lock_guard<std::mutex> lock(r.mutex);
    auto it = r.fusions.find(name);
    if (it != r.fusions.end()) factory = it->second.fusion;
  }
  if (!factory) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown fusion method '", name, "'; expected ", FusionNames()));
  }
  absl::StatusOr<std::shared_ptr<const Fusion>> made = factory(args, num_inputs);
  if (!made.ok()) {
    if (absl::StrContains(made.status().message(), absl::StrCat("'", name, "'"))) return made.status();
    return absl::Status(made.status().code(),
                        absl::StrCat("fusion method '", name, "': ", made.status().message()));
  }
  DENSEFB_RETURN_IF_ERROR(args.Finish());
  if (*made == nullptr) {
    return absl::InternalError(absl::StrCat("the factory of fusion method '", name, "' returned null"));
  }
  const absl::Status inputs = (*made)->CheckInputs(num_inputs);
  if (!inputs.ok()) {
    if (absl::StrContains(inputs.message(), absl::StrCat("'", name, "'"))) return inputs;
    return absl::Status(inputs.code(), absl::StrCat("fusion method '", name, "': ", inputs.message()));
  }
  return made;
}

std::string FusionNames() {
  Registry& r = GetRegistry();
  std::lock_guard<std::mutex> lock(r.mutex);
  std::vector<std::string> names;
  for (const auto& kv : r.fusions) names.push_back(kv.first);
  return absl::StrJoin(names, ", ");
}

}  // namespace pipeline_internal

absl::Status RegisterRetriever(StageInfo info, RetrieverFactory factory) {
  GetRegistry();  // the built-ins first, so that a clash is reported to the later registration
  return pipeline_internal::AddRetriever(std::move(info), std::move(factory));
}
absl::Status RegisterFeedbackModel(StageInfo info, FeedbackModelFactory factory) {
  GetRegistry();
  return pipeline_internal::AddFeedbackModel(std::move(info), std::move(factory));
}
absl::Status RegisterReranker(StageInfo info, RerankerFactory factory) {
  GetRegistry();
  return pipeline_internal::AddReranker(std::move(info), std::move(factory));
}
absl::Status RegisterFusion(StageInfo info, FusionFactory factory) {
  GetRegistry();
  return pipeline_internal::AddFusion(std::move(info), std::move(factory));
}

absl::Status Unregister(StageRole role, const std::string& name) {
  Registry& r = GetRegistry();
  std::lock_guard<std::mutex> lock(r.mutex);
  auto& map = role == StageRole::kFusion ? r.fusions : r.stages;
  auto it = map.find(name);
  if (it == map.end() || it->second.info.role != role) {
    return absl::NotFoundError(absl::StrCat("no ", StageRoleName(role), " named '", name, "' is registered"));
  }
  map.erase(it);
  return absl::OkStatus();
}

std::vector<StageInfo> RegisteredStages() {
  Registry& r = GetRegistry();
  std::lock_guard<std::mutex> lock(r.mutex);
  std::vector<StageInfo> out;
  for (const auto& kv : r.stages) out.push_back(kv.second.info);
  for (const auto& kv : r.fusions) out.push_back(kv.second.info);
  return out;
}

}  // namespace densefb
