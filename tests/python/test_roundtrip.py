"""What densefb writes, densefb must read: round-trip properties of every writer/reader pair of
the data layer, on values drawn by a seeded generator to be hostile (ids in many scripts and
with quotes, backslashes, zero-width characters; scores at the edges of double and float; ties),
and on the same files saved by a Windows editor (BOM, CRLF line ends).

Pairs: write_trec_run / read_trec_run, write_trec_qrels / read_trec_qrels and read_qrels,
make_run -> write_trec_run / read_trec_run, BEIR JSON lines and qrels TSV (as tests and users
write them) / load_beir, topics TSV / the search command's read_queries_file.
"""
import json
import math
import random
import struct

import numpy as np
import pytest

import densefb
from densefb.cli_search import read_queries_file

PIECES = ["a", "Z", "0", "9", "-", "_", ".", "/", "#", '"', "'", "\\", "Q0", "nan", "inf",
          "\u00e9", "\u4e2d", "\U0001f600", "\u0301", "\u200d", "\u200b", "\uff21", "\u05d0", "\u0928\u094d"]
SCORES = [0.0, -0.0, 1e-308, -1e-308, 5e-324, 2.2250738585072009e-308, 1.7976931348623157e308,
          -1.7976931348623157e308, math.inf, -math.inf, 0.1, 0.30000000000000004, 1 / 3, 0.5, 0.5]
SEEDS = range(1, 41)


def hostile_id(rng: random.Random) -> str:
    return "".join(rng.choice(PIECES) for _ in range(rng.randint(1, 6)))


def hostile_score(rng: random.Random) -> float:
    if rng.random() < 0.3:
        x = struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0]
        if not math.isnan(x):
            return x
    return rng.choice(SCORES)


def same_float(a: float, b: float) -> bool:
    return struct.pack("<d", a) == struct.pack("<d", b)


def windows_copy(path, dest):
    """``path`` as a Windows editor saves it: a BOM in front, CRLF line ends."""
    dest.write_bytes(b"\xef\xbb\xbf" + path.read_bytes().replace(b"\n", b"\r\n"))
    return dest


def random_run_and_qrels(rng: random.Random):
    run, qrels = {}, {}
    for _ in range(rng.randint(1, 5)):
        qid = hostile_id(rng)
        docs = {hostile_id(rng): hostile_score(rng) for _ in range(rng.randint(1, 12))}
        run[qid] = docs
        qrels[qid] = {d: rng.randint(-2, 4) for d in docs}
    return run, qrels


def ranked(docs: dict) -> list:
    """trec_eval's order: score descending, ties by document id descending (as bytes)."""
    return sorted(docs.items(), key=lambda e: (e[1], e[0].encode()), reverse=True)


@pytest.mark.parametrize("seed", SEEDS)
def test_trec_run_and_qrels_round_trip(tmp_path, seed):
    rng = random.Random(seed)
    run_dict, qrels_dict = random_run_and_qrels(rng)
    run = densefb.Run.from_dict(run_dict)
    run.name = hostile_id(rng)
    densefb.write_trec_run(tmp_path / "run.txt", run)
    densefb.write_trec_qrels(tmp_path / "qrels.txt", densefb.Qrels.from_dict(qrels_dict))
    for run_path, qrels_path in ((tmp_path / "run.txt", tmp_path / "qrels.txt"),
                                 (windows_copy(tmp_path / "run.txt", tmp_path / "run-crlf.txt"),
                                  windows_copy(tmp_path / "qrels.txt", tmp_path / "qrels-crlf.txt"))):
        back = densefb.read_trec_run(run_path)
        assert back.name == run.name
        assert list(back.query_ids) == list(run_dict)
        for qid, docs in run_dict.items():
            got = back.get(qid)
            want = ranked(docs)
            assert [d for d, _ in got] == [d for d, _ in want]
            assert all(same_float(a, b) for (_, a), (_, b) in zip(got, want))
        for read in (densefb.read_trec_qrels, densefb.read_qrels):
            assert read(qrels_path).to_dict() == qrels_dict
        metrics = ["nDCG@10", "AP", "RR", "P@5", "R@100"]
        assert densefb.evaluate(run_path, qrels_path, metrics) == densefb.evaluate(run_dict, qrels_dict, metrics)


@pytest.mark.parametrize("seed", SEEDS)
def test_make_run_round_trips_float32_scores(tmp_path, seed):
    rng = np.random.default_rng(seed)
    edges = np.array([0.0, -0.0, 1e-45, -1e-45, 1.17549435e-38, 3.4028235e38, -3.4028235e38, 0.5, 0.5],
                     dtype=np.float32)
    n_docs, k = 20, 8
    doc_ids = [f"d{i}\u00e9" + "\U0001f600" * (i % 3) for i in range(n_docs)]
    ids = np.stack([rng.permutation(n_docs)[:k] for _ in range(3)])
    ids[0, -2:] = -1  # padding
    scores = rng.choice(edges, size=(3, k)).astype(np.float32)
    run = densefb.make_run(["q1", "q\u4e2d", "q3"], ids, scores, doc_ids)
    densefb.write_trec_run(tmp_path / "run.txt", run)
    back = densefb.read_trec_run(tmp_path / "run.txt")
    for q, qid in enumerate(["q1", "q\u4e2d", "q3"]):
        want = {doc_ids[i]: float(s) for i, s in zip(ids[q], scores[q]) if i >= 0}
        got = dict(back.get(qid))
        assert got.keys() == want.keys()
        assert all(same_float(got[d], want[d]) for d in want)


@pytest.mark.parametrize("seed", SEEDS)
def test_beir_folder_and_topics_round_trip(tmp_path, seed):
    rng = random.Random(seed)
    texts = ["", "plain", "tab\tinside", "quote \" and \\ backslash", "\u00e9\u4e2d\U0001f600", "\ufeffbom inside",
             "trailing space ", "line\u2028separator", "nul\x00byte"]
    docs = {}
    while len(docs) < rng.randint(2, 10):
        docs[hostile_id(rng)] = (rng.choice(texts), rng.choice(texts))
    queries = {}
    while len(queries) < rng.randint(1, 5):
        queries[hostile_id(rng)] = rng.choice([t for t in texts if "\t" not in t and "\x00" not in t])
    qrels = {q: {d: rng.randint(0, 3) for d in rng.sample(sorted(docs), 2)} for q in queries}
    (tmp_path / "qrels").mkdir()
    with open(tmp_path / "corpus.jsonl", "w", encoding="utf-8") as f:
        for d, (title, text) in docs.items():
            f.write(json.dumps({"_id": d, "title": title, "text": text}, ensure_ascii=rng.random() < 0.5) + "\n")
    with open(tmp_path / "queries.jsonl", "w", encoding="utf-8") as f:
        for q, text in queries.items():
            f.write(json.dumps({"_id": q, "text": text}, ensure_ascii=False) + "\n")
    with open(tmp_path / "qrels" / "test.tsv", "w", encoding="utf-8") as f:
        f.write("query-id\tcorpus-id\tscore\n")
        f.writelines(f"{q}\t{d}\t{g}\n" for q, judged in qrels.items() for d, g in judged.items())
    with open(tmp_path / "topics.tsv", "w", encoding="utf-8", newline="") as f:
        f.writelines(f"{q}\t{text}\n" for q, text in queries.items())
    for name in ("corpus.jsonl", "queries.jsonl", "qrels/test.tsv", "topics.tsv"):
        windows_copy(tmp_path / name, tmp_path / f"{name}.win")

    for suffix in ("", ".win"):
        if suffix:
            for name in ("corpus.jsonl", "queries.jsonl", "qrels/test.tsv", "topics.tsv"):
                (tmp_path / f"{name}.win").replace(tmp_path / name)
        ds = densefb.load_beir(tmp_path)
        assert list(ds.corpus.ids) == list(docs)
        assert [(ds.corpus[i]["title"], ds.corpus[i]["text"]) for i in range(len(docs))] == list(docs.values())
        assert list(ds.queries.ids) == list(queries) and list(ds.queries.texts) == list(queries.values())
        assert ds.qrels.to_dict() == qrels
        assert read_queries_file(str(tmp_path / "topics.tsv")) == (list(queries), list(queries.values()))


@pytest.mark.parametrize("bad", ["a b", "a\tb", "a\nb", "a\r", "a\x00", "a\x85", "\u00a0", "\u2028", "\ufeffx",
                                 "a\u3000b", ""])
def test_writers_never_get_an_id_their_readers_refuse(tmp_path, bad):
    with pytest.raises(ValueError):
        densefb.Run.from_dict({"q": {bad: 1.0}})
    with pytest.raises(ValueError):
        densefb.Run().add(bad, ["d"], [1.0])
    with pytest.raises(ValueError):
        densefb.Qrels.from_dict({bad: {"d": 1}})
    with pytest.raises(ValueError):
        densefb.make_run(["q"], np.array([[0]]), np.array([[1.0]]), [bad])
    run = densefb.Run.from_dict({"q": {"d": 1.0}})
    run.name = bad
    if bad:  # an empty tag is written as "densefb"
        with pytest.raises(ValueError):
            densefb.write_trec_run(tmp_path / "run.txt", run)
        assert not (tmp_path / "run.txt").exists()
