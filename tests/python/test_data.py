"""Data model and file formats through the Python API."""
import gzip
import json

import pytest

import densefb


def test_scifact_loads_with_readme_counts(scifact):
    assert len(scifact.corpus) == 5183
    assert len(scifact.queries) == 300
    assert len(scifact.qrels) == 300
    assert scifact.qrels.num_judgments == 339
    # Cross-check against a direct read of the files.
    with gzip.open(f"{scifact.path}/corpus.jsonl.gz", "rt") as f:
        first = json.loads(f.readline())
    assert scifact.corpus[0]["_id"] == first["_id"]
    assert scifact.corpus[0]["text"] == first["text"]
    assert scifact.corpus.texts()[0] == f"{first['title']} {first['text']}"
    assert scifact.corpus.position(first["_id"]) == 0
    with pytest.raises(KeyError):
        scifact.corpus.position("no-such-doc")


def test_load_beir_by_name_through_env(shared_data, monkeypatch):
    monkeypatch.setenv("DENSEFB_DATA", str(shared_data))
    ds = densefb.load_beir("cranfield")
    assert len(ds.corpus) == 1400 and len(ds.queries) == 225


def test_malformed_corpus_names_file_and_line(tmp_path):
    (tmp_path / "qrels").mkdir()
    (tmp_path / "corpus.jsonl").write_text('{"_id": "d1", "text": "a"}\n{"_id": "d2"}\n')
    (tmp_path / "queries.jsonl").write_text('{"_id": "q1", "text": "a"}\n')
    (tmp_path / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\n")
    with pytest.raises(ValueError, match=r"corpus.jsonl line 2: missing \"text\""):
        densefb.load_beir(tmp_path)
    (tmp_path / "corpus.jsonl").write_text("")
    with pytest.raises(ValueError, match="empty file"):
        densefb.load_beir(tmp_path)
    with pytest.raises(FileNotFoundError):
        densefb.load_beir(tmp_path / "missing")


def test_run_and_qrels_round_trip(tmp_path):
    run = densefb.Run.from_dict({"q1": {"a": 1.5, "b": 2.25, "c": 1.5}, "q2": {"x": -1.0}})
    run.name = "mine"
    densefb.write_trec_run(tmp_path / "run.txt", run)
    lines = (tmp_path / "run.txt").read_text().splitlines()
    assert lines[0].split() == ["q1", "Q0", "b", "1", "2.25", "mine"]
    assert [l.split()[2] for l in lines[:3]] == ["b", "c", "a"]  # tie: doc id descending
    back = densefb.read_trec_run(tmp_path / "run.txt")
    assert back.to_dict() == run.to_dict()
    qrels = densefb.Qrels.from_dict({"q1": {"a": 1, "b": 0}, "q2": {"x": 2}})
    densefb.write_trec_qrels(tmp_path / "qrels.txt", qrels)
    assert densefb.read_qrels(tmp_path / "qrels.txt").to_dict() == qrels.to_dict()


def test_run_errors(tmp_path):
    (tmp_path / "run.txt").write_text("q1 Q0 a 1 0.5 t\nq1 Q0 a 2 0.4 t\n")
    with pytest.raises(ValueError, match=r"run.txt line 2: document \"a\" listed twice"):
        densefb.read_trec_run(tmp_path / "run.txt")
    run = densefb.Run()
    run.add("q1", ["a"], [1.0])
    with pytest.raises(ValueError, match="already in the run"):
        run.add("q1", ["b"], [1.0])
    with pytest.raises(ValueError, match="differ in length"):
        run.add("q2", ["b"], [1.0, 2.0])


def test_make_run_from_search_results():
    import numpy as np

    ids = np.array([[2, 0], [1, -1]], dtype=np.int64)
    scores = np.array([[0.9, 0.5], [0.7, -np.inf]], dtype=np.float32)
    run = densefb.make_run(["q1", "q2"], ids, scores, ["d0", "d1", "d2"])
    assert run.get("q1") == [("d2", pytest.approx(0.9)), ("d0", 0.5)]
    assert run.get("q2") == [("d1", pytest.approx(0.7))]
    with pytest.raises(IndexError):
        densefb.make_run(["q1", "q2"], ids + 5, scores, ["d0", "d1", "d2"])
