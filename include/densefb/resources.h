// Named, shared objects that a spec's stages are built with: indexes, encoders, a corpus, or any
// type of the user's own. A spec names no objects; `dense` takes the VectorIndex called
// "dense_index" and the Encoder called "encoder" from the Resources given to Pipeline::Parse or
// Pipeline::Bind. The set of names is open: a user stage may ask for Get<MyIndex>("splade").
//
//   Resources r;
//   r.Set<VectorIndex>("dense_index", index).Set<Encoder>("encoder", encoder);
//   Pipeline p = *Pipeline::Parse("dense >> rocchio(topk=5) >> dense", r);
//
// An object is stored under the type it was set as: Set<VectorIndex>(name, flat) is found by
// Get<VectorIndex>(name), not by Get<FlatIndex>(name). Objects are shared (the stages built
// from them keep them alive); Borrow stores a pointer the caller keeps alive instead.
#ifndef DENSEFB_RESOURCES_H_
#define DENSEFB_RESOURCES_H_

#include <map>
#include <memory>
#include <string>
#include <typeindex>
#include <typeinfo>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "densefb/status.h"

namespace densefb {

// The names the built-in stages use by default.
namespace resource {
inline constexpr char kCorpus[] = "corpus";               // Corpus: document texts and names
inline constexpr char kEncoder[] = "encoder";             // Encoder: query bi-encoder
inline constexpr char kDenseIndex[] = "dense_index";      // VectorIndex: flat or HNSW
inline constexpr char kBm25[] = "bm25";                   // Bm25Collection
inline constexpr char kTokenEncoder[] = "token_encoder";  // TokenEncoder (ColBERT-style)
inline constexpr char kMultiVector[] = "multivector";     // TokenCollection
inline constexpr char kCrossEncoder[] = "cross_encoder";  // PairScorer
inline constexpr char kGenerator[] = "generator";         // Generator (LLM stages)
}  // namespace resource

class Resources {
 public:
  // Stores `value` under `name` as a T (replacing what was there). A null value removes it.
  template <typename T>
  Resources& Set(const std::string& name, std::shared_ptr<const T> value) {
    if (value == nullptr) {
      entries_.erase(name);
    } else {
      entries_[name] = Entry{std::type_index(typeid(T)), std::move(value)};
    }
    return *this;
  }
  // Stores a borrowed pointer: the caller keeps *value alive while stages built from it live.
  template <typename T>
  Resources& Borrow(const std::string& name, const T* value) {
    return Set<T>(name, value == nullptr ? nullptr : std::shared_ptr<const T>(value, [](const T*) {}));
  }

  // The object set under `name` as a T; null if there is none. A name set as another type is
  // null too (Require says which type it holds).
  template <typename T>
  std::shared_ptr<const T> Get(absl::string_view name) const {
    auto it = entries_.find(std::string(name));
    if (it == entries_.end() || it->second.type != std::type_index(typeid(T))) return nullptr;
    return std::static_pointer_cast<const T>(it->second.value);
  }

  // The object set under `name` as Base, else as one of the Derived types (a stage reading an
  // interface also finds its in-memory implementation set as itself: GetAny<Bm25Collection,
  // Bm25Index>).
  template <typename Base, typename... Derived>
  std::shared_ptr<const Base> GetAny(absl::string_view name) const {
    std::shared_ptr<const Base> out = Get<Base>(name);
    ((out = out != nullptr ? out : std::shared_ptr<const Base>(Get<Derived>(name))), ...);
    return out;
  }

  // As Get, but FailedPrecondition naming the stage, the resource and what it is, e.g.
  // "stage 'dense' needs a dense vector index (resource 'dense_index')".
  template <typename T>
  absl::StatusOr<std::shared_ptr<const T>> Require(absl::string_view name, absl::string_view stage,
                                                   absl::string_view what) const {
    std::shared_ptr<const T> p = Get<T>(name);
    if (p != nullptr) return p;
    return Missing(name, stage, what, typeid(T).name());
  }

  bool Has(absl::string_view name) const { return entries_.count(std::string(name)) > 0; }
  // The names set, sorted.
  std::vector<std::string> Names() const;

 private:
  struct Entry {
    std::type_index type = std::type_index(typeid(void));
    std::shared_ptr<const void> value;
  };
  absl::Status Missing(absl::string_view name, absl::string_view stage, absl::string_view what,
                       const char* wanted_type) const;
  std::map<std::string, Entry> entries_;
};

// FailedPrecondition "stage 'S' needs WHAT (resource 'NAME')": what a stage built without one of
// its resources returns when it runs.
absl::Status MissingResource(absl::string_view stage, absl::string_view what, absl::string_view name);

}  // namespace densefb

#endif  // DENSEFB_RESOURCES_H_
