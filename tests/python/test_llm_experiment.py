"""`densefb experiment` with LLM stages against the test server on 127.0.0.1: the --llm-*
settings, the cost columns, the response cache (a re-run makes no calls and gives the same
numbers) and the stage counters in the JSON and the sidecars."""
import json
import math
import urllib.request
from pathlib import Path

import pytest

import densefb

from test_experiment import small_beir  # noqa: E402,F401  (the fixture)

RERANK = "bm25 >> rerank_listwise(k=30)"


def requests_seen(url):
    with urllib.request.urlopen(url + "/stats", timeout=5) as r:
        return json.loads(r.read())["requests"]


def windows(n, window=20, step=10):
    """Sliding-window passes over a list of n candidates (RankGPT: from the bottom up)."""
    if n <= 1:
        return 0
    return 1 if n <= window else math.ceil((n - window) / step) + 1


def _cli(argv):
    from densefb import cli
    return cli.main(argv)


def test_experiment_reports_llm_cost_and_reruns_from_the_cache(small_beir, server, tmp_path, capsys,
                                                               monkeypatch):
    monkeypatch.setenv("DENSEFB_LLM_API_KEY", "sk-test-secret")
    cache = tmp_path / "cache"
    argv = ["experiment", "--dataset", str(small_beir), "--pipeline", "bm25", "--pipeline", RERANK,
            "--metrics", "nDCG@10", "--k", "100", "--llm-base-url", server, "--llm-model", "fake",
            "--llm-max-concurrency", "4", "--cache", str(cache), "--quiet",
            "--json", str(tmp_path / "a.json"), "--save-runs", str(tmp_path / "runs")]
    assert _cli(argv) == 0
    printed = capsys.readouterr().out
    assert "LLM calls" in printed and "tokens in" in printed
    data = json.loads((tmp_path / "a.json").read_text())
    base, rerank = data["systems"]
    assert base["llm_cost"] is None and base["stage_counters"] == {}
    # The number of calls is the number of windows over the BM25 candidate lists.
    run = densefb.read_trec_run(rerank["run_file"])
    lengths = {q: len(docs) for q, docs in run.to_dict().items()}
    expected = sum(windows(min(n, 30)) for n in lengths.values())
    cost = rerank["llm_cost"]
    assert cost["requests"] == expected == requests_seen(server)
    assert cost["cache_hits"] == 0 and cost["failures"] == 0 and cost["queries"] == 40
    assert cost["prompt_tokens"] > 0 and cost["completion_tokens"] > 0
    (counters,) = rerank["stage_counters"].values()
    assert counters["windows"] == expected
    # The test server answers with text that is no permutation: every window is repaired, counted.
    assert counters["unparseable"] + counters["repaired_missing"] > 0
    side = json.loads(Path(rerank["sidecar"]).read_text())
    assert side["llm_cost"]["requests"] == expected
    assert side["resources"]["generator"]["model"] == "fake"
    assert "sk-test-secret" not in json.dumps(side) and "sk-test-secret" not in json.dumps(data)
    # Again: every answer from the response cache, no request, identical numbers.
    argv2 = [a if a != str(tmp_path / "a.json") else str(tmp_path / "b.json") for a in argv]
    argv2 = argv2[:argv2.index("--save-runs")]
    assert _cli(argv2) == 0
    again = json.loads((tmp_path / "b.json").read_text())
    assert requests_seen(server) == expected
    assert again["systems"][1]["llm_cost"]["requests"] == 0
    assert again["systems"][1]["llm_cost"]["cache_hits"] == expected
    assert [s["per_query"] for s in again["systems"]] == [s["per_query"] for s in data["systems"]]


def test_experiment_llm_errors_are_one_line(small_beir, tmp_path, capsys, monkeypatch):
    for var in ("DENSEFB_LLM_BASE_URL", "OPENAI_BASE_URL", "DENSEFB_LLM_MODEL"):
        monkeypatch.delenv(var, raising=False)
    base = ["experiment", "--dataset", str(small_beir), "--pipeline", "bm25", "--pipeline", RERANK,
            "--no-cache", "--quiet", "--k", "50"]
    assert _cli(base) == 2
    err = capsys.readouterr().err.strip()
    assert "DENSEFB_LLM_BASE_URL" in err and len(err.splitlines()) == 1
    # Nothing listens on this port: the error names the URL, after bounded retries.
    assert _cli(base + ["--llm-base-url", "http://127.0.0.1:9/v1", "--llm-model", "m",
                        "--llm-max-retries", "0", "--llm-timeout", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert "127.0.0.1:9" in err and len(err.splitlines()) == 1
    assert _cli(base + ["--llm-base-url", "http://x/v1", "--llm-model", "m", "--llm-timeout", "-1"]) == 2
    assert "--llm-timeout" in capsys.readouterr().err
