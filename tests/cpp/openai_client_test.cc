// The C++ OpenAI-compatible client against tests/fake_llm_server.py, started as a subprocess
// on 127.0.0.1 (a C++ application needs no Python to use the client; the test server does).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "densefb/openai_client.h"
#include "test_util.h"

namespace densefb {
namespace {

// The fake server as a child process; its port read from its first output line.
class FakeServer {
 public:
  FakeServer() {
    int fds[2];
    if (pipe(fds) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(fds[1], 1);
      close(fds[0]);
      close(fds[1]);
      const std::string script = std::string(DENSEFB_SOURCE_DIR) + "/tests/fake_llm_server.py";
      execlp("python3", "python3", script.c_str(), "--port", "0", static_cast<char*>(nullptr));
      _exit(127);
    }
    close(fds[1]);
    FILE* out = fdopen(fds[0], "r");
    char line[64] = {0};
    if (out != nullptr && fgets(line, sizeof line, out) != nullptr) port_ = std::atoi(line);
    if (out != nullptr) fclose(out);
  }
  ~FakeServer() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
  }
  bool ok() const { return port_ > 0; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1"; }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
};

std::shared_ptr<OpenAiGenerator> Client(const std::string& url, int retries = 3, double timeout = 10,
                                        int concurrency = 4) {
  OpenAiConfig c;
  c.base_url = url;
  c.model = "fake-model";
  c.api_key = "sk-test";
  c.max_retries = retries;
  c.timeout_s = timeout;
  c.backoff_s = 0.01;
  c.max_concurrency = concurrency;
  auto g = OpenAiGenerator::Create(c);
  REQUIRE(g.ok());
  return *g;
}

double Seconds(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

TEST_CASE("OpenAI client: answers, retries, errors, timeouts, concurrency, logprobs", "[llm]") {
  FakeServer server;
  if (!server.ok()) DENSEFB_SKIP("python3 is needed to run tests/fake_llm_server.py");

  SECTION("answers and usage") {
    auto g = Client(server.url());
    auto out = g->Generate({"#answer: [2] > [1]", "#answer: one two three"});
    REQUIRE(out.ok());
    CHECK((*out)[0].text == "[2] > [1]");
    CHECK((*out)[1].completion_tokens == 3);
    CHECK(g->Stats().requests == 2);
    CHECK(g->ToString().find("sk-test") == std::string::npos);
  }
  SECTION("429 and 5xx are retried, then fail with the status") {
    auto g = Client(server.url(), 2);
    auto ok = g->Generate({"#status: 429 x2\n#answer: fine"});
    REQUIRE(ok.ok());
    CHECK((*ok)[0].text == "fine");
    CHECK(g->Stats().retries == 2);
    auto bad = g->Generate({"#status: 500"});
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.status().message().find("HTTP 500") != std::string::npos);
    CHECK(bad.status().message().find("after 2 retries") != std::string::npos);
    CHECK(g->Stats().failures == 1);
  }
  SECTION("malformed JSON and missing choices") {
    auto g = Client(server.url());
    auto a = g->Generate({"#malformed"});
    REQUIRE_FALSE(a.ok());
    CHECK(a.status().message().find("not a JSON object") != std::string::npos);
    auto b = g->Generate({"#nochoices"});
    REQUIRE_FALSE(b.ok());
    CHECK(b.status().message().find("no choices") != std::string::npos);
  }
  SECTION("a timeout fails in bounded time") {
    auto g = Client(server.url(), 0, 0.4);
    const auto start = std::chrono::steady_clock::now();
    auto r = g->Generate({"#sleep: 3"});
    REQUIRE_FALSE(r.ok());
    CHECK(Seconds(start) < 2.0);
  }
  SECTION("the concurrency limit holds") {
    auto g = Client(server.url(), 0, 10, 2);
    std::vector<std::string> prompts;
    for (int i = 0; i < 6; ++i) prompts.push_back("#sleep: 0.3\n#answer: " + std::to_string(i));
    const auto start = std::chrono::steady_clock::now();
    auto r = g->Generate(prompts);
    REQUIRE(r.ok());
    CHECK((*r)[5].text == "5");
    const double s = Seconds(start);
    CHECK(s > 0.85);  // three rounds of two
    CHECK(s < 3.0);
  }
  SECTION("first-token logprobs over labels") {
    auto g = Client(server.url());
    std::vector<std::string> labels = {"A", "B", "C"};
    auto lp = g->FirstTokenLogprobs({"#logprobs: B=-0.25,A=-1.5"}, labels);
    REQUIRE(lp.ok());
    CHECK((*lp)[0][0] == -1.5);
    CHECK((*lp)[0][1] == -0.25);
    CHECK(std::isinf((*lp)[0][2]));
  }
  SECTION("the cache: a re-run makes no requests and answers the same") {
    const std::string dir = testing::TempDir("llm_cache");
    auto inner = Client(server.url());
    auto cached = *CachingGenerator::Create(inner, dir);
    auto a = cached->Generate({"first prompt", "second prompt"});
    REQUIRE(a.ok());
    auto inner2 = Client(server.url());
    auto cached2 = *CachingGenerator::Create(inner2, dir);
    auto b = cached2->Generate({"first prompt", "second prompt"});
    REQUIRE(b.ok());
    CHECK((*a)[0].text == (*b)[0].text);
    CHECK((*a)[1].text == (*b)[1].text);
    CHECK(cached2->Stats().requests == 0);
    CHECK(cached2->Stats().cache_hits == 2);
  }
}

TEST_CASE("OpenAI client: settings and unreachable servers", "[llm]") {
  OpenAiConfig c;
  c.base_url = "ftp://x";
  c.model = "m";
  CHECK(OpenAiGenerator::Create(c).status().message().find("not an http") != std::string::npos);
  c.base_url = "http://127.0.0.1:9/v1";
  c.max_retries = 1;
  c.backoff_s = 0.01;
  auto g = *OpenAiGenerator::Create(c);
  auto r = g->Generate({"hello"});
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message().find("127.0.0.1") != std::string::npos);
  CHECK(g->Stats().retries == 1);
}

}  // namespace
}  // namespace densefb
