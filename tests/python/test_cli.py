"""``densefb index`` and ``densefb search`` end to end on SciFact with the packaged
all-MiniLM-L6-v2, checked against numpy / pytrec_eval references; bad input gives exit status
2 and one line on stderr."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import densefb
from densefb import cli

from beir_subset import write_subset
from int8_reference import cpu_has_vnni
from conftest import packaged_minilm

MODEL = "sentence-transformers/all-MiniLM-L6-v2"


def run_cli(*args, check=True):
    """Runs ``python -m densefb.cli ARGS`` in a subprocess (stdout/stderr are pipes, not a TTY)."""
    proc = subprocess.run([sys.executable, "-m", "densefb.cli", *map(str, args)],
                          capture_output=True, text=True, env=os.environ.copy(), timeout=900)
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}: {proc.stderr}")
    return proc


def read_run(path: Path):
    """{qid: [(docid, rank, score), ...]} of a TREC run file, in file order."""
    out = {}
    for line in path.read_text().splitlines():
        qid, q0, doc, rank, score, tag = line.split()
        assert q0 == "Q0"
        out.setdefault(qid, []).append((doc, int(rank), float(score)))
    return out


def ndcg10_pytrec(run_path: Path, qrels: dict) -> float:
    import pytrec_eval

    run = {q: {d: s for d, _, s in rows} for q, rows in read_run(run_path).items()}
    ev = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10"})
    values = [v["ndcg_cut_10"] for v in ev.evaluate(run).values()]
    return float(np.mean(values))


def numpy_topk(docs: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    scores = queries.astype(np.float64) @ docs.astype(np.float64).T
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


# ---- full SciFact from cached vectors ------------------------------------------------------------

@pytest.fixture(scope="module")
def scifact_index(tmp_path_factory, scifact, scifact_vectors, shared_data):
    """densefb index over SciFact: the flat index from the cached sentence-transformers document
    vectors (--vectors), and BM25."""
    docs, _ = scifact_vectors
    tmp = tmp_path_factory.mktemp("cli")
    np.save(tmp / "docs.npy", docs)
    out = tmp / "index"
    proc = run_cli("index", shared_data / "scifact", "--output", out, "--model", MODEL,
                   "--vectors", tmp / "docs.npy", "--bm25")
    assert proc.stderr == ""  # not a terminal: no progress bars, no status lines
    assert proc.stdout.startswith(f"{out}: flat index of 5183 vectors (dim 384, ip) and BM25 index")
    return out


def test_index_folder_and_manifest(scifact_index, scifact, scifact_vectors, shared_data):
    manifest = json.loads((scifact_index / "manifest.json").read_text())
    assert manifest["format"] == "densefb-index" and manifest["version"] == 2
    assert manifest["densefb_version"] == densefb.__version__
    assert manifest["dataset"]["name"] == "scifact"
    assert Path(manifest["dataset"]["path"]) == (shared_data / "scifact").resolve()
    assert manifest["dataset"]["num_documents"] == len(scifact.corpus) == 5183
    assert manifest["model"]["name"] == MODEL
    assert (manifest["model"]["dim"], manifest["model"]["normalized"]) == (384, True)
    assert Path(manifest["model"]["path"]).resolve() == packaged_minilm().resolve()
    assert manifest["dense"]["kind"] == "flat" and manifest["dense"]["metric"] == "ip"
    assert manifest["dense"]["num_vectors"] == 5183
    assert manifest["bm25"]["k1"] == 0.9 and manifest["bm25"]["b"] == 0.4
    assert manifest["bm25"]["lucene_norms"] is True  # Lucene's quantised norms by default
    assert (scifact_index / "docids.txt").read_text().split("\n")[:-1] == list(scifact.corpus.ids)
    index = densefb.FlatIndex.load(scifact_index / "dense.flat")
    docs, _ = scifact_vectors
    picks = np.array([0, 17, 2500, 5182])
    np.testing.assert_array_equal(index.reconstruct(picks), docs[picks])


def test_search_dense_matches_numpy_and_pytrec_eval(scifact_index, scifact, scifact_vectors, shared_data, tmp_path):
    docs, queries = scifact_vectors
    run_path = tmp_path / "dense.trec"
    proc = run_cli("search", scifact_index, "--dataset", shared_data / "scifact", "--output", run_path,
                   "--k", 100, "--metrics", "nDCG@10")
    assert proc.stderr == ""
    printed = float(proc.stdout.strip().splitlines()[-1].split()[1])
    qrels = scifact.qrels.to_dict()
    run = read_run(run_path)
    assert list(run) == list(scifact.queries.ids) and all(len(v) == 100 for v in run.values())
    assert all([r for _, r, _ in rows] == list(range(1, 101)) for rows in run.values())
    # The printed metric is pytrec_eval's on the written file.
    assert printed == pytest.approx(ndcg10_pytrec(run_path, qrels), abs=5e-5)
    # The ranking is numpy's exact top-k with sentence-transformers' query vectors (the C++
    # encoder matches them to cosine 0.99999, so only near-ties may swap).
    ref = numpy_topk(docs, queries, 10)
    ids = scifact.corpus.ids
    top1 = np.mean([run[q][0][0] == ids[ref[i, 0]] for i, q in enumerate(scifact.queries.ids)])
    overlap = np.mean([len({d for d, _, _ in run[q][:10]} & {ids[j] for j in ref[i]}) / 10
                       for i, q in enumerate(scifact.queries.ids)])
    assert top1 >= 0.99 and overlap >= 0.99
    assert printed == pytest.approx(0.6451, abs=0.003)  # all-MiniLM-L6-v2 on SciFact


def test_search_rocchio_prf_matches_numpy(scifact_index, scifact, scifact_vectors, shared_data, tmp_path):
    docs, queries = scifact_vectors
    run_path = tmp_path / "rocchio.trec"
    run_cli("search", scifact_index, "-d", shared_data / "scifact", "-o", run_path, "-k", 20, "--prf", "rocchio",
            "--rocchio-alpha", 0.4, "--rocchio-beta", 0.6, "--rocchio-topk", 5, "--tag", "rocchio5")
    # Pyserini's Rocchio: q' = 0.4 q + 0.6 mean(first-pass top 5), then a fresh exact search.
    first = numpy_topk(docs, queries, 5)
    refined = 0.4 * queries.astype(np.float64) + 0.6 * docs[first].astype(np.float64).mean(axis=1)
    ref = numpy_topk(docs, refined, 10)
    run = read_run(run_path)
    ids = scifact.corpus.ids
    overlap = np.mean([len({d for d, _, _ in run[q][:10]} & {ids[j] for j in ref[i]}) / 10
                       for i, q in enumerate(scifact.queries.ids)])
    assert overlap >= 0.99
    assert run_path.read_text().split("\n", 1)[0].endswith(" rocchio5")


def test_search_bm25_rm3_and_queries_tsv(scifact_index, scifact, shared_data, tmp_path):
    tsv = tmp_path / "topics.tsv"
    qids, texts = list(scifact.queries.ids)[:40], list(scifact.queries.texts)[:40]
    tsv.write_text("".join(f"{q}\t{t}\n" for q, t in zip(qids, texts)))
    run_path = tmp_path / "rm3.trec"
    run_cli("search", scifact_index, "--queries", tsv, "-o", run_path, "-k", 50, "--retriever", "bm25",
            "--rm3", "--rm3-fb-docs", 5)
    bm25 = densefb.Bm25Index.build(scifact.corpus)
    expected = bm25.search_run(texts, qids, k=50, rm3={"fb_docs": 5})
    got = densefb.read_trec_run(run_path)
    assert got.query_ids == qids
    for q in qids:
        want = sorted(expected.get(q), key=lambda e: (-e[1], e[0]))
        have = sorted(got.get(q), key=lambda e: (-e[1], e[0]))
        assert [d for d, _ in have] == [d for d, _ in want]
        np.testing.assert_allclose([s for _, s in have], [s for _, s in want], rtol=1e-6)


def test_search_filter_file(scifact_index, scifact, tmp_path, capsys):
    """--filter: a 'QUERY_ID DOC_ID' file restricts each query (with '*' for every query); the run
    equals the Python pipeline with the same {query id: documents} filter, and bad lines are
    named by file and line."""
    tsv = tmp_path / "topics.tsv"
    qids, texts = list(scifact.queries.ids)[:30], list(scifact.queries.texts)[:30]
    tsv.write_text("".join(f"{q}\t{t}\n" for q, t in zip(qids, texts)))
    names = list(scifact.corpus.ids)
    rng = np.random.default_rng(2)
    allow = {q: [names[i] for i in rng.choice(len(names), 50, replace=False)] for q in qids[:-2]}
    everyone = [names[i] for i in rng.choice(len(names), 20, replace=False)]
    lines = [f"{q} {d}" for q, docs in allow.items() for d in docs] + [f"* {d}" for d in everyone]
    (tmp_path / "allow.txt").write_text("# allowed documents\n" + "\n".join(lines) + "\n")
    out = tmp_path / "f.trec"
    assert cli.main(["search", str(scifact_index), "--queries", str(tsv), "-o", str(out), "-k", "100",
                     "--quiet", "--pipeline", "bm25 >> rm3 >> bm25", "--filter", str(tmp_path / "allow.txt")]) == 0
    got = densefb.read_trec_run(out).to_dict()
    bm25 = densefb.Bm25Index.build(scifact.corpus)
    want = densefb.Pipeline("bm25 >> rm3 >> bm25").run(
        densefb.Resources(corpus=scifact.corpus, bm25=bm25), list(zip(qids, texts)), k=100,
        filter={q: allow.get(q, []) + everyone for q in qids}).to_dict()
    assert {q: sorted(d) for q, d in got.items()} == {q: sorted(d) for q, d in want.items()}
    for q in qids:
        assert set(got.get(q, {})) <= set(allow.get(q, [])) | set(everyone)
    (tmp_path / "bad.txt").write_text(f"{qids[0]} {names[0]}\n{qids[1]} no-such-doc\n")
    capsys.readouterr()
    assert cli.main(["search", str(scifact_index), "--queries", str(tsv), "-o", str(tmp_path / "b.trec"),
                     "--retriever", "bm25", "--filter", str(tmp_path / "bad.txt")]) == 2
    assert "bad.txt:2: document 'no-such-doc' is not in the index" in capsys.readouterr().err
    assert not (tmp_path / "b.trec").exists()


def test_search_pipeline_spec_equals_flags_and_fusion(scifact_index, scifact, tmp_path, capsys):
    """--pipeline runs the spec over the folder's indexes: the same rankings as --prf, and RRF of
    the dense and BM25 runs as densefb.fusion.fuse computes it."""
    if not hasattr(densefb, "Pipeline"):
        pytest.skip("densefb.Pipeline is not built")
    from densefb.fusion import fuse

    tsv = tmp_path / "topics.tsv"  # 40 queries keep the five searches short
    qids, texts = list(scifact.queries.ids)[:40], list(scifact.queries.texts)[:40]
    tsv.write_text("".join(f"{q}\t{t}\n" for q, t in zip(qids, texts)))
    paths = {name: tmp_path / f"{name}.trec" for name in ("flags", "spec", "dense", "bm25", "rrf")}
    common = ["--queries", str(tsv), "-k", "100", "--quiet"]
    assert cli.main(["search", str(scifact_index), *common, "-o", str(paths["flags"]), "--prf", "rocchio",
                     "--rocchio-alpha", "0.4", "--rocchio-beta", "0.6", "--rocchio-topk", "5"]) == 0
    assert cli.main(["search", str(scifact_index), *common, "-o", str(paths["spec"]), "--pipeline",
                     "dense >> rocchio(alpha=0.4,beta=0.6,topk=5) >> dense"]) == 0
    assert cli.main(["search", str(scifact_index), *common, "-o", str(paths["dense"])]) == 0
    assert cli.main(["search", str(scifact_index), *common, "-o", str(paths["bm25"]), "--retriever", "bm25"]) == 0
    assert cli.main(["search", str(scifact_index), *common, "-o", str(paths["rrf"]),
                     "--pipeline", "fuse(rrf(k=60), dense(k=100), bm25(k=100))"]) == 0
    assert capsys.readouterr() == ("", "")  # --quiet
    runs = {name: densefb.read_trec_run(path) for name, path in paths.items()}
    expected_rrf = fuse([runs["dense"], runs["bm25"]], method="rrf", k=60, top=100)
    # RRF: equal at the top; deeper, BM25 score ties may be ranked in another order in the
    # TREC files than in memory, which moves reciprocal ranks slightly.
    # Tied BM25 scores (common with Lucene's quantised length norms) are ranked by smaller position
    # in the pipeline and by docid in the TREC files' fusion: RRF is compared where BM25 has no tie.
    untied = [q for q in qids if len({s for _, s in runs["bm25"].get(q)}) == len(runs["bm25"].get(q))]
    assert len(untied) >= 8
    for got, want, depth, queries in ((runs["spec"], runs["flags"], 100, qids),
                                      (runs["rrf"], expected_rrf, 20, untied)):
        assert got.query_ids == qids
        for q in queries:
            have = sorted(got.get(q), key=lambda e: (-e[1], e[0]))[:depth]
            need = sorted(want.get(q), key=lambda e: (-e[1], e[0]))[:depth]
            assert [d for d, _ in have[:20]] == [d for d, _ in need[:20]], q
            np.testing.assert_allclose([s for _, s in have], [s for _, s in need], rtol=1e-5, atol=1e-6)


def test_plugin_module_registers_a_python_stage(scifact_index, scifact, tmp_path, monkeypatch):
    """--plugin MODULE imports a module whose densefb.register(...) makes a Python stage usable in
    --pipeline specs."""
    (tmp_path / "my_stages.py").write_text(
        "import numpy as np\n"
        "import densefb\n\n"
        "class Reverse(densefb.Reranker):\n"
        "    def __init__(self, k=10):\n"
        "        super().__init__()\n"
        "        self.k = k\n\n"
        "    def rerank(self, queries, scores, ids):\n"
        "        ids = ids[:, :self.k][:, ::-1].copy()\n"
        "        return np.tile(np.arange(ids.shape[1], 0, -1, dtype=np.float32), (ids.shape[0], 1)), ids\n\n"
        "densefb.register('reverse_top', Reverse, help='the top k in reverse order')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    tsv = tmp_path / "topics.tsv"
    qids, texts = list(scifact.queries.ids)[:10], list(scifact.queries.texts)[:10]
    tsv.write_text("".join(f"{q}\t{t}\n" for q, t in zip(qids, texts)))
    common = ["--queries", str(tsv), "-k", "10", "--quiet"]
    try:
        assert cli.main(["search", str(scifact_index), *common, "-o", str(tmp_path / "dense.trec")]) == 0
        assert cli.main(["search", str(scifact_index), *common, "-o", str(tmp_path / "mine.trec"),
                         "--plugin", "my_stages", "--pipeline", "dense(k=10) >> reverse_top(k=5)"]) == 0
        dense, mine = read_run(tmp_path / "dense.trec"), read_run(tmp_path / "mine.trec")
        for q in qids:
            assert [d for d, _, _ in mine[q]] == [d for d, _, _ in dense[q][:5]][::-1]
        assert (tmp_path / "mine.trec").read_text().split("\n", 1)[0].split()[-1].endswith("reverse_top(k=5)")
    finally:
        densefb.unregister("reverse_top")


# ---- encoding a small real folder; HNSW; progress bars on a terminal --------------------------------

@pytest.fixture(scope="module")
def subset(tmp_path_factory, scifact):
    folder = tmp_path_factory.mktemp("subset") / "scifact-small"
    keep, qids = write_subset(scifact, folder, num_queries=20, extra_docs=60)
    return folder, keep, qids


def test_index_encodes_hnsw_and_search_finds_neighbours(subset, scifact, scifact_vectors, tmp_path):
    folder, keep, qids = subset
    out = tmp_path / "hnsw"
    proc = run_cli("index", folder, "-o", out, "-m", packaged_minilm(), "--dense", "hnsw", "--M", 8,
                   "--ef-construction", 64, "--ef-search", 32, "--metric", "cosine", "--batch-size", 16)
    assert proc.stderr == ""
    manifest = json.loads((out / "manifest.json").read_text())
    assert {k: manifest["dense"][k] for k in ("kind", "M", "ef_construction", "ef_search", "metric")} == \
        {"kind": "hnsw", "M": 8, "ef_construction": 64, "ef_search": 32, "metric": "cosine"}
    assert manifest["bm25"] is None and manifest["dataset"]["num_documents"] == len(keep)
    # The encoded vectors are sentence-transformers' (cached) for the same documents.
    index = densefb.HnswIndex.load(out / "dense.hnsw")
    got = index.reconstruct(np.arange(len(keep)))
    want = scifact_vectors[0][keep]
    cos = (got * want).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(want, axis=1)
    assert cos.min() > 0.9999
    # Searching with the BEIR queries file of the folder: top-1 = numpy's exact neighbour.
    run_path = tmp_path / "hnsw.trec"
    run_cli("search", out, "--queries", folder / "queries.jsonl", "-o", run_path, "-k", 10, "--ef-search", 64)
    run = read_run(run_path)
    assert list(run) == qids
    _, queries = scifact_vectors
    qpos = [list(scifact.queries.ids).index(q) for q in qids]
    ref = numpy_topk(want, queries[qpos], 1)[:, 0]
    ids = (out / "docids.txt").read_text().split("\n")[:-1]
    assert np.mean([run[q][0][0] == ids[ref[i]] for i, q in enumerate(qids)]) >= 0.95


def test_index_int8_precision_is_recorded(subset, scifact_vectors, tmp_path):
    """--precision int8: the manifest records the precision and the weight bits this CPU gets
    (8 with AVX512-VNNI, 7 elsewhere), and the vectors are int8's, close to float32's but not
    equal to them."""
    from densefb import _torch

    folder, keep, _ = subset
    out = tmp_path / "int8"
    run_cli("index", folder, "-o", out, "-m", packaged_minilm(), "--precision", "int8", "--quiet")
    model = json.loads((out / "manifest.json").read_text())["model"]
    assert (model["precision"], model["int8_weight_bits"]) == ("int8", 8 if cpu_has_vnni() else 7)
    assert _torch.int8_weight_bits() == model["int8_weight_bits"]
    got = densefb.FlatIndex.load(out / "dense.flat").reconstruct(np.arange(len(keep)))
    cos = (got * scifact_vectors[0][keep]).sum(1) / np.linalg.norm(got, axis=1)
    assert 0.98 <= cos.min() and cos.mean() < 0.99999, (cos.min(), cos.mean())


def test_progress_bars_on_a_terminal_only(subset, tmp_path):
    import fcntl
    import pty
    import struct
    import termios

    folder, keep, _ = subset
    outputs = {}
    for quiet in (False, True):
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a 100-column terminal
        args = [sys.executable, "-m", "densefb.cli", "index", str(folder), "-o", str(tmp_path / f"i{quiet}"),
                "--bm25"] + (["--quiet", "--dense", "none"] if quiet else ["-m", str(packaged_minilm())])
        proc = subprocess.run(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave,
                              env=os.environ.copy(), timeout=900)
        os.close(slave)
        chunks = []
        while True:
            try:
                block = os.read(master, 65536)
            except OSError:
                break
            if not block:
                break
            chunks.append(block)
        os.close(master)
        assert proc.returncode == 0
        outputs[quiet] = (b"".join(chunks).decode("utf-8", "replace"), proc.stdout.decode())
    err, out = outputs[False]
    assert "indexing" in err and f"{len(keep)}/{len(keep)}" in err  # the tqdm bar
    assert "building BM25" in err and out.strip()
    assert outputs[True] == ("", "")


# ---- errors: exit status 2, one line, no traceback ----------------------------------------------

def one_line_error(capsys, argv, expect):
    code = None
    try:
        code = cli.main([str(a) for a in argv])
    except SystemExit as e:  # argparse usage errors
        code = e.code
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2, captured
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    assert lines[0].startswith("densefb") and expect in lines[0], lines[0]
    return lines[0]


def test_errors_are_one_line(capsys, tmp_path, scifact_index, shared_data):
    sci = shared_data / "scifact"
    one_line_error(capsys, ["index", tmp_path / "nope", "-o", tmp_path / "o", "-m", MODEL], "is not a folder")
    one_line_error(capsys, ["index", sci, "-o", tmp_path / "o"], "needs --model")
    one_line_error(capsys, ["index", sci, "-o", tmp_path / "o", "--dense", "none"], "needs --bm25")
    one_line_error(capsys, ["index", sci, "-o", tmp_path / "o", "-m", MODEL, "--M", 8], "--dense hnsw only")
    one_line_error(capsys, ["index", sci, "-o", tmp_path / "o", "--dense", "fancy"], "invalid choice: 'fancy'")
    one_line_error(capsys, ["index", sci, "-o", scifact_index, "-m", MODEL], "not empty")
    one_line_error(capsys, ["index", sci, "-o", tmp_path / "o", "--M", "0", "--dense", "hnsw"], "must be >= 1")
    np.save(tmp_path / "bad.npy", np.zeros((10, 384), np.float32))
    one_line_error(capsys, ["index", sci, "-o", tmp_path / "o2", "-m", MODEL, "--vectors", tmp_path / "bad.npy"],
                   "expected (5183, dim)")
    one_line_error(capsys, ["index", sci, "-o", tmp_path / "o3", "-m", tmp_path, "--vectors", tmp_path / "bad.npy"],
                   "expected (5183, dim)")
    one_line_error(capsys, ["search", tmp_path / "none", "-d", sci, "-o", tmp_path / "r"], "no such index folder")
    one_line_error(capsys, ["search", tmp_path, "-d", sci, "-o", tmp_path / "r"], "no manifest.json")
    one_line_error(capsys, ["search", scifact_index, "-o", tmp_path / "r"], "one of the arguments")
    one_line_error(capsys, ["search", scifact_index, "-d", sci, "-o", tmp_path / "r", "--retriever", "bm25",
                            "--prf", "avg"], "--prf needs the dense retriever")
    one_line_error(capsys, ["search", scifact_index, "-d", sci, "-o", tmp_path / "r", "--rocchio-alpha", "0.5"],
                   "--rocchio-alpha needs --prf rocchio")
    one_line_error(capsys, ["search", scifact_index, "-d", sci, "-o", tmp_path / "r", "--rm3"],
                   "--rm3 needs --retriever bm25")
    one_line_error(capsys, ["search", scifact_index, "-d", sci, "-o", tmp_path / "r", "--ef-search", "50"],
                   "HNSW index only")
    one_line_error(capsys, ["search", scifact_index, "-d", sci, "-o", tmp_path / "r", "--k", "-3"], "--k")
    bad = tmp_path / "topics.tsv"
    bad.write_text("1\tok\n2 no tab here\n")
    one_line_error(capsys, ["search", scifact_index, "--queries", bad, "-o", tmp_path / "r"],
                   f"{bad} line 2: expected 'qid<TAB>text'")
    one_line_error(capsys, ["search", scifact_index, "--queries", bad, "-o", tmp_path / "r", "--metrics", "AP"],
                   "--metrics needs qrels")
    one_line_error(capsys, ["search", scifact_index, "-d", tmp_path, "-o", tmp_path / "r"], "")
    if hasattr(densefb, "Pipeline"):
        one_line_error(capsys, ["search", scifact_index, "-d", sci, "-o", tmp_path / "r", "--pipeline", "dense >>"],
                       "pipeline spec")
        one_line_error(capsys, ["search", scifact_index, "-d", sci, "-o", tmp_path / "r", "--pipeline", "dense",
                                "--prf", "avg"], "--pipeline replaces --prf")
    one_line_error(capsys, ["search", scifact_index, "-d", sci, "-o", tmp_path / "r", "--unknown"],
                   "unrecognized arguments: --unknown")


def test_every_option_is_explained():
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    for name in ("index", "search"):
        p = sub.choices[name]
        assert p.description
        for action in p._actions:
            assert action.help, f"densefb {name} {action.option_strings or action.dest}: no help"
        text = p.format_help()
        for action in p._actions:
            for flag in action.option_strings:
                assert flag in text
