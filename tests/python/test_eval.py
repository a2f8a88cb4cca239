"""densefb.evaluate against independent references: pytrec_eval (trec_eval itself) for the
trec_eval measures, ir_measures for RR@k and Judged@k, numpy for averaging over qrels; plus the
`densefb eval` command line."""
import gzip
import json
import math
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import densefb
from densefb import Measure, evaluate
from densefb import cli_eval

pytrec_eval = pytest.importorskip("pytrec_eval")
ir_measures = pytest.importorskip("ir_measures")

TOL = 1e-6
N_TRIALS = 200
DATA_DIR = Path(os.environ.get("DENSEFB_DATA",
                               Path(__file__).resolve().parents[3] / "shared" / "data"))

# Our trec_eval aliases are pytrec_eval's output keys, so results compare key by key.
TREC_MEASURES = ["ndcg_cut_10", "ndcg", "map", "map_cut_100", "recip_rank", "recall_100", "P_5",
                 "P_10"]
PYTREC_REQUEST = {"ndcg_cut.10", "ndcg", "map", "map_cut.100", "recip_rank", "recall.100", "P.5",
                  "P.10"}
# The same measures in ir_measures notation.
IR_NAMES = {"ndcg_cut_10": "nDCG@10", "ndcg": "nDCG", "map": "AP", "map_cut_100": "AP@100",
            "recip_rank": "RR", "recall_100": "R@100", "P_5": "P@5", "P_10": "P@10"}


# ---- random collections ------------------------------------------------------------------

def _doc_pool(rng):
    # Ids whose strcmp order differs from numeric order, and non-ASCII ids (UTF-8 bytes > 0x7f).
    pool = [f"d{i}" for i in range(rng.randint(5, 80))]
    pool += ["D1", "d", "d0a", "dé", "d\u00ff", "\u4e2d\u6587"][: rng.randint(0, 6)]
    return pool


def _scores(rng, n):
    style = rng.choice(["int", "round1", "tied", "neg", "fine"])
    if style == "int":
        return [float(rng.randint(0, 3)) for _ in range(n)]
    if style == "round1":
        return [round(rng.random(), 1) for _ in range(n)]
    if style == "tied":
        return [1.0] * n
    if style == "neg":
        return [float(rng.randint(-5, 5)) / 2 for _ in range(n)]
    return [rng.random() for _ in range(n)]


def random_collection(rng, max_len=150, grades=(0, 0, 1, 1, 2, 3)):
    """A random (run, qrels) in pytrec_eval's dict form: graded 0-3, ties, empty and short lists,
    queries only in the run and only in the qrels."""
    pool = _doc_pool(rng)
    qids = [f"q{i}" for i in range(rng.randint(1, 8))]
    run, qrels = {}, {}
    for qid in qids:
        in_run, in_qrels = rng.random() < 0.85, rng.random() < 0.85
        if in_qrels:
            judged = rng.sample(pool, rng.randint(1, min(len(pool), 30)))
            qrels[qid] = {d: rng.choice(grades) for d in judged}
        if in_run:
            n = rng.choice([0, 1, 3, 7, rng.randint(0, min(len(pool), max_len))])
            docs = rng.sample(pool, min(n, len(pool)))
            run[qid] = dict(zip(docs, _scores(rng, len(docs))))
    if not qrels:  # pytrec_eval needs at least one judged query
        qrels[qids[0]] = {pool[0]: 1}
    return run, qrels


def trec_order(docs):
    """trec_eval's ranking, written independently: score desc, then doc id desc (byte order)."""
    return [d for d, _ in sorted(docs.items(), key=lambda x: (x[1], x[0].encode()), reverse=True)]


def rescored(run):
    """The same rankings with distinct scores, so that any tie-breaking rule gives trec_eval's."""
    return {q: {d: float(len(docs) - i) for i, d in enumerate(trec_order(docs))}
            for q, docs in run.items()}


def ir_per_query(measures, qrels, run):
    out = {}
    for metric in ir_measures.iter_calc(measures, qrels, run):
        out.setdefault(metric.query_id, {})[str(metric.measure)] = metric.value
    return out


def with_rel(name, rel_level):
    """"AP@100" -> "AP(rel=2)@100"; nDCG takes no threshold and stays as it is."""
    if rel_level == 1 or name.startswith("nDCG"):
        return name
    family, _, cutoff = name.partition("@")
    return f"{family}(rel={rel_level})" + (f"@{cutoff}" if cutoff else "")


def max_diff(ours, reference, keys):
    """Largest |difference| over the queries and keys of `reference` (queries must agree)."""
    assert set(ours) == set(reference)
    return max([abs(ours[q][k] - reference[q][k]) for q in reference for k in keys], default=0.0)


# ---- randomized comparisons ---------------------------------------------------------------

@pytest.mark.parametrize("rel_level", [1, 2])
def test_random_runs_match_pytrec_eval(rel_level):
    rng = random.Random(1000 + rel_level)
    worst = 0.0
    for trial in range(N_TRIALS):
        run, qrels = random_collection(rng)
        reference = pytrec_eval.RelevanceEvaluator(
            qrels, PYTREC_REQUEST, relevance_level=rel_level).evaluate(run)
        means, per_query = evaluate(run, qrels, TREC_MEASURES, rel_level=rel_level, per_query=True)
        assert set(per_query) == set(reference), f"trial {trial}: evaluated queries differ"
        diff = max_diff(per_query, reference, TREC_MEASURES)
        for m in TREC_MEASURES:
            expected = np.mean([v[m] for v in reference.values()]) if reference else 0.0
            diff = max(diff, abs(means[m] - expected))
        # ir_measures notation and a per-measure threshold give the same numbers.
        names = [with_rel(IR_NAMES[m], rel_level) for m in TREC_MEASURES]
        ir_means = evaluate(run, qrels, names)
        diff = max(diff, max(abs(ir_means[n] - means[m]) for n, m in zip(names, TREC_MEASURES)))
        assert diff < TOL, f"trial {trial}: max difference {diff}"
        worst = max(worst, diff)
    print(f"rel_level={rel_level}: {N_TRIALS} trials, max |densefb - pytrec_eval| = {worst:.3g}")


def test_random_runs_with_high_grades_match_pytrec_eval():
    # nDCG gains are the raw grades, and -l 4 leaves only the top grades relevant. (Negative
    # grades are not compared: pytrec_eval's trec_eval crashes or loops on them.)
    rng = random.Random(99)
    for trial in range(N_TRIALS // 2):
        run, qrels = random_collection(rng, grades=(0, 1, 2, 4, 5, 7))
        for rel_level in (1, 4):
            reference = pytrec_eval.RelevanceEvaluator(
                qrels, PYTREC_REQUEST, relevance_level=rel_level).evaluate(run)
            _, ours = evaluate(run, qrels, TREC_MEASURES, rel_level=rel_level, per_query=True)
            assert max_diff(ours, reference, TREC_MEASURES) < TOL, f"trial {trial}"


def test_random_runs_rr_at_k_matches_ir_measures_and_truncated_trec_eval():
    rng = random.Random(7)
    cutoffs = [1, 3, 10]
    names = [f"RR@{k}" for k in cutoffs] + ["RR(rel=2)@5"]
    worst = 0.0
    for trial in range(N_TRIALS):
        run, qrels = random_collection(rng)
        _, ours = evaluate(run, qrels, names, per_query=True, average_over_qrels=True)
        # ir_measures (msmarco provider) breaks ties by doc id ascending; on distinct scores it
        # must agree with trec_eval's order exactly.
        nonempty = {q: d for q, d in rescored(run).items() if d}
        measures = [ir_measures.parse_measure(n) for n in names]
        reference = ir_per_query(measures, qrels, nonempty)
        worst = max(worst, max_diff(ours, reference, names))
        # trec_eval's recip_rank on the run cut at k is RR@k, ties included.
        for k in cutoffs:
            cut = {q: {d: docs[d] for d in trec_order(docs)[:k]} for q, docs in run.items()}
            trec = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(cut)
            for q, v in trec.items():
                worst = max(worst, abs(ours[q][f"RR@{k}"] - v["recip_rank"]))
        assert worst < TOL, f"trial {trial}"
    print(f"RR@k: {N_TRIALS} trials, max difference = {worst:.3g}")


def test_random_runs_judged_matches_ir_measures():
    rng = random.Random(11)
    names = ["Judged@1", "Judged@5", "Judged@10", "Judged@100"]
    measures = [ir_measures.parse_measure(n) for n in names]
    worst = 0.0
    for trial in range(N_TRIALS):
        run, qrels = random_collection(rng)
        means, ours = evaluate(run, qrels, names, per_query=True, average_over_qrels=True)
        # Tied scores on purpose: Judged must follow ir_measures' own tie order. ir_measures
        # divides by zero on an empty list, so those are left out (it then scores them 0, as
        # densefb does).
        nonempty = {q: d for q, d in run.items() if d}
        reference = ir_per_query(measures, qrels, nonempty)
        worst = max(worst, max_diff(ours, reference, names))
        aggregate = ir_measures.calc_aggregate(measures, qrels, nonempty)
        worst = max(worst, max(abs(means[str(m)] - aggregate[m]) for m in measures))
        assert worst < TOL, f"trial {trial}"
    print(f"Judged@k: {N_TRIALS} trials, max difference = {worst:.3g}")


def test_average_over_qrels_is_mean_with_missing_queries_as_zero():
    rng = random.Random(5)
    for _ in range(50):
        run, qrels = random_collection(rng)
        _, per_query = evaluate(run, qrels, TREC_MEASURES, per_query=True)
        all_means, all_rows = evaluate(run, qrels, TREC_MEASURES, per_query=True,
                                       average_over_qrels=True)
        assert list(all_rows) == list(qrels)  # every qrels query, in qrels order
        for m in TREC_MEASURES:
            values = np.array([per_query[q][m] if q in per_query else 0.0 for q in qrels])
            assert abs(all_means[m] - values.mean()) < 1e-12
            assert all(all_rows[q][m] == 0.0 for q in qrels if q not in run)


# ---- a real collection -----------------------------------------------------------------

def _scifact():
    folder = DATA_DIR / "scifact"
    if not (folder / "qrels" / "test.tsv").is_file() or not (folder / "corpus.jsonl.gz").is_file():
        pytest.skip(f"scifact not found under {DATA_DIR}")
    return folder


def _scifact_run(folder, qrels):
    """Per query: its relevant docs at random positions among random corpus docs, 100 docs,
    integer scores with many ties (deterministic)."""
    with gzip.open(folder / "corpus.jsonl.gz", "rt", encoding="utf-8") as f:
        corpus_ids = [json.loads(line)["_id"] for line in f]
    rng = random.Random(2024)
    run = {}
    for qid, judged in qrels.items():
        docs = list(judged)
        others = [d for d in rng.sample(corpus_ids, 120) if d not in judged]
        docs += others[: 100 - len(docs)]
        rng.shuffle(docs)
        # Scores fall with position but in steps of 4 ranks: many ties, relevant docs anywhere.
        run[qid] = {d: float(25 - i // 4) + (rng.random() < 0.1) for i, d in enumerate(docs)}
    return run


def test_scifact_matches_pytrec_eval_and_ir_measures(tmp_path):
    folder = _scifact()
    qrels = {}
    with open(folder / "qrels" / "test.tsv", encoding="utf-8") as f:
        next(f)
        for line in f:
            q, d, s = line.rstrip("\n").split("\t")
            qrels.setdefault(q, {})[d] = int(s)
    run = _scifact_run(folder, qrels)
    # densefb reads the BEIR file itself, and the run from a TREC file.
    run_path = tmp_path / "scifact.run"
    with open(run_path, "w") as f:
        for q, docs in run.items():
            for rank, d in enumerate(trec_order(docs), 1):
                f.write(f"{q} Q0 {d} {rank} {docs[d]} test\n")
    names = ["nDCG@10", "AP", "R@100", "RR@10", "P@10", "Judged@10"]
    means, ours = evaluate(run_path, folder / "qrels" / "test.tsv", names, per_query=True)
    assert len(ours) == len(qrels) == 300

    trec = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "map", "recall.100", "P.10"}
                                          ).evaluate(run)
    pairs = {"nDCG@10": "ndcg_cut_10", "AP": "map", "R@100": "recall_100", "P@10": "P_10"}
    diff = max(abs(ours[q][n] - trec[q][t]) for q in trec for n, t in pairs.items())
    diff = max(diff, max(abs(means[n] - np.mean([v[t] for v in trec.values()]))
                         for n, t in pairs.items()))

    measures = [ir_measures.parse_measure(n) for n in names]
    # RR@10 from ir_measures on tie-free scores (its tie order differs from trec_eval's).
    ir_tied = ir_per_query([m for m in measures if str(m) != "RR@10"], qrels, run)
    ir_rr = ir_per_query([ir_measures.parse_measure("RR@10")], qrels, rescored(run))
    for q in qrels:
        ir_tied[q].update(ir_rr[q])
    diff = max(diff, max_diff(ours, ir_tied, names))
    aggregate = ir_measures.calc_aggregate(measures[:-1], qrels, rescored(run))  # no Judged
    aggregate.update(ir_measures.calc_aggregate(measures[-1:], qrels, run))
    diff = max(diff, max(abs(means[str(m)] - v) for m, v in aggregate.items()))
    print(f"scifact: max difference = {diff:.3g}; means {means}")
    assert diff < TOL
    assert 0 < means["nDCG@10"] < 1 and means["Judged@10"] > 0


# ---- API behaviour -----------------------------------------------------------------------

RUN = {"q1": {"d1": 2.0, "d2": 1.0, "d3": 1.0}, "q2": {"d3": 1.5}, "q4": {"d1": 1.0}}
QRELS = {"q1": {"d2": 1, "d3": 2}, "q2": {"d9": 2}, "q3": {"d1": 1}}


def _write_trec(tmp_path):
    run_path, qrels_path, beir_path = (tmp_path / "run.txt", tmp_path / "qrels.txt",
                                       tmp_path / "qrels.tsv")
    with open(run_path, "w") as f:
        for q, docs in RUN.items():
            for rank, d in enumerate(trec_order(docs), 1):
                f.write(f"{q} Q0 {d} {rank} {docs[d]} test\n")
    with open(qrels_path, "w") as f:
        for q, docs in QRELS.items():
            for d, g in docs.items():
                f.write(f"{q} 0 {d} {g}\n")
    with open(beir_path, "w") as f:
        f.write("query-id\tcorpus-id\tscore\n")
        for q, docs in QRELS.items():
            for d, g in docs.items():
                f.write(f"{q}\t{d}\t{g}\n")
    return run_path, qrels_path, beir_path


def test_inputs_objects_dicts_and_paths_agree(tmp_path):
    run_path, qrels_path, beir_path = _write_trec(tmp_path)
    metrics = ["nDCG@10", "AP", "RR", "P@2", "Judged@2"]
    expected = evaluate(RUN, QRELS, metrics, per_query=True)
    assert list(expected[1]) == ["q1", "q2"]
    for run in (RUN, densefb.Run.from_dict(RUN), run_path, str(run_path)):
        for qrels in (QRELS, densefb.Qrels.from_dict(QRELS), qrels_path, str(beir_path)):
            assert evaluate(run, qrels, metrics, per_query=True) == expected


def test_values_by_hand_and_metric_forms():
    # q1 ranks d1, d3, d2 (d3 before d2: tie broken by doc id descending); q2 retrieves nothing
    # relevant. Relevant at rel 1: q1 {d2, d3}, q2 {d9}.
    means = evaluate(RUN, QRELS, ["RR", "AP", "P@2", "recip_rank", Measure("AP(rel=2)")])
    assert means["RR"] == pytest.approx((1 / 2 + 0) / 2)
    assert means["recip_rank"] == means["RR"]
    assert means["AP"] == pytest.approx(((1 / 2 + 2 / 3) / 2 + 0) / 2)
    assert means["P@2"] == pytest.approx((1 / 2 + 0) / 2)
    assert means["AP(rel=2)"] == pytest.approx((1 / 2 + 0) / 2)
    assert evaluate(RUN, QRELS, "RR") == {"RR": means["RR"]}
    assert evaluate(RUN, QRELS, ["AP"], rel_level=2)["AP"] == pytest.approx(0.25)


def test_measure_helper():
    m = Measure("R(rel=2)@1000")
    assert (str(m), m.name, m.cutoff, m.rel_level) == ("R(rel=2)@1000", "R", 1000, 2)
    assert str(Measure("ndcg_cut_10")) == "nDCG@10" and Measure("map") == Measure("AP")
    assert Measure("AP").cutoff is None and Measure("AP").rel_level is None
    assert len({Measure("map"), Measure("AP"), Measure("AP@10")}) == 2
    with pytest.raises(ValueError, match='unknown measure "nDGC@10"'):
        Measure("nDGC@10")


def test_errors():
    with pytest.raises(ValueError, match='unknown measure "nDGC@10"'):
        evaluate(RUN, QRELS, ["AP", "nDGC@10"])
    with pytest.raises(ValueError, match="P needs a cutoff"):
        evaluate(RUN, QRELS, ["P"])
    with pytest.raises(ValueError, match='query "q1" document "d2" has a NaN score'):
        evaluate({"q1": {"d1": 1.0, "d2": math.nan}}, QRELS, ["AP"])
    dup = densefb.Run()
    dup.add("q1", ["d1", "d2", "d1"], [3.0, 2.0, 1.0])
    with pytest.raises(ValueError, match='query "q1" lists document "d1" more than once'):
        evaluate(dup, QRELS, ["AP"])
    with pytest.raises(ValueError, match="rel_level"):
        evaluate(RUN, QRELS, ["AP"], rel_level=0)
    with pytest.raises(ValueError, match="no metric"):
        evaluate(RUN, QRELS, [])
    with pytest.raises(TypeError):
        evaluate(42, QRELS, ["AP"])
    with pytest.raises(FileNotFoundError):
        evaluate("/nonexistent/run.txt", QRELS, ["AP"])


def test_large_run_is_fast():
    rng = np.random.default_rng(0)
    run = densefb.Run()
    judgments = {}
    for q in range(300):
        docs = [f"doc{j}" for j in rng.choice(100000, 1000, replace=False)]
        run.add(f"q{q}", docs, (rng.integers(0, 500, 1000) / 100).tolist())
        judgments[f"q{q}"] = {docs[j]: int(rng.integers(0, 4))
                              for j in rng.choice(1000, 50, replace=False)}
    qrels = densefb.Qrels.from_dict(judgments)
    metrics = ["nDCG@10", "AP", "R@100", "RR@10", "P@10", "Judged@10"]
    evaluate(run, qrels, metrics)  # warm-up
    best = min(_timed(lambda: evaluate(run, qrels, metrics)) for _ in range(5))
    print(f"evaluate 300 queries x 1000 docs x 6 measures: {best * 1000:.1f} ms")
    assert best < 1.0  # loose: the target is well under 0.1 s; this only catches blow-ups


def _timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# ---- command line -------------------------------------------------------------------------

def _table_rows(text):
    lines = [line.split() for line in text.splitlines() if line.strip() and line[0] != "("]
    header = lines[0]
    assert header[0] == "query"
    return {cells[0]: dict(zip(header[1:], cells[1:]))
            for cells in lines[1:] if len(cells) == len(header)}


def test_cli_prints_evaluate_numbers(tmp_path, capsys):
    run_path, qrels_path, beir_path = _write_trec(tmp_path)
    metrics = ["nDCG@10", "AP", "R@100", "RR@10", "P@5", "Judged@10"]
    out_json = tmp_path / "out.json"
    status = cli_eval.main(["--run", str(run_path), "--qrels", str(beir_path),
                            "--metrics", *metrics, "--per-query", "--json", str(out_json)])
    printed = capsys.readouterr()
    assert status == 0, printed.err
    means, per_query = evaluate(run_path, qrels_path, metrics, per_query=True)
    rows = _table_rows(printed.out)
    assert set(rows) == {"all", *per_query}
    for m in metrics:
        assert rows["all"][m] == f"{means[m]:.4f}"
        for q in per_query:
            assert rows[q][m] == f"{per_query[q][m]:.4f}"
    data = json.loads(out_json.read_text())
    assert data["mean"] == means and data["per_query"] == per_query
    assert data["metrics"] == metrics and data["num_queries"] == 2


def test_cli_options(tmp_path, capsys):
    run_path, qrels_path, _ = _write_trec(tmp_path)
    args = ["--run", str(run_path), "--qrels", str(qrels_path), "--metrics", "AP", "map_cut_10"]
    assert cli_eval.main(args + ["--rel-level", "2", "--average-over-qrels"]) == 0
    rows = _table_rows(capsys.readouterr().out)
    expected = evaluate(run_path, qrels_path, ["AP", "map_cut_10"], rel_level=2,
                        average_over_qrels=True)
    assert set(rows) == {"all"}  # no per-query rows without --per-query
    assert rows["all"] == {m: f"{v:.4f}" for m, v in expected.items()}


def test_cli_register_adds_eval_subcommand(tmp_path, capsys):
    import argparse
    run_path, qrels_path, _ = _write_trec(tmp_path)
    parser = argparse.ArgumentParser(prog="densefb")
    cli_eval.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["eval", "--run", str(run_path), "--qrels", str(qrels_path),
                              "--metrics", "RR"])
    assert args.func(args) == 0
    assert _table_rows(capsys.readouterr().out)["all"]["RR"] == "0.2500"


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "densefb.cli_eval", *args], capture_output=True,
                          text=True, env=os.environ.copy())


def test_cli_malformed_run_file_is_one_line_error(tmp_path):
    _, qrels_path, _ = _write_trec(tmp_path)
    bad = tmp_path / "bad.run"
    bad.write_text("q1 Q0 d1 1 2.0 test\nq1 Q0 d2 two\n")
    result = _cli("--run", str(bad), "--qrels", str(qrels_path), "--metrics", "AP")
    assert result.returncode != 0 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "bad.run" in lines[0] and "line 2" in lines[0] and "Traceback" not in result.stderr


@pytest.mark.parametrize("case", ["unknown_metric", "missing_run", "missing_qrels", "bad_level"])
def test_cli_errors_exit_2_with_one_line(tmp_path, case):
    run_path, qrels_path, _ = _write_trec(tmp_path)
    args = {"run": str(run_path), "qrels": str(qrels_path), "metrics": ["AP"], "extra": []}
    expect = {"unknown_metric": 'unknown measure "nDGC@10"', "missing_run": "nope.run",
              "missing_qrels": "nope.qrels", "bad_level": "rel_level"}[case]
    if case == "unknown_metric":
        args["metrics"] = ["AP", "nDGC@10"]
    elif case == "missing_run":
        args["run"] = str(tmp_path / "nope.run")
    elif case == "missing_qrels":
        args["qrels"] = str(tmp_path / "nope.qrels")
    else:
        args["extra"] = ["--rel-level", "0"]
    result = _cli("--run", args["run"], "--qrels", args["qrels"], "--metrics", *args["metrics"],
                  *args["extra"])
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expect in lines[0], result.stderr


@pytest.mark.parametrize("grade, shown", [
    (1.5, r"1\.5 \(float\)"), (2.0, r"2\.0 \(float\)"), ("2", r"'2' \(str\)"), (None, r"None \(NoneType\)")])
def test_a_grade_that_is_not_an_integer_names_query_document_and_value(grade, shown):
    # Regression: pybind11's "Unable to cast ... to C++ type '?'".
    with pytest.raises(ValueError, match=r'qrels: grade of document "d2" of query "q1" must be an integer, got ' + shown):
        evaluate(RUN, {"q1": {"d1": 1, "d2": grade}}, ["AP"])
    qrels = densefb.Qrels()
    with pytest.raises(ValueError, match=r'grade of document "d" of query "q" must be an integer'):
        qrels.set("q", "d", grade)


def test_dict_inputs_with_wrong_types_give_one_line_value_errors():
    with pytest.raises(ValueError, match=r"qrels: grade of document \"d1\" of query \"q1\" 1267650600228229401496703205376 is out of range"):
        evaluate(RUN, {"q1": {"d1": 2 ** 100}}, ["AP"])
    with pytest.raises(ValueError, match=r'run: score of document "d1" of query "q1" must be a number, got \'high\' \(str\)'):
        evaluate({"q1": {"d1": "high"}}, QRELS, ["AP"])
    with pytest.raises(ValueError, match=r"qrels: document id 7 must be a str, not int"):
        evaluate(RUN, {"q1": {7: 1}}, ["AP"])
    with pytest.raises(ValueError, match=r"run: query id 1 must be a str, not int"):
        evaluate({1: {"d1": 1.0}}, QRELS, ["AP"])
    # Numpy numbers and bools are numbers.
    assert evaluate({"q1": {"d1": np.float32(2.0), "d2": np.int64(1)}},
                    {"q1": {"d1": np.int64(1), "d2": True}}, ["AP"]) == {"AP": 1.0}
