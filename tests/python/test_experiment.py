"""Experiments: the paired statistics against scipy (random data and real per-query nDCG@10 on
SciFact), densefb.Experiment on SciFact (table = densefb.evaluate = pytrec_eval on the same
runs, tests = scipy on the same per-query values), and the experiment / sweep commands end to
end on a small real collection cut from SciFact."""
from __future__ import annotations

import gzip
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.stats

import densefb
from densefb import stats

try:
    from densefb.pipeline import Pipeline
except ImportError:  # pipelines not built: their tests are skipped
    Pipeline = None

from conftest import packaged_minilm


# ---- statistics against scipy ------------------------------------------------------------------

def _close(a: float, b: float, rel: float = 1e-9, abs_: float = 1e-12) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= max(rel * abs(b), abs_)


def _check_against_scipy(x, y, alternatives=("two-sided", "less", "greater")):
    for alt in alternatives:
        ours = stats.paired_ttest(x, y, alternative=alt)
        ref = scipy.stats.ttest_rel(x, y, alternative=alt)
        assert _close(ours.statistic, float(ref.statistic)), (alt, ours, ref)
        assert _close(ours.pvalue, float(ref.pvalue)), (alt, ours, ref)
        d = np.asarray(x, float) - np.asarray(y, float)
        if np.all(d == 0):
            continue  # scipy warns and returns NaN (or p = 1 for n <= 13): checked separately
        ours = stats.wilcoxon(x, y, alternative=alt)
        ref = scipy.stats.wilcoxon(x, y, alternative=alt)
        assert _close(ours.statistic, float(ref.statistic)), (alt, ours, ref)
        assert _close(ours.pvalue, float(ref.pvalue), rel=1e-9), (alt, ours, ref, ours.method)


@pytest.mark.parametrize("n", [2, 3, 5, 8, 12, 13, 14, 20, 35, 50, 51, 120, 400])
@pytest.mark.parametrize("kind", ["continuous", "ties", "zeros", "ties_and_zeros"])
def test_paired_tests_match_scipy_on_random_data(n, kind):
    rng = np.random.default_rng(1000 * n + len(kind))
    x = rng.uniform(0, 1, n)
    y = np.clip(x + rng.normal(0.05, 0.2, n), 0, 1)
    if kind in ("ties", "ties_and_zeros"):
        x, y = np.round(x, 1), np.round(y, 1)  # many tied |differences|
    if kind in ("zeros", "ties_and_zeros"):
        same = rng.random(n) < 0.3
        same[0] = True
        y = np.where(same, x, y)  # zero differences
    _check_against_scipy(x.tolist(), y.tolist())


def test_wilcoxon_picks_scipy_method():
    exact = stats.wilcoxon([0.3, 0.9, 0.15, 0.7], [0.1, 0.2, 0.3, 0.4])
    assert exact.method == "exact"
    perm = stats.wilcoxon([0.3, 0.9, 0.1, 0.5], [0.1, 0.2, 0.3, 0.5])  # a zero difference
    assert perm.method == "permutation"
    assert perm.n_zero == 1
    rng = np.random.default_rng(5)
    big = stats.wilcoxon(rng.random(60), rng.random(60))
    assert big.method == "asymptotic"
    assert not math.isnan(big.zstatistic)
    # Every difference zero: p = 1 for n <= 13 and NaN beyond, as scipy.
    assert stats.wilcoxon([0.5] * 5, [0.5] * 5).pvalue == scipy.stats.wilcoxon([0.0] * 5).pvalue == 1
    assert math.isnan(stats.wilcoxon([0.5] * 20, [0.5] * 20).pvalue)


def test_explicit_wilcoxon_options_match_scipy():
    rng = np.random.default_rng(11)
    x = np.round(rng.random(30), 1)
    y = np.round(rng.random(30), 1)
    y[:4] = x[:4]
    for zero_method in ("wilcox", "pratt", "zsplit"):
        for method in ("asymptotic", "exact"):
            for correction in (False, True):
                ours = stats.wilcoxon(x, y, zero_method=zero_method, method=method,
                                      correction=correction)
                with np.errstate(all="ignore"):
                    import warnings
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        ref = scipy.stats.wilcoxon(x, y, zero_method=zero_method, method=method,
                                                   correction=correction)
                assert _close(ours.statistic, float(ref.statistic)), (zero_method, method)
                assert _close(ours.pvalue, float(ref.pvalue)), (zero_method, method, correction)


def test_identical_and_shifted_samples_as_scipy():
    same = stats.paired_ttest([0.2, 0.4, 0.6], [0.2, 0.4, 0.6])
    assert math.isnan(same.statistic) and math.isnan(same.pvalue)
    shifted = stats.paired_ttest([1.0, 2.0, 3.0], [0.0, 1.0, 2.0])
    assert shifted.statistic == math.inf and shifted.pvalue == 0.0


def test_student_t_cdf_matches_scipy():
    for df in (1, 2, 3.5, 9, 29, 299, 5000):
        for t in (-40, -6.5, -2.0, -0.3, 0.0, 0.7, 1.96, 4.0, 25.0):
            ref = float(scipy.stats.t.cdf(t, df))
            assert _close(densefb._core.student_t_cdf(t, df), ref, rel=1e-10, abs_=1e-300), (t, df)
            ref_sf = float(scipy.stats.t.sf(t, df))
            assert _close(densefb._core.student_t_sf(t, df), ref_sf, rel=1e-10, abs_=1e-300)
    from scipy.special import betainc
    for a, b, x in [(0.5, 0.5, 0.2), (2.0, 3.0, 0.9), (150.0, 0.5, 0.99), (0.5, 40.0, 1e-3),
                    (1e-3, 1e-3, 0.5)]:
        assert _close(densefb._core.regularized_incomplete_beta(a, b, x), float(betainc(a, b, x)),
                      rel=1e-10)


def _holm_reference(p):
    """Holm's step-down adjustment written from its definition."""
    p = np.asarray(p, float)
    order = np.argsort(p, kind="stable")
    m = len(p)
    adjusted = np.empty(m)
    running = 0.0
    for i, j in enumerate(order):
        running = max(running, min(1.0, (m - i) * p[j]))
        adjusted[j] = running
    return adjusted


def test_holm_bonferroni_against_its_definition():
    rng = np.random.default_rng(3)
    for m in (1, 2, 5, 17):
        p = rng.random(m) ** 3
        np.testing.assert_allclose(stats.holm_bonferroni(p), _holm_reference(p), rtol=1e-15)
        np.testing.assert_allclose(stats.bonferroni(p), np.minimum(1, m * p), rtol=1e-15)
    try:
        from statsmodels.stats.multitest import multipletests
    except ImportError:
        multipletests = None
    if multipletests is not None:
        p = rng.random(9) ** 2
        np.testing.assert_allclose(stats.holm_bonferroni(p), multipletests(p, method="holm")[1])
    held = stats.holm_bonferroni([0.01, float("nan"), 0.04])
    assert held[0] == pytest.approx(0.02) and math.isnan(held[1]) and held[2] == pytest.approx(0.04)


def test_stats_reject_bad_input():
    with pytest.raises(ValueError, match="differ in length"):
        stats.paired_ttest([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="not finite"):
        stats.wilcoxon([1, float("nan")], [1, 2])
    with pytest.raises(ValueError, match="no pair"):
        stats.paired_ttest([], [])
    with pytest.raises(ValueError, match="alternative"):
        stats.paired_ttest([1, 2], [2, 1], alternative="bigger")
    with pytest.raises(ValueError, match="outside"):
        stats.holm_bonferroni([0.5, 1.5])


def test_stats_on_real_per_query_ndcg(scifact):
    """Per-query nDCG@10 of BM25 and BM25 + RM3 on SciFact: ours = scipy's."""
    bm25 = densefb.Bm25Index.build(scifact.corpus)
    qids, texts = scifact.queries.ids, scifact.queries.texts
    base = bm25.search_run(texts, qids, k=100)
    rm3 = bm25.search_run(texts, qids, k=100, rm3={"fb_docs": 10, "fb_terms": 10})
    for metric in ("nDCG@10", "AP", "RR@10"):
        _, a = densefb.evaluate(base, scifact.qrels, [metric], per_query=True)
        _, b = densefb.evaluate(rm3, scifact.qrels, [metric], per_query=True)
        x = [b[q][metric] for q in a]
        y = [a[q][metric] for q in a]
        assert len(x) == 300
        assert sum(1 for u, v in zip(x, y) if u == v) > 50  # many ties at zero difference
        _check_against_scipy(x, y, alternatives=("two-sided",))
        # and on a small slice, where scipy switches to exact / permutation distributions
        _check_against_scipy(x[:12], y[:12], alternatives=("two-sided",))
        _check_against_scipy(x[:40], y[:40], alternatives=("two-sided",))


# ---- Experiment on SciFact ---------------------------------------------------------------------

def _has_pipelines() -> bool:
    return Pipeline is not None and hasattr(densefb._core, "Pipeline")


pytestmark_pipelines = pytest.mark.skipif(not _has_pipelines(), reason="pipelines not built")


def _pytrec(run, qrels, measures):
    pytrec_eval = pytest.importorskip("pytrec_eval")
    ev = pytrec_eval.RelevanceEvaluator(qrels.to_dict(), set(measures))
    return ev.evaluate(run.to_dict())


@pytest.fixture(scope="module")
def scifact_index(scifact_vectors):
    docs, _ = scifact_vectors
    index = densefb.FlatIndex(docs.shape[1])
    index.add(docs)
    return index


SPECS = ["dense", "dense >> avg(k=3) >> dense",
         "dense >> rocchio(alpha=0.4,beta=0.6,topk=5) >> dense", "bm25", "bm25 >> rm3 >> bm25"]


@pytest.fixture(scope="module")
def scifact_result(scifact, scifact_index, scifact_vectors, tmp_path_factory):
    """Document and query vectors from sentence-transformers (cached), so nothing is encoded."""
    out = tmp_path_factory.mktemp("exp-runs")
    exp = densefb.Experiment(scifact, SPECS, model=str(packaged_minilm()),
                             metrics=["nDCG@10", "R@100", "AP"],
                             resources={"dense_index": scifact_index},
                             query_vectors=scifact_vectors[1], k=100,
                             cache_dir=tmp_path_factory.mktemp("cache"), save_runs=out,
                             quiet=True, dataset_path=scifact.path)
    return exp, exp.run(), out


@pytestmark_pipelines
def test_experiment_table_equals_evaluate_and_pytrec_eval(scifact, scifact_result):
    exp, result, _ = scifact_result
    assert [s.name for s in result.systems] == SPECS
    trec_names = {"nDCG@10": "ndcg_cut_10", "R@100": "recall_100", "AP": "map"}
    for s in result.systems:
        assert s.spec == Pipeline.parse(s.name).spec
        means = densefb.evaluate(s.run, scifact.qrels, ["nDCG@10", "R@100", "AP"])
        assert s.means == means
        ref = _pytrec(s.run, scifact.qrels, {"ndcg_cut", "recall", "map"})
        for m, t in trec_names.items():
            ref_mean = np.mean([ref[q][t] for q in ref])
            assert s.means[m] == pytest.approx(ref_mean, abs=1e-12), (s.name, m)
            for q, row in s.per_query.items():
                assert row[m] == pytest.approx(ref[q][t], abs=1e-12)
    # Sanity of the numbers themselves: all-MiniLM-L6-v2 on SciFact is ~0.645 nDCG@10, BM25 ~0.67.
    assert 0.60 < result.systems[0].means["nDCG@10"] < 0.70
    assert 0.62 < result["bm25"].means["nDCG@10"] < 0.72


@pytestmark_pipelines
def test_experiment_tests_equal_scipy_with_holm(scifact_result):
    _, result, _ = scifact_result
    base = result.baseline
    for metric in result.metrics:
        for test, ref_fn in (("t-test", scipy.stats.ttest_rel), ("wilcoxon", scipy.stats.wilcoxon)):
            raw = []
            for s in result.systems[1:]:
                c = result.comparison(s.name, metric, test)
                x = [s.per_query[q][metric] for q in base.per_query]
                y = [base.per_query[q][metric] for q in base.per_query]
                ref = ref_fn(x, y)
                assert c.n == 300
                assert c.statistic == pytest.approx(float(ref.statistic), rel=1e-9)
                assert c.pvalue == pytest.approx(float(ref.pvalue), rel=1e-9)
                assert c.mean_difference == pytest.approx(np.mean(np.subtract(x, y)), abs=1e-12)
                raw.append(c.pvalue)
            corrected = [result.comparison(s.name, metric, test).pvalue_corrected
                         for s in result.systems[1:]]
            np.testing.assert_allclose(corrected, _holm_reference(raw), rtol=1e-14)


@pytestmark_pipelines
def test_experiment_outputs_and_sidecars(scifact, scifact_result, tmp_path):
    exp, result, out = scifact_result
    text = result.table()
    assert "nDCG@10" in text and "bm25 >> rm3 >> bm25" in text
    assert f"{result.systems[0].means['nDCG@10']:.4f}" in text
    md = result.to_markdown()
    assert md.startswith("| pipeline | nDCG@10 | R@100 | AP |")
    for s in result.systems:
        assert f"{s.means['AP']:.4f}" in md
    result.save_json(tmp_path / "r.json")
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["baseline"] == "dense"
    assert [s["pipeline"] for s in data["systems"]] == [s.spec for s in result.systems]
    assert data["systems"][3]["per_query"] == result.systems[3].per_query
    assert len(data["tests"]) == 4 * 3 * 2
    # Each run file has a sidecar that re-parses to the same pipeline and names its sources.
    for i, s in enumerate(result.systems):
        run_path = Path(s.run_path)
        assert run_path.parent == out and run_path.is_file()
        side = json.loads(Path(s.sidecar_path).read_text())
        assert side["format"] == "densefb-run"
        assert side["run_file"] == run_path.name
        assert Pipeline.parse(side["pipeline"]).spec == side["pipeline"] == s.spec
        assert side["k"] == 100
        assert side["dataset"]["split"] == "test" and side["dataset"]["num_queries"] == 300
        assert side["densefb_version"] == densefb.__version__
        assert side["mean"] == s.means
        assert side["query_vectors"] == "given by the caller"
        if "dense" in s.spec:
            assert side["model"]["path"] == str(packaged_minilm().resolve())
            assert side["resources"]["dense_index"]["ntotal"] == 5183
        if "bm25" in s.spec:
            assert side["resources"]["bm25"]["params"] == {
                "k1": 0.9, "b": 0.4, "stopwords": True, "stemmer": "porter", "lucene_norms": True}
        # The file evaluates to the table's numbers.
        assert densefb.evaluate(str(run_path), scifact.qrels, ["nDCG@10"])["nDCG@10"] == \
            pytest.approx(s.means["nDCG@10"], abs=1e-9)
    rows = (out / "per-query.tsv").read_text().splitlines()
    assert rows[0] == "pipeline\tquery\tnDCG@10\tR@100\tAP"
    assert len(rows) == 1 + 5 * 300


@pytestmark_pipelines
def test_experiment_rejects_bad_input(scifact):
    with pytest.raises(ValueError, match="nDCG@x"):
        densefb.Experiment(scifact, ["bm25"], metrics=["nDCG@x"])
    with pytest.raises(ValueError):
        densefb.Experiment(scifact, ["bm25 >> nosuchstage"])
    with pytest.raises(ValueError, match="no pipeline"):
        densefb.Experiment(scifact, [])
    with pytest.raises(ValueError, match="named"):
        densefb.Experiment(scifact, ["bm25", "bm25"])
    with pytest.raises(ValueError, match="no model"):
        densefb.Experiment(scifact, ["dense"], use_cache=False, quiet=True).resources()
    with pytest.raises(TypeError):
        densefb.Experiment(scifact, [42])


# ---- the commands end to end, on a small real collection ------------------------------------

@pytest.fixture(scope="module")
def small_beir(scifact, tmp_path_factory):
    """40 SciFact test queries, their relevant documents and 400 others, as a BEIR folder."""
    root = tmp_path_factory.mktemp("small-scifact")
    qrels = scifact.qrels.to_dict()
    qids = scifact.queries.ids[:40]
    relevant = {d for q in qids for d in qrels.get(q, {})}
    corpus = scifact.corpus
    keep = [i for i in range(len(corpus)) if corpus.ids[i] in relevant][:]
    keep += [i for i in range(0, len(corpus), 20) if corpus.ids[i] not in relevant][:250]
    with gzip.open(root / "corpus.jsonl.gz", "wt", encoding="utf-8") as f:
        for i in sorted(keep):
            f.write(json.dumps(corpus[i]) + "\n")
    with open(root / "queries.jsonl", "w", encoding="utf-8") as f:
        for i in range(40):
            qid, text = scifact.queries[i]
            f.write(json.dumps({"_id": qid, "text": text}) + "\n")
    (root / "qrels").mkdir()
    with open(root / "qrels" / "test.tsv", "w", encoding="utf-8") as f:
        f.write("query-id\tcorpus-id\tscore\n")
        for q in qids:
            for d, g in qrels.get(q, {}).items():
                f.write(f"{q}\t{d}\t{g}\n")
    return root


@pytest.fixture(scope="module")
def cli_cache(tmp_path_factory):
    """One index cache for the command tests: the small corpus is encoded once."""
    return tmp_path_factory.mktemp("cli-cache")


def _cli(argv):
    from densefb import cli
    return cli.main(argv)


@pytestmark_pipelines
def test_cli_experiment_end_to_end(small_beir, cli_cache, tmp_path, capsys):
    model = str(packaged_minilm())
    specs = ["dense", "dense >> rocchio(alpha=0.4,beta=0.6,topk=5) >> dense", "bm25"]
    argv = ["experiment", "--dataset", str(small_beir), "--model", model]
    for s in specs:
        argv += ["--pipeline", s]
    argv += ["--metrics", "nDCG@10", "R@100", "--k", "100", "--json", str(tmp_path / "out.json"),
             "--markdown", str(tmp_path / "out.md"), "--save-runs", str(tmp_path / "runs"),
             "--cache", str(cli_cache), "--quiet"]
    assert _cli(argv) == 0
    printed = capsys.readouterr().out
    data = json.loads((tmp_path / "out.json").read_text())
    assert [s["name"] for s in data["systems"]] == specs
    assert data["systems"][0]["num_queries"] == 40
    assert f"{data['systems'][2]['mean']['nDCG@10']:.4f}" in printed
    assert (tmp_path / "out.md").read_text().startswith("| pipeline | nDCG@10 | R@100 |")
    # Dense index cached on disk; a second run reuses it and gives the same numbers.
    cached = list((cli_cache / "dense").glob("*/index.flat"))
    assert len(cached) == 1
    assert list((cli_cache / "bm25").glob("*/index.bm25"))
    argv2 = [a if a != str(tmp_path / "out.json") else str(tmp_path / "again.json") for a in argv]
    assert _cli(argv2) == 0
    again = json.loads((tmp_path / "again.json").read_text())
    assert [s["mean"] for s in again["systems"]] == [s["mean"] for s in data["systems"]]
    assert again["provenance"]["resources"]["dense_index"]["cached"] is True
    # Sidecars: re-parse to the same pipeline, record model, dataset and the command line.
    qrels = densefb.read_qrels(small_beir / "qrels" / "test.tsv")
    for system in data["systems"]:
        side = json.loads(Path(system["sidecar"]).read_text())
        assert Pipeline.parse(side["pipeline"]).spec == side["pipeline"] == system["pipeline"]
        assert side["dataset"]["path"] == str(small_beir.resolve())
        assert side["command_line"].startswith("densefb experiment --dataset ")
        assert "--pipeline" in side["command_line"]
        assert densefb.evaluate(system["run_file"], qrels, ["nDCG@10"])["nDCG@10"] == \
            pytest.approx(system["mean"]["nDCG@10"], abs=1e-9)
    # A run can be made again from its sidecar alone.
    from densefb.experiment import reproduce_run
    side_path = data["systems"][1]["sidecar"]
    rerun = reproduce_run(side_path, cache_dir=cli_cache)
    assert densefb.evaluate(rerun, qrels, ["nDCG@10", "R@100"]) == pytest.approx(
        data["systems"][1]["mean"], abs=1e-12)


@pytestmark_pipelines
def test_cli_sweep_end_to_end(small_beir, cli_cache, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    model = str(packaged_minilm())
    csv_path, png = tmp_path / "sweep.csv", tmp_path / "sweep.png"
    argv = ["sweep", "--dataset", str(small_beir), "--model", model,
            "--pipeline", "dense >> rocchio(alpha={alpha},beta=0.6,topk={k}) >> dense",
            "--param", "k=1..2", "--param", "alpha=0.4,0.9", "--metric", "nDCG@10", "AP",
            "--k", "100", "--csv", str(csv_path), "--plot", str(png), "--save-runs",
            str(tmp_path / "runs"), "--cache", str(cli_cache), "--quiet"]
    assert _cli(argv) == 0
    import csv
    rows = list(csv.DictReader(open(csv_path)))
    assert [(r["k"], r["alpha"]) for r in rows] == [("1", "0.4"), ("1", "0.9"), ("2", "0.4"), ("2", "0.9")]
    qrels = densefb.read_qrels(small_beir / "qrels" / "test.tsv")
    runs = sorted((tmp_path / "runs").glob("*.trec"))
    assert len(runs) == 4
    for r, run_file in zip(rows, runs):
        assert f"topk={r['k']}" in r["pipeline"] and f"alpha={r['alpha']}" in r["pipeline"]
        ev = densefb.evaluate(str(run_file), qrels, ["nDCG@10", "AP"])
        assert float(r["nDCG@10"]) == pytest.approx(ev["nDCG@10"], abs=1e-12)
        assert float(r["AP"]) == pytest.approx(ev["AP"], abs=1e-12)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "best nDCG@10" in capsys.readouterr().out


@pytestmark_pipelines
def test_cli_sweep_without_matplotlib(small_beir, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    argv = ["sweep", "--dataset", str(small_beir), "--pipeline", "bm25(k={k})", "--param",
            "k=10,20", "--csv", str(tmp_path / "s.csv"), "--plot", str(tmp_path / "s.png")]
    assert _cli(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "needs matplotlib" in err
    assert not (tmp_path / "s.csv").exists()


@pytestmark_pipelines
@pytest.mark.parametrize("argv,message", [
    (["experiment", "--dataset", "/nonexistent/beir", "--pipeline", "bm25"], "is not a folder"),
    (["experiment", "--dataset", "{data}", "--pipeline", "bm25 >> nosuch"], "nosuch"),
    (["experiment", "--dataset", "{data}", "--pipeline", "bm25", "--metrics", "nDCG@ten"], "nDCG@ten"),
    (["experiment", "--dataset", "{data}", "--pipeline", "bm25", "--name", "a", "--name", "b"],
     "2 --name for 1 --pipeline"),
    (["experiment", "--dataset", "{data}", "--pipeline", "bm25", "--json", "/nonexistent/d/o.json"],
     "does not exist"),
    (["experiment", "--dataset", "{data}", "--pipeline", "dense", "--no-cache"], "no model"),
    (["experiment", "--dataset", "{data}", "--pipeline", "bm25", "--bm25-arg", "k3=1"], "k3"),
    (["experiment", "--dataset", "{data}", "--pipeline", "dense", "--encoder-arg", "precison=int8"],
     "encoder_args: unknown option 'precison'"),
    (["experiment", "--dataset", "{data}", "--pipeline", "bm25", "--cross-arg", "maxlen=8"], "'maxlen'"),
    (["experiment", "--dataset", "{data}"], "--pipeline"),
    (["sweep", "--dataset", "{data}", "--pipeline", "bm25(k={k})", "--param", "j=1..3",
      "--csv", "{tmp}/x.csv"], "{k}"),
    (["sweep", "--dataset", "{data}", "--pipeline", "bm25(k={k})", "--param", "k=5..1",
      "--csv", "{tmp}/x.csv"], "empty range"),
    (["sweep", "--dataset", "{data}", "--pipeline", "bm25(k={k})", "--param", "k",
      "--csv", "{tmp}/x.csv"], "NAME=VALUES"),
])
def test_cli_errors_are_one_line(small_beir, tmp_path, capsys, argv, message):
    argv = [a.replace("{data}", str(small_beir)).replace("{tmp}", str(tmp_path)) for a in argv]
    try:
        code = _cli(argv)
    except SystemExit as e:  # argparse usage errors
        code = e.code
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, err
    assert message in err
    assert err.startswith(f"densefb {argv[0]}")


def test_cli_cross_encoder_options_are_used_recorded_and_reproduced(small_beir, cli_cache, tmp_path, capsys):
    """--cross-arg reaches densefb.CrossEncoder.from_pretrained (max_length 128, then also
    int8), is recorded in the sidecar, and reproduce_run loads the cross-encoder the same way."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from test_colbert_cross import make_cross_encoder  # the small random BERT checkpoint

    from densefb.experiment import reproduce_run

    (tmp_path / "ce").mkdir()
    make_cross_encoder(tmp_path / "ce", 1, seed=3)
    spec = "bm25(k=20) >> rerank_cross(k=20)"

    def experiment(name, *options):
        argv = ["experiment", "--dataset", str(small_beir), "--pipeline", spec, "--cross-encoder",
                str(tmp_path / "ce"), "--metrics", "nDCG@10", "--k", "20", "--json", str(tmp_path / f"{name}.json"),
                "--save-runs", str(tmp_path / name), "--cache", str(cli_cache), "--quiet"]
        for option in options:
            argv += ["--cross-arg", option]
        assert _cli(argv) == 0
        system = json.loads((tmp_path / f"{name}.json").read_text())["systems"][0]
        side = json.loads(Path(system["sidecar"]).read_text())
        run = densefb.read_trec_run(system["run_file"]).to_dict()
        again = reproduce_run(system["sidecar"], cache_dir=cli_cache).to_dict()
        assert again.keys() == run.keys()
        for qid in run:
            assert again[qid] == pytest.approx(run[qid], abs=1e-5)
        return side["resources"]["cross_encoder"]["options"], run

    options, fp32 = experiment("fp32", "max_length=128")
    assert options == {"max_length": 128}
    # The same reranking by hand, with the cross-encoder loaded with that option.
    ds = densefb.load_beir(small_beir)
    ce = densefb.CrossEncoder.from_pretrained(tmp_path / "ce", max_length=128)
    texts = dict(zip(ds.corpus.ids, ds.corpus.texts()))
    queries = dict(zip(ds.queries.ids, ds.queries.texts))
    for qid, ranking in fp32.items():
        docs = list(ranking)
        np.testing.assert_allclose([ranking[d] for d in docs], ce.predict([(queries[qid], texts[d]) for d in docs]),
                                   atol=1e-5)
    options, int8 = experiment("int8", "max_length=128", "precision=int8")
    assert options == {"max_length": 128, "precision": "int8"}
    diff = max(abs(int8[q][d] - fp32[q][d]) for q in fp32 for d in fp32[q])
    assert 1e-4 < diff < 0.05, diff  # int8's scores: near float32's, not equal to them


@pytestmark_pipelines
def test_cli_encoder_options_key_the_dense_index_and_are_reproduced(small_beir, cli_cache, tmp_path):
    """--encoder-arg precision=int8: the corpus is encoded in int8 into its own cached index (the
    fp32 one is not reused), the options and weight bits are recorded, nDCG@10 stays near fp32's,
    and reproduce_run gives the same run."""
    from densefb import _torch
    from densefb.experiment import reproduce_run

    model = str(packaged_minilm())
    results = {}
    for name, options in (("fp32", []), ("int8", ["--encoder-arg", "precision=int8"])):
        argv = ["experiment", "--dataset", str(small_beir), "--model", model, "--pipeline", "dense",
                "--metrics", "nDCG@10", "--k", "100", "--json", str(tmp_path / f"{name}.json"),
                "--save-runs", str(tmp_path / name), "--cache", str(cli_cache), "--quiet", *options]
        assert _cli(argv) == 0
        results[name] = json.loads((tmp_path / f"{name}.json").read_text())
    side = json.loads(Path(results["int8"]["systems"][0]["sidecar"]).read_text())
    assert side["resources"]["encoder"]["options"] == {"precision": "int8"}
    dense = side["resources"]["dense_index"]
    assert dense["encoder_options"] == {"precision": "int8", "int8_weight_bits": _torch.int8_weight_bits()}
    assert dense["cache"] != json.loads(Path(results["fp32"]["systems"][0]["sidecar"]).read_text())[
        "resources"]["dense_index"]["cache"]
    fp32_ndcg = results["fp32"]["systems"][0]["mean"]["nDCG@10"]
    int8_ndcg = results["int8"]["systems"][0]["mean"]["nDCG@10"]
    assert abs(int8_ndcg - fp32_ndcg) < 0.02 and int8_ndcg != fp32_ndcg, (int8_ndcg, fp32_ndcg)
    run = densefb.read_trec_run(results["int8"]["systems"][0]["run_file"]).to_dict()
    again = reproduce_run(results["int8"]["systems"][0]["sidecar"], cache_dir=cli_cache).to_dict()
    assert again.keys() == run.keys()
    for qid in run:
        assert again[qid] == pytest.approx(run[qid], abs=1e-5)


@pytestmark_pipelines
def test_cli_help_explains_every_option(capsys):
    for command in ("experiment", "sweep"):
        with pytest.raises(SystemExit) as e:
            _cli([command, "--help"])
        assert e.value.code == 0
        out = capsys.readouterr().out
        from densefb import cli
        parser = cli.build_parser()
        sub = parser._subparsers._group_actions[0].choices[command]
        for action in sub._actions:
            if action.option_strings and action.dest != "help":
                assert action.help, (command, action.option_strings)
                assert action.option_strings[-1] in out


def test_sweep_grid_parsing():
    from densefb.cli_sweep import expand_grid, parse_param
    assert parse_param("k=1..4") == ("k", [1, 2, 3, 4])
    assert parse_param("k=2..10:4") == ("k", [2, 6, 10])
    assert parse_param("alpha=0.1..0.5:0.1") == ("alpha", [0.1, 0.2, 0.3, 0.4, 0.5])
    assert parse_param("w=0.25,0.5, 1") == ("w", [0.25, 0.5, 1])
    assert parse_param("norm=minmax,zscore") == ("norm", ["minmax", "zscore"])
    grid = expand_grid("dense >> rocchio(alpha={a},topk={k}) >> dense",
                       [("k", [1, 2]), ("a", [0.4, 0.9])])
    assert [spec for _, spec in grid] == [
        "dense >> rocchio(alpha=0.4,topk=1) >> dense", "dense >> rocchio(alpha=0.9,topk=1) >> dense",
        "dense >> rocchio(alpha=0.4,topk=2) >> dense", "dense >> rocchio(alpha=0.9,topk=2) >> dense"]
    assert grid[3][0] == {"k": 2, "a": 0.9}


@pytestmark_pipelines
def test_experiment_builds_caches_and_reuses_the_multivector_index(small_beir, tmp_path):
    """A multi-vector pipeline: the token index is encoded once, cached, then loaded; the runs
    equal a direct MultiVectorIndex search over the same encoder's document tokens."""
    from densefb.encoders import ColbertEncoder
    from densefb.multivector import build_multivector_index

    ds = densefb.load_beir(str(small_beir), "test")
    cache = tmp_path / "cache"

    def run():
        exp = densefb.Experiment(ds, ["maxsim(k=20,token_k=16)"], model=str(packaged_minilm()),
                                 token_args={"format": "bert", "doc_maxlen": 180},
                                 metrics=["nDCG@10"], k=20, cache_dir=cache, quiet=True,
                                 dataset_path=str(small_beir))
        return exp, exp.run()

    first_exp, first = run()
    assert first_exp._provenance["multivector"]["cached"] is False
    second_exp, second = run()
    assert second_exp._provenance["multivector"]["cached"] is True
    assert second.baseline.means["nDCG@10"] == first.baseline.means["nDCG@10"]

    encoder = ColbertEncoder.from_pretrained(str(packaged_minilm()), format="bert", doc_maxlen=180)
    index = build_multivector_index(encoder, ds.corpus.texts(), show_progress=False)
    queries = encoder.encode_queries(ds.queries.texts)
    scores, ids = index.search(queries, k=20, token_k=16)
    got = second.baseline.run.to_dict()
    for i, qid in enumerate(ds.queries.ids):
        want = [ds.corpus.ids[d] for d in ids[i] if d >= 0]
        ranked = sorted(got.get(qid, {}).items(), key=lambda kv: (-kv[1], kv[0]))
        assert [d for d, _ in ranked][:10] == want[:10]
