// CachingGenerator (include/densefb/openai_client.h): one JSON file per answer.
#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "densefb/openai_client.h"
#include "densefb/params.h"
#include "nlohmann/json.hpp"

namespace densefb {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

// Two FNV-1a 64-bit hashes with different offset bases: 128 bits for the file name. The full
// key is stored and compared, so a collision is a cache miss, never a wrong answer.
std::string KeyHash(const std::string& key) {
  std::uint64_t a = 14695981039346656037ULL, b = 0x6c62272e07bb0142ULL;
  for (unsigned char c : key) {
    a = (a ^ c) * 1099511628211ULL;
    b = (b ^ c) * 0x100000001b3ULL;
    b ^= b >> 29;
  }
  return absl::StrFormat("%016x%016x", a, b);
}

std::string Key(const std::string& model, const char* op, const std::string& prompt, const GenerateOptions& o,
                absl::Span<const std::string> labels) {
  Json k;
  k["model"] = model;
  k["op"] = op;
  k["prompt"] = prompt;
  k["max_tokens"] = o.max_tokens;
  k["temperature"] = o.temperature;
  k["stop"] = o.stop;
  k["system"] = o.system;
  k["sample"] = o.sample;
  if (!labels.empty()) k["labels"] = std::vector<std::string>(labels.begin(), labels.end());
  return k.dump();
}

std::uint32_t Crc(const std::string& a, const std::string& b) {
  uLong crc = crc32(0L, Z_NULL, 0);
  crc = crc32(crc, reinterpret_cast<const Bytef*>(a.data()), static_cast<uInt>(a.size()));
  crc = crc32(crc, reinterpret_cast<const Bytef*>(b.data()), static_cast<uInt>(b.size()));
  return static_cast<std::uint32_t>(crc);
}

fs::path EntryPath(const std::string& dir, const std::string& key) {
  const std::string h = KeyHash(key);
  return fs::path(dir) / h.substr(0, 2) / (h + ".json");
}

enum class Lookup { kMiss, kHit, kCorrupt };

// The stored value for `key` (a JSON text) if the entry exists, matches and checks out.
Lookup Read(const std::string& dir, const std::string& key, Json* value) {
  const fs::path path = EntryPath(dir, key);
  std::ifstream in(path, std::ios::binary);
  if (!in) return Lookup::kMiss;
  std::stringstream ss;
  ss << in.rdbuf();
  Json e = Json::parse(ss.str(), nullptr, false);
  if (e.is_discarded() || !e.is_object() || !e.contains("key") || !e.contains("value") || !e.contains("crc") ||
      !e["key"].is_string() || !e["value"].is_string() || !e["crc"].is_number_unsigned()) {
    return Lookup::kCorrupt;
  }
  const std::string k = e["key"].get<std::string>(), v = e["value"].get<std::string>();
  if (k != key) return Lookup::kMiss;  // a hash collision: another prompt's entry
  if (Crc(k, v) != e["crc"].get<std::uint32_t>()) return Lookup::kCorrupt;
  *value = Json::parse(v, nullptr, false);
  return value->is_discarded() ? Lookup::kCorrupt : Lookup::kHit;
}

absl::Status Write(const std::string& dir, const std::string& key, const Json& value) {
  const fs::path path = EntryPath(dir, key);
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  if (ec) return absl::InternalError(absl::StrCat("LLM cache: cannot create ", path.parent_path().string(), ": ", ec.message()));
  const std::string v = value.dump();
  Json e;
  e["key"] = key;
  e["value"] = v;
  e["crc"] = Crc(key, v);
  static std::atomic<std::uint64_t> counter{0};
  const fs::path tmp = path.string() + absl::StrCat(".tmp.", ::getpid(), ".", counter.fetch_add(1));
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << e.dump();
    out.flush();
    if (!out) {
      fs::remove(tmp, ec);
      return absl::InternalError(absl::StrCat("LLM cache: cannot write ", tmp.string()));
    }
  }
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    return absl::InternalError(absl::StrCat("LLM cache: cannot rename into ", path.string()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::shared_ptr<CachingGenerator>> CachingGenerator::Create(std::shared_ptr<const Generator> inner,
                                                                          std::string dir) {
  if (inner == nullptr) return absl::InvalidArgumentError("LLM cache: no generator to cache");
  if (dir.empty()) return absl::InvalidArgumentError("LLM cache: empty directory");
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir)) {
    return absl::InvalidArgumentError(absl::StrCat("LLM cache: '", dir, "' is not a directory that can be created"));
  }
  return std::shared_ptr<CachingGenerator>(new CachingGenerator(std::move(inner), std::move(dir)));
}

std::string CachingGenerator::ToString() const {
  return absl::StrCat(inner_->ToString(), " cached in ", dir_);
}

GeneratorStats CachingGenerator::Stats() const {
  GeneratorStats s = inner_->Stats();
  s.cache_hits += Generator::Stats().cache_hits;
  return s;
}

// The answers to `prompts`: each from its cache entry when `decode` accepts it, the rest from
// one `fetch` call with the missing prompts, whose answers are written back with `encode`.
template <typename T, typename KeyFn, typename Decode, typename Fetch, typename Encode>
absl::StatusOr<std::vector<T>> CachingGenerator::Cached(absl::Span<const std::string> prompts, KeyFn key,
                                                        Decode decode, Fetch fetch, Encode encode) const {
  std::vector<T> out(prompts.size());
  std::vector<std::string> keys(prompts.size()), missing;
  std::vector<std::size_t> missing_at;
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    keys[i] = key(prompts[i]);
    Json v;
    const Lookup l = Read(dir_, keys[i], &v);
    if (l == Lookup::kHit && decode(v, &out[i])) {
      counters().AddCacheHit();
      continue;
    }
    if (l != Lookup::kMiss) corrupt_.fetch_add(1);
    missing.push_back(prompts[i]);
    missing_at.push_back(i);
  }
  if (missing.empty()) return out;
  DENSEFB_ASSIGN_OR_RETURN(std::vector<T> fresh, fetch(absl::Span<const std::string>(missing)));
  for (std::size_t j = 0; j < missing_at.size(); ++j) {
    const std::size_t i = missing_at[j];
    out[i] = std::move(fresh[j]);
    DENSEFB_RETURN_IF_ERROR(Write(dir_, keys[i], encode(out[i])));
  }
  return out;
}

absl::StatusOr<std::vector<Generation>> CachingGenerator::Generate(absl::Span<const std::string> prompts,
                                                                   const GenerateOptions& options) const {
  const std::string model = inner_->Model();
  return Cached<Generation>(
      prompts, [&](const std::string& p) { return Key(model, "generate", p, options, {}); },
      [](const Json& v, Generation* g) {
        if (!v.is_object() || !v.contains("text") || !v["text"].is_string()) return false;
        g->text = v["text"].get<std::string>();
        g->prompt_tokens = v.value("prompt_tokens", std::int64_t{0});
        g->completion_tokens = v.value("completion_tokens", std::int64_t{0});
        return true;
      },
      [&](absl::Span<const std::string> missing) { return inner_->Generate(missing, options); },
      [](const Generation& g) {
        return Json{{"text", g.text}, {"prompt_tokens", g.prompt_tokens}, {"completion_tokens", g.completion_tokens}};
      });
}

absl::StatusOr<std::vector<std::vector<double>>> CachingGenerator::FirstTokenLogprobs(
    absl::Span<const std::string> prompts, absl::Span<const std::string> labels, const GenerateOptions& options) const {
  const std::string model = inner_->Model();
  return Cached<std::vector<double>>(
      prompts, [&](const std::string& p) { return Key(model, "first_token_logprobs", p, options, labels); },
      [&](const Json& v, std::vector<double>* row) {
        if (!v.is_array() || v.size() != labels.size()) return false;
        for (const Json& x : v) row->push_back(x.is_number() ? x.get<double>() : kNoLogprob);
        return true;
      },
      [&](absl::Span<const std::string> missing) { return inner_->FirstTokenLogprobs(missing, labels, options); },
      [](const std::vector<double>& row) {
        Json v = Json::array();
        for (double x : row) v.push_back(std::isfinite(x) ? Json(x) : Json(nullptr));
        return v;
      });
}

}  // namespace densefb
