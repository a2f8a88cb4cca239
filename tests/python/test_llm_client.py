"""The generator layer against a real HTTP server on 127.0.0.1 (tests/fake_llm_server.py):
retries, timeouts, malformed answers, the concurrency limit, the cache, logprobs and counts."""
import json
import math
import sys
import time
import urllib.request
from pathlib import Path

import pytest

import densefb

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import fake_llm_server  # noqa: E402


def server_stats(url):
    with urllib.request.urlopen(url + "/stats", timeout=5) as r:
        return json.loads(r.read())


def gen(url, **kw):
    kw.setdefault("backoff", 0.01)
    return densefb.OpenAIGenerator(url, "fake-model", **kw)


def test_answers_and_token_counts(server):
    g = gen(server)
    prompts = ["#answer: [2] > [1]", "tell me about proteins"]
    out = g.generate(prompts)
    assert out[0] == "[2] > [1]"
    assert out[1] and out[1] == gen(server).generate(prompts[1:])[0]   # deterministic
    s = g.stats()
    assert s["requests"] == 2 and s["retries"] == 0 and s["failures"] == 0
    assert s["prompt_tokens"] == sum(len(p.split()) for p in prompts)
    assert s["completion_tokens"] == sum(len(t.split()) for t in out)
    assert s["seconds"] > 0


def test_completions_endpoint(server):
    g = gen(server, chat=False)
    assert g.generate(["#answer: plain"]) == ["plain"]
    lp = g.first_token_logprobs(["#logprobs: A=-0.5,B=-1.5"], ["A", "B", "C"])
    assert lp[0][:2] == [-0.5, -1.5] and lp[0][2] == -math.inf


def test_retries_on_429_and_500(server):
    g = gen(server, max_retries=3)
    assert g.generate(["#status: 429 x2\n#answer: ok"]) == ["ok"]
    assert g.generate(["#status: 503 x1\n#answer: ok2"]) == ["ok2"]
    s = g.stats()
    assert s["retries"] == 3 and s["requests"] == 2 and s["failures"] == 0
    assert server_stats(server)["requests"] == 5


def test_retry_after_is_honoured(server):
    g = gen(server, max_retries=1)
    t = time.time()
    assert g.generate(["#status: 429 x1\n#retry-after: 0.5\n#answer: later"]) == ["later"]
    assert time.time() - t >= 0.5


def test_persistent_500_fails_after_retries(server):
    g = gen(server, max_retries=2)
    with pytest.raises(OSError, match=r"HTTP 500.*after 2 retries"):
        g.generate(["#status: 500"])
    assert g.stats()["retries"] == 2 and g.stats()["failures"] == 1
    assert server_stats(server)["requests"] == 3


def test_client_error_is_not_retried(server):
    g = gen(server, max_retries=3)
    with pytest.raises(Exception, match="HTTP 404"):
        g.generate(["#status: 404"])
    assert server_stats(server)["requests"] == 1


def test_timeout_is_bounded(server):
    g = gen(server, timeout=0.5, max_retries=1)
    t = time.time()
    with pytest.raises(OSError, match="[Tt]imeout|timed out"):
        g.generate(["#sleep: 3"])
    assert time.time() - t < 2.5          # two attempts of 0.5 s and a short backoff, not 3 s each


def test_malformed_answers(server):
    g = gen(server)
    with pytest.raises(Exception, match="not a JSON object"):
        g.generate(["#malformed"])
    with pytest.raises(Exception, match="no choices"):
        g.generate(["#nochoices"])


def test_unreachable_endpoint_is_a_clear_error():
    g = densefb.OpenAIGenerator("http://127.0.0.1:9/v1", "m", max_retries=1, backoff=0.01)
    t = time.time()
    with pytest.raises(OSError, match=r"127\.0\.0\.1.*after 1 retries"):
        g.generate(["hello"])
    assert time.time() - t < 5


def test_missing_settings_name_the_environment(monkeypatch):
    for v in ("DENSEFB_LLM_BASE_URL", "OPENAI_BASE_URL", "DENSEFB_LLM_MODEL"):
        monkeypatch.delenv(v, raising=False)
    with pytest.raises(ValueError, match="DENSEFB_LLM_BASE_URL"):
        densefb.OpenAIGenerator(model="m")
    with pytest.raises(ValueError, match="DENSEFB_LLM_MODEL"):
        densefb.OpenAIGenerator("http://127.0.0.1:1/v1")
    with pytest.raises(ValueError, match="max_concurrency"):
        densefb.OpenAIGenerator("http://127.0.0.1:1/v1", "m", max_concurrency=0)


def test_environment_settings_and_api_key(server, monkeypatch):
    monkeypatch.setenv("DENSEFB_LLM_BASE_URL", server)
    monkeypatch.setenv("DENSEFB_LLM_MODEL", "env-model")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-123")
    g = densefb.OpenAIGenerator()
    assert g.model == "env-model"
    assert g.generate(["#answer: x"]) == ["x"]
    assert server_stats(server)["auth"] == ["Bearer sk-secret-123"]
    assert "sk-secret" not in repr(g) and "sk-secret" not in g._spec()


def test_concurrency_limit(server):
    g = gen(server, max_concurrency=3)
    prompts = [f"#sleep: 0.3\n#answer: {i}" for i in range(9)]
    t = time.time()
    assert g.generate(prompts) == [str(i) for i in range(9)]
    elapsed = time.time() - t
    assert server_stats(server)["max_concurrent"] == 3
    assert 0.85 < elapsed < 3.0           # three rounds of 0.3 s, not nine


def test_cache_makes_reruns_free_and_identical(server, tmp_path):
    prompts = [f"query {i} about cells" for i in range(6)]
    g1 = gen(server, cache_dir=str(tmp_path))
    first = g1.generate(prompts)
    lp1 = g1.first_token_logprobs(prompts[:2], ["A", "B", "Z9"])
    assert g1.stats()["requests"] == 8 and g1.stats()["cache_hits"] == 0
    g2 = gen(server, cache_dir=str(tmp_path))
    assert g2.generate(prompts) == first
    assert g2.first_token_logprobs(prompts[:2], ["A", "B", "Z9"]) == lp1
    assert g2.stats()["requests"] == 0 and g2.stats()["cache_hits"] == 8
    assert server_stats(server)["requests"] == 8
    # other options are other entries
    g2.generate(prompts[:1], max_tokens=5)
    assert g2.stats()["requests"] == 1


def test_cache_detects_corrupt_entries(server, tmp_path):
    g = gen(server, cache_dir=str(tmp_path))
    answer = g.generate(["#answer: kept"])
    files = [p for p in tmp_path.rglob("*.json")]
    assert len(files) == 1
    data = json.loads(files[0].read_text())
    data["value"] = data["value"].replace("kept", "evil")      # checksum no longer matches
    files[0].write_text(json.dumps(data))
    g2 = gen(server, cache_dir=str(tmp_path))
    assert g2.generate(["#answer: kept"]) == answer             # asked again, not the bad entry
    assert g2.corrupt_entries == 1 and g2.stats()["requests"] == 1
    files[0].write_bytes(b"\x00garbage")
    g3 = gen(server, cache_dir=str(tmp_path))
    assert g3.generate(["#answer: kept"]) == answer and g3.corrupt_entries == 1
    g4 = gen(server, cache_dir=str(tmp_path))                   # rewritten: a hit again
    assert g4.generate(["#answer: kept"]) == answer and g4.stats()["cache_hits"] == 1


def test_logprobs_map_labels(server):
    g = gen(server)
    lp = g.first_token_logprobs(["#logprobs: Yes=-0.1,No=-2.5,maybe=-3", "#logprobs: No=-0.2"],
                                ["Yes", "No"])
    assert lp == [[-0.1, -2.5], [-math.inf, -0.2]]


class Upper(densefb.Generator):
    name = "upper"

    def complete(self, prompts, options):
        return [p.upper()[: options["max_tokens"]] for p in prompts]


class Broken(densefb.Generator):
    def complete(self, prompts, options):
        return ["only one"]


def test_python_generators():
    u = Upper()
    assert u.generate(["ab", "cd"], max_tokens=1) == ["A", "C"]
    assert u.stats()["requests"] == 2
    with pytest.raises(Exception, match="no first-token log-probabilities"):
        u.first_token_logprobs(["x"], ["A"])
    with pytest.raises(ValueError, match="1 texts for 2 prompts"):
        Broken().generate(["a", "b"])
    c = densefb.CallableGenerator(lambda p: p[::-1], logprobs=lambda p, labels: [-1.0] * len(labels))
    assert c.generate(["abc"]) == ["cba"] and c.first_token_logprobs(["x"], ["A", "B"]) == [[-1.0, -1.0]]

    def boom(p):
        raise RuntimeError("model crashed")
    with pytest.raises(Exception, match="model crashed"):
        densefb.CallableGenerator(boom).generate(["x"])


def test_python_generator_behind_the_cache(tmp_path):
    calls = []
    c = densefb.CallableGenerator(lambda p: calls.append(p) or p + "!", name="bang")
    g = densefb.cached(c, str(tmp_path))
    assert g.generate(["a", "b"]) == ["a!", "b!"]
    assert densefb.cached(densefb.CallableGenerator(lambda p: "other", name="bang"), str(tmp_path)).generate(["a"]) == ["a!"]
    assert densefb.cached(densefb.CallableGenerator(lambda p: "other", name="other-model"), str(tmp_path)).generate(["a"]) == ["other"]
    assert calls == ["a", "b"]
