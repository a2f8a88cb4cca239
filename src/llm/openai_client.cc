// OpenAiGenerator (include/densefb/openai_client.h): libcurl easy handles, one per request,
// on up to max_concurrency threads; nlohmann::json for the bodies.
#include <curl/curl.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "densefb/openai_client.h"
#include "densefb/params.h"
#include "nlohmann/json.hpp"

namespace densefb {
namespace {

using Json = nlohmann::json;

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? std::string() : std::string(v);
}

std::string Excerpt(const std::string& body) {
  std::string s = body.substr(0, 200);
  for (char& c : s) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return body.size() > 200 ? absl::StrCat(s, "...") : s;
}

size_t WriteBody(char* data, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

size_t ReadHeader(char* data, size_t size, size_t n, void* user) {
  absl::string_view line(data, size * n);
  if (absl::StartsWithIgnoreCase(line, "retry-after:")) {
    double seconds = 0;
    if (absl::SimpleAtod(absl::StripAsciiWhitespace(line.substr(12)), &seconds)) {
      *static_cast<double*>(user) = seconds;
    }
  }
  return size * n;
}

struct HttpResult {
  CURLcode curl = CURLE_OK;
  long status = 0;  // NOLINT(runtime/int): libcurl's type
  std::string body;
  double retry_after = -1;
  std::string curl_error;
};

// A counting semaphore: requests in flight of one generator.
class Slots {
 public:
  explicit Slots(int n) : free_(n) {}
  void Acquire() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return free_ > 0; });
    --free_;
  }
  void Release() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++free_;
    }
    cv_.notify_one();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int free_;
};

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

bool Retryable(const HttpResult& r) {
  if (r.curl != CURLE_OK) {
    return r.curl == CURLE_OPERATION_TIMEDOUT || r.curl == CURLE_COULDNT_CONNECT ||
           r.curl == CURLE_GOT_NOTHING || r.curl == CURLE_RECV_ERROR || r.curl == CURLE_SEND_ERROR ||
           r.curl == CURLE_PARTIAL_FILE;
  }
  return r.status == 429 || r.status >= 500;
}

}  // namespace

struct OpenAiGenerator::Impl {
  explicit Impl(int concurrency) : slots(concurrency) {}
  Slots slots;
};

OpenAiGenerator::OpenAiGenerator(OpenAiConfig config)
    : config_(std::move(config)), impl_(std::make_unique<Impl>(config_.max_concurrency)) {}
OpenAiGenerator::~OpenAiGenerator() = default;

absl::StatusOr<std::shared_ptr<OpenAiGenerator>> OpenAiGenerator::Create(OpenAiConfig config) {
  if (config.base_url.empty()) config.base_url = Env("DENSEFB_LLM_BASE_URL");
  if (config.base_url.empty()) config.base_url = Env("OPENAI_BASE_URL");
  if (config.model.empty()) config.model = Env("DENSEFB_LLM_MODEL");
  if (config.api_key.empty()) config.api_key = Env("DENSEFB_LLM_API_KEY");
  if (config.api_key.empty()) config.api_key = Env("OPENAI_API_KEY");
  if (config.base_url.empty()) {
    return absl::InvalidArgumentError(
        "LLM base_url is not set: give it (e.g. http://127.0.0.1:8000/v1) or set DENSEFB_LLM_BASE_URL "
        "or OPENAI_BASE_URL");
  }
  if (!absl::StartsWith(config.base_url, "http://") && !absl::StartsWith(config.base_url, "https://")) {
    return absl::InvalidArgumentError(
        absl::StrCat("LLM base_url '", config.base_url, "' is not an http:// or https:// URL"));
  }
  while (absl::EndsWith(config.base_url, "/")) config.base_url.pop_back();
  if (config.model.empty()) {
    return absl::InvalidArgumentError("LLM model is not set: give it or set DENSEFB_LLM_MODEL");
  }
  if (config.max_concurrency < 1 || config.max_concurrency > 1024) {
    return absl::InvalidArgumentError(
        absl::StrCat("LLM max_concurrency = ", config.max_concurrency, " is out of range [1, 1024]"));
  }
  if (!(config.timeout_s > 0) || !(config.timeout_s <= 86400)) {
    return absl::InvalidArgumentError(absl::StrCat("LLM timeout = ", config.timeout_s, " s is out of range (0, 86400]"));
  }
  if (config.max_retries < 0 || config.max_retries > 100) {
    return absl::InvalidArgumentError(absl::StrCat("LLM max_retries = ", config.max_retries, " is out of range [0, 100]"));
  }
  if (!(config.backoff_s >= 0) || !(config.backoff_s <= 60)) {
    return absl::InvalidArgumentError(absl::StrCat("LLM backoff = ", config.backoff_s, " s is out of range [0, 60]"));
  }
  GlobalInit();
  return std::shared_ptr<OpenAiGenerator>(new OpenAiGenerator(std::move(config)));
}

std::string OpenAiGenerator::ToString() const {
  return absl::StrCat("openai(model=", SpecString(config_.model), ",base_url=", SpecString(config_.base_url),
                      ",chat=", config_.chat ? "true" : "false", ")");
}

namespace {

// One POST with retries; on success the parsed JSON body.
absl::StatusOr<Json> Post(const OpenAiConfig& config, Slots& slots, GeneratorCounters& counters,
                          const std::string& url, const std::string& body) {
  std::string last_error;
  for (int attempt = 0; attempt <= config.max_retries; ++attempt) {
    HttpResult r;
    slots.Acquire();
    const auto start = std::chrono::steady_clock::now();
    CURL* curl = curl_easy_init();
    if (curl == nullptr) {
      slots.Release();
      return absl::InternalError("curl_easy_init failed");
    }
    char error_buffer[CURL_ERROR_SIZE] = {0};
    curl_slist* headers = nullptr;
    headers = curl_slist_append(headers, "Content-Type: application/json");
    const std::string auth = absl::StrCat("Authorization: Bearer ", config.api_key);
    if (!config.api_key.empty()) headers = curl_slist_append(headers, auth.c_str());
    const long timeout_ms = static_cast<long>(config.timeout_s * 1000);  // NOLINT(runtime/int)
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));  // NOLINT(runtime/int)
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, std::min<long>(timeout_ms, 10000));  // NOLINT
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, WriteBody);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &r.body);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, ReadHeader);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &r.retry_after);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_buffer);
    r.curl = curl_easy_perform(curl);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r.status);
    r.curl_error = error_buffer[0] != 0 ? std::string(error_buffer) : std::string(curl_easy_strerror(r.curl));
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    slots.Release();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

    if (r.curl == CURLE_OK && r.status >= 200 && r.status < 300) {
      Json j = Json::parse(r.body, nullptr, /*allow_exceptions=*/false);
      if (j.is_discarded() || !j.is_object()) {
        counters.AddFailure();
        return absl::DataLossError(absl::StrCat("LLM server ", url, ": HTTP ", r.status,
                                                " with a body that is not a JSON object: '", Excerpt(r.body), "'"));
      }
      std::int64_t prompt_tokens = 0, completion_tokens = 0;
      if (j.contains("usage") && j["usage"].is_object()) {
        const Json& u = j["usage"];
        if (u.contains("prompt_tokens") && u["prompt_tokens"].is_number()) prompt_tokens = u["prompt_tokens"].get<std::int64_t>();
        if (u.contains("completion_tokens") && u["completion_tokens"].is_number()) {
          completion_tokens = u["completion_tokens"].get<std::int64_t>();
        }
      }
      counters.AddCall(prompt_tokens, completion_tokens, seconds);
      return j;
    }
    last_error = r.curl != CURLE_OK
                     ? absl::StrCat("LLM server ", url, ": ", r.curl_error)
                     : absl::StrCat("LLM server ", url, ": HTTP ", r.status, ": '", Excerpt(r.body), "'");
    if (!Retryable(r)) break;
    if (attempt == config.max_retries) {
      absl::StrAppend(&last_error, " (after ", config.max_retries, " retries)");
      break;
    }
    counters.AddRetry();
    double wait = config.backoff_s * std::pow(2.0, attempt);
    if (r.retry_after >= 0) wait = std::max(wait, r.retry_after);
    wait = std::min(wait, 30.0);
    std::this_thread::sleep_for(std::chrono::duration<double>(wait));
  }
  counters.AddFailure();
  return absl::UnavailableError(last_error);
}

Json RequestBody(const OpenAiConfig& config, const std::string& prompt, const GenerateOptions& options,
                 int max_tokens, bool logprobs) {
  Json body;
  body["model"] = config.model;
  body["temperature"] = options.temperature;
  body["max_tokens"] = max_tokens;
  if (!options.stop.empty()) body["stop"] = options.stop;
  if (config.chat) {
    Json messages = Json::array();
    if (!options.system.empty()) messages.push_back({{"role", "system"}, {"content", options.system}});
    messages.push_back({{"role", "user"}, {"content", prompt}});
    body["messages"] = std::move(messages);
    if (logprobs) {
      body["logprobs"] = true;
      body["top_logprobs"] = 20;
    }
  } else {
    body["prompt"] = options.system.empty() ? prompt : absl::StrCat(options.system, "\n\n", prompt);
    if (logprobs) body["logprobs"] = 20;
  }
  return body;
}

absl::Status BadShape(const std::string& url, const Json& j, const char* what) {
  return absl::DataLossError(absl::StrCat("LLM server ", url, ": the response has no ", what, ": '",
                                          Excerpt(j.dump()), "'"));
}

absl::StatusOr<const Json*> FirstChoice(const std::string& url, const Json& j) {
  if (!j.contains("choices") || !j["choices"].is_array() || j["choices"].empty() || !j["choices"][0].is_object()) {
    return BadShape(url, j, "choices");
  }
  return &j["choices"][0];
}

// Runs `one(i)` for i in [0, n) on up to `threads` threads; the first error (by index) wins.
template <typename F>
absl::Status RunBatch(std::size_t n, int threads, F one) {
  std::vector<absl::Status> errors(n);
  std::atomic<std::size_t> next{0};
  auto worker = [&] {
    for (std::size_t i = next.fetch_add(1); i < n; i = next.fetch_add(1)) errors[i] = one(i);
  };
  const int t = static_cast<int>(std::min<std::size_t>(n, static_cast<std::size_t>(std::max(threads, 1))));
  std::vector<std::thread> pool;
  for (int k = 1; k < t; ++k) pool.emplace_back(worker);
  worker();
  for (std::thread& th : pool) th.join();
  for (absl::Status& s : errors) {
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<Generation>> OpenAiGenerator::Generate(absl::Span<const std::string> prompts,
                                                                  const GenerateOptions& options) const {
  if (options.max_tokens < 1) {
    return absl::InvalidArgumentError(absl::StrCat("LLM max_tokens = ", options.max_tokens, " must be at least 1"));
  }
  const std::string url = absl::StrCat(config_.base_url, config_.chat ? "/chat/completions" : "/completions");
  std::vector<Generation> out(prompts.size());
  DENSEFB_RETURN_IF_ERROR(RunBatch(prompts.size(), config_.max_concurrency, [&](std::size_t i) -> absl::Status {
    const std::string body = RequestBody(config_, prompts[i], options, options.max_tokens, false).dump();
    DENSEFB_ASSIGN_OR_RETURN(Json j, Post(config_, impl_->slots, counters(), url, body));
    DENSEFB_ASSIGN_OR_RETURN(const Json* choice, FirstChoice(url, j));
    const Json* text = nullptr;
    if (config_.chat) {
      if (choice->contains("message") && (*choice)["message"].is_object() &&
          (*choice)["message"].contains("content")) {
        text = &(*choice)["message"]["content"];
      }
    } else if (choice->contains("text")) {
      text = &(*choice)["text"];
    }
    if (text == nullptr || !(text->is_string() || text->is_null())) {
      return BadShape(url, j, config_.chat ? "choices[0].message.content" : "choices[0].text");
    }
    out[i].text = text->is_null() ? std::string() : text->get<std::string>();
    if (j.contains("usage") && j["usage"].is_object()) {
      const Json& u = j["usage"];
      if (u.contains("prompt_tokens") && u["prompt_tokens"].is_number()) out[i].prompt_tokens = u["prompt_tokens"].get<std::int64_t>();
      if (u.contains("completion_tokens") && u["completion_tokens"].is_number()) {
        out[i].completion_tokens = u["completion_tokens"].get<std::int64_t>();
      }
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<std::vector<std::vector<double>>> OpenAiGenerator::FirstTokenLogprobs(
    absl::Span<const std::string> prompts, absl::Span<const std::string> labels, const GenerateOptions& options) const {
  const std::string url = absl::StrCat(config_.base_url, config_.chat ? "/chat/completions" : "/completions");
  std::vector<std::string> wanted;
  for (const std::string& l : labels) wanted.emplace_back(absl::StripAsciiWhitespace(l));
  std::vector<std::vector<double>> out(prompts.size(), std::vector<double>(labels.size(), kNoLogprob));
  DENSEFB_RETURN_IF_ERROR(RunBatch(prompts.size(), config_.max_concurrency, [&](std::size_t i) -> absl::Status {
    const std::string body = RequestBody(config_, prompts[i], options, 1, true).dump();
    DENSEFB_ASSIGN_OR_RETURN(Json j, Post(config_, impl_->slots, counters(), url, body));
    DENSEFB_ASSIGN_OR_RETURN(const Json* choice, FirstChoice(url, j));
    std::vector<std::pair<std::string, double>> top;
    const Json& lp = choice->contains("logprobs") ? (*choice)["logprobs"] : Json();
    if (config_.chat) {
      if (!lp.is_object() || !lp.contains("content") || !lp["content"].is_array() || lp["content"].empty() ||
          !lp["content"][0].contains("top_logprobs") || !lp["content"][0]["top_logprobs"].is_array()) {
        return BadShape(url, j, "choices[0].logprobs.content[0].top_logprobs");
      }
      for (const Json& e : lp["content"][0]["top_logprobs"]) {
        if (e.is_object() && e.contains("token") && e["token"].is_string() && e.contains("logprob") &&
            e["logprob"].is_number()) {
          top.emplace_back(e["token"].get<std::string>(), e["logprob"].get<double>());
        }
      }
    } else {
      if (!lp.is_object() || !lp.contains("top_logprobs") || !lp["top_logprobs"].is_array() ||
          lp["top_logprobs"].empty() || !lp["top_logprobs"][0].is_object()) {
        return BadShape(url, j, "choices[0].logprobs.top_logprobs[0]");
      }
      for (const auto& [token, value] : lp["top_logprobs"][0].items()) {
        if (value.is_number()) top.emplace_back(token, value.get<double>());
      }
    }
    for (const auto& [token, value] : top) {
      const absl::string_view t = absl::StripAsciiWhitespace(token);
      for (std::size_t l = 0; l < wanted.size(); ++l) {
        if (t == wanted[l]) out[i][l] = std::max(out[i][l], value);
      }
    }
    return absl::OkStatus();
  }));
  return out;
}

}  // namespace densefb
