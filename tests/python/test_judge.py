"""LLM relevance judgments: Cohen's kappa and Kendall's tau-b against sklearn and scipy; an
oracle stand-in judge reproduces held-back human judgments of the SciFact pool exactly
(kappa = 1, tau = 1); `densefb judge` and `densefb eval --compare-qrels` against the test server."""
import json
import re

import numpy as np
import pytest

import densefb



@pytest.mark.parametrize("seed", range(6))
def test_kappa_and_tau_match_sklearn_and_scipy(seed):
    from scipy.stats import kendalltau
    from sklearn.metrics import cohen_kappa_score
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 300))
    a = rng.integers(0, 4, n)
    b = np.where(rng.random(n) < 0.6, a, rng.integers(0, 4, n))
    assert densefb.stats.cohen_kappa(a, b) == pytest.approx(cohen_kappa_score(a, b), abs=1e-12)
    x = rng.integers(0, 10, n).astype(float)  # ties
    y = x + rng.normal(0, 3, n).round()
    assert densefb.stats.kendall_tau(x, y) == pytest.approx(kendalltau(x, y).statistic, abs=1e-12)
    assert np.isnan(densefb.stats.kendall_tau([1, 1, 1], [1, 2, 3]))
    assert np.isnan(densefb.stats.cohen_kappa([2, 2], [2, 2]))
    with pytest.raises(ValueError, match="same items"):
        densefb.stats.cohen_kappa([1, 2], [1])


@pytest.fixture(scope="module")
def pooled(scifact, scifact_flat, scifact_bm25, vectors):
    """Five systems' top-10 on SciFact, and the held-back 'human' judgments of their pool: the
    SciFact grade of each pooled document, 0 where SciFact does not judge it relevant."""
    _, Q = vectors
    res = densefb.Resources(corpus=scifact.corpus, dense_index=scifact_flat, bm25=scifact_bm25)
    specs = {"dense": "dense(k=10)", "bm25": "bm25(k=10)", "avg": "dense >> avg(k=3) >> dense(k=10)",
             "rm3": "bm25 >> rm3 >> bm25(k=10)", "rocchio": "dense >> rocchio(alpha=0.4,beta=0.6,topk=5) >> dense(k=10)"}
    runs = {n: densefb.Pipeline(s).run(res, scifact.queries, k=10, query_vectors=Q) for n, s in specs.items()}
    qrels = scifact.qrels.to_dict()
    human = {}
    for run in runs.values():
        for q, docs in run.to_dict().items():
            for d in docs:
                human.setdefault(q, {})[d] = qrels.get(q, {}).get(d, 0)
    return runs, human


def test_oracle_judge_reproduces_the_human_pool(scifact, pooled):
    runs, human = pooled
    texts = scifact.corpus.texts()
    by_passage = {" ".join(t.split()[:40]): scifact.corpus.ids[i] for i, t in enumerate(texts)}
    by_query = {t: q for q, t in zip(scifact.queries.ids, scifact.queries.texts)}

    class Oracle(densefb.Generator):
        name = "oracle"

        def complete(self, prompts, options):
            out = []
            for p in prompts:
                q = by_query[re.search(r"^Query: (.*)$", p, re.M).group(1)]
                d = by_passage[" ".join(re.search(r"^Passage: (.*)$", p, re.M).group(1).split()[:40])]
                out.append(f"<think>checking</think>{human[q][d]}")
            return out

    gen = Oracle()
    result = densefb.judge(list(runs.values()), scifact.corpus, scifact.queries, gen, k=10)
    assert result["qrels"] == human
    n_pairs = sum(len(d) for d in human.values())
    assert result["generated"] == len(result["pairs"]) == n_pairs == gen.stats()["requests"]
    cmp = densefb.compare_qrels(human, result["qrels"], runs, "nDCG@10")
    assert cmp["pairs"] == n_pairs and cmp["kappa"] == 1.0 and cmp["kappa_binary"] == 1.0
    assert cmp["tau"] == 1.0 and len(set(cmp["scores_a"])) > 1
    # Existing judgments are kept and never asked again.
    gen2 = Oracle()
    again = densefb.judge(list(runs.values()), scifact.corpus, scifact.queries, gen2, k=10, qrels=human)
    assert again["generated"] == 0 and gen2.stats()["requests"] == 0 and again["qrels"] == human


def _cli(*argv):
    from densefb import cli
    return cli.main([str(a) for a in argv])


def test_cli_judge_writes_generated_qrels_and_eval_compares(shared_data, pooled, server, tmp_path, capsys):
    runs, human = pooled
    run_files = []
    for name in ("dense", "bm25", "avg"):
        path = tmp_path / f"{name}.trec"
        densefb.write_trec_run(path, runs[name])
        run_files.append(path)
    prompt = tmp_path / "prompt.txt"
    prompt.write_text("Query: {query}\nPassage: {passage}\n#answer: Grade: 2\n")
    out = tmp_path / "llm.qrels"
    data = shared_data / "scifact"
    code = _cli("judge", "--dataset", data, "--run", *run_files[:2], "--k", 3, "-o", out,
                "--llm-base-url", server, "--llm-model", "fake", "--prompt-file", prompt,
                "--cache", tmp_path / "cache")
    err = capsys.readouterr().err
    assert code == 0, err
    generated = densefb.read_qrels(out).to_dict()
    side = json.loads((tmp_path / "llm.qrels.json").read_text())
    assert side["generated"] is True and side["judged_by"] == "fake" and side["k"] == 3
    pairs = {(q, d) for r in (runs["dense"], runs["bm25"])
             for q, docs in r.to_dict().items() for d, _ in sorted(docs.items(), key=lambda x: (-x[1], x[0]))[:3]}
    assert side["pairs_graded"] == len(pairs) == side["llm_cost"]["requests"]
    assert {(q, d) for q, ds in generated.items() for d in ds} == pairs
    assert {g for ds in generated.values() for g in ds.values()} == {2}
    # Compare against the human pool: three systems ranked under each.
    hum = tmp_path / "human.qrels"
    densefb.write_trec_qrels(hum, densefb.Qrels.from_dict(human))
    code = _cli("eval", "--compare-qrels", hum, out, "--run", *run_files, "--metrics", "P@10",
                "--json", tmp_path / "cmp.json")
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert "Cohen's kappa" in printed.out and "Kendall's tau-b" in printed.out
    cmp = json.loads((tmp_path / "cmp.json").read_text())
    assert cmp["pairs"] == len(pairs)
    assert cmp["tau"] == pytest.approx(densefb.stats.kendall_tau(cmp["scores_a"], cmp["scores_b"]))
    # Errors: one line, status 2.
    code = _cli("eval", "--compare-qrels", hum, out, "--run", run_files[0])
    assert code == 2 and "two or more --run" in capsys.readouterr().err
    code = _cli("judge", "--dataset", data, "--run", run_files[0], "-o", out, "--llm-base-url",
                "http://127.0.0.1:9/v1", "--llm-model", "fake", "--llm-max-retries", 0, "--llm-timeout", 2)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("densefb judge: error:")
    assert densefb.read_qrels(out).to_dict() == generated  # the earlier output is untouched
