"""Data model and file formats through the Python API."""
import gzip
import json

import numpy as np
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


def _beir(folder, corpus: bytes, queries: bytes = b'{"_id": "q1", "text": "a"}\n',
          qrels: bytes = b"query-id\tcorpus-id\tscore\nq1\td1\t1\n"):
    (folder / "qrels").mkdir(exist_ok=True)
    (folder / "corpus.jsonl").write_bytes(corpus)
    (folder / "queries.jsonl").write_bytes(queries)
    (folder / "qrels" / "test.tsv").write_bytes(qrels)


@pytest.mark.parametrize("bad_id, shown", [
    ("a\\nb", r'"a\\nb" holds a line feed'),  # regression: shifted every later id in docids.txt
    ("a b", r'"a b" holds a space'),  # regression: wrote a TREC run that eval refused
    ("a\\tb", r'"a\\tb" holds a tab'),
    ("a\\u00a0b", r'"a\\u\{00A0\}b" holds a Unicode space'),
    ("\\ufeff1", r'"\\u\{FEFF\}1" holds a byte order mark'),
    ("", "empty document id"),
])
def test_ids_that_cannot_round_trip_are_refused_at_load(tmp_path, bad_id, shown):
    _beir(tmp_path, b'{"_id": "d1", "text": "a"}\n{"_id": "' + bad_id.encode() + b'", "text": "wing"}\n')
    with pytest.raises(ValueError, match="corpus.jsonl line 2: (document id )?" + shown):
        densefb.load_beir(tmp_path)
    _beir(tmp_path, b'{"_id": "d1", "text": "a"}\n', queries=b'{"_id": "' + bad_id.encode() + b'", "text": "x"}\n')
    with pytest.raises(ValueError, match="queries.jsonl line 1: "):
        densefb.load_beir(tmp_path)


def test_invalid_utf8_names_file_and_line(tmp_path):
    # Regression: a UnicodeDecodeError with neither file nor line.
    _beir(tmp_path, b'{"_id": "d1", "text": "a"}\n{"_id": "d2", "text": "caf\xe9"}\n')
    with pytest.raises(ValueError, match=r"corpus.jsonl line 2: not UTF-8 \(byte 0xE9"):
        densefb.load_beir(tmp_path)
    (tmp_path / "topics.tsv").write_bytes(b"1\tok\n2\t\xff\n")
    with pytest.raises(ValueError, match=r"topics.tsv line 2: not UTF-8 \(byte 0xFF"):
        densefb._core.read_topics_tsv(str(tmp_path / "topics.tsv"))
    (tmp_path / "run.txt").write_bytes(b"1 Q0 d\xc3 1 0.5 t\n")
    with pytest.raises(ValueError, match=r"run.txt line 1: not UTF-8"):
        densefb.read_trec_run(tmp_path / "run.txt")


def test_bom_and_crlf_are_read_as_plain_lines(tmp_path):
    # Regression: a BOM stayed in the first id ("\ufeff1" is not "1") of runs, qrels and topics.
    bom = b"\xef\xbb\xbf"
    (tmp_path / "run.txt").write_bytes(bom + b"1 Q0 a 1 0.5 t\r\n1 Q0 b 2 0.25 t\r\n")
    assert densefb.read_trec_run(tmp_path / "run.txt").to_dict() == {"1": {"a": 0.5, "b": 0.25}}
    (tmp_path / "qrels.txt").write_bytes(bom + b"1 0 a 1\r\n")
    assert densefb.read_trec_qrels(tmp_path / "qrels.txt").to_dict() == {"1": {"a": 1}}
    (tmp_path / "qrels.tsv").write_bytes(bom + b"query-id\tcorpus-id\tscore\r\n1\ta\t2\r\n")
    assert densefb.read_qrels(tmp_path / "qrels.tsv").to_dict() == {"1": {"a": 2}}
    (tmp_path / "topics.tsv").write_bytes(bom + "1\tfirst \u00e9\r\n\r\n2\tsecond\r\n".encode())
    topics = densefb._core.read_topics_tsv(str(tmp_path / "topics.tsv"))
    assert list(topics.ids) == ["1", "2"] and list(topics.texts) == ["first \u00e9", "second"]


def test_search_cli_reads_topics_through_the_shared_reader(tmp_path):
    from densefb.cli_search import read_queries_file

    path = tmp_path / "topics.tsv"
    path.write_bytes(b"\xef\xbb\xbf" + b"7\tone\r\n8\ttwo\tparts\n")
    assert read_queries_file(str(path)) == (["7", "8"], ["one", "two\tparts"])
    path.write_bytes(b"7\tone\n7\tagain\n")
    with pytest.raises(ValueError, match=r'topics.tsv line 2: duplicate id "7"'):
        read_queries_file(str(path))
    path.write_bytes(b"7 8\tone\n")
    with pytest.raises(ValueError, match=r'topics.tsv line 1: query id "7 8" holds a space'):
        read_queries_file(str(path))


def test_make_run_refuses_nan_inf_and_repeated_documents():
    ids = np.array([[2, 0], [1, 1]])
    # Regression: the repeated d1 of q2 was merged, keeping the last, lower score.
    with pytest.raises(ValueError, match=r'document "d1" of query "q2" at position 1 is already in the row'):
        densefb.make_run(["q1", "q2"], ids, np.array([[0.9, 0.5], [0.7, 0.6]]), ["d0", "d1", "d2"])
    ids = np.array([[2, 0], [1, -1]])
    for bad in (np.nan, np.inf, -np.inf):
        scores = np.array([[0.9, bad], [0.7, 0.0]], dtype=np.float32)
        with pytest.raises(ValueError, match=r'document "d0" of query "q1" at position 1 is not a finite number'):
            densefb.make_run(["q1", "q2"], ids, scores, ["d0", "d1", "d2"])
    with pytest.raises(ValueError, match=r'document id "d 1" holds a space'):
        densefb.make_run(["q1", "q2"], ids, np.zeros((2, 2)), ["d0", "d 1", "d2"])


def test_run_and_qrels_adds_validate_ids_and_scores(tmp_path):
    run = densefb.Run()
    with pytest.raises(ValueError, match=r'query id "q 1" holds a space'):
        run.add("q 1", ["a"], [1.0])
    # Regression: a NaN score was written as "nan", which read_trec_run refuses.
    run.add("q1", ["a", "b"], [float("nan"), 1.0])
    with pytest.raises(ValueError, match=r'run.txt: not written: query "q1" document "a" has a NaN score'):
        densefb.write_trec_run(tmp_path / "run.txt", run)
    assert not (tmp_path / "run.txt").exists()
    with pytest.raises(ValueError, match=r'document id "a\\nb"'):
        densefb.Run.from_dict({"q2": {"a\nb": 1.0}})
    with pytest.raises(ValueError, match=r'document id "b\\u\{0001\}"'):
        densefb.Qrels.from_dict({"q": {"b\x01": 1}})
    qrels = densefb.Qrels()
    with pytest.raises(ValueError, match="empty query id"):
        qrels.set("", "d", 1)
    densefb._core.check_id("MED-10")
    with pytest.raises(ValueError, match=r'doc id "x y" holds a space'):
        densefb._core.check_id("x y", "doc id")
    # A run tag with a space would make a 7-field line: refused before writing anything.
    run = densefb.Run.from_dict({"q": {"a": 1.0}})
    run.name = "my run"
    with pytest.raises(ValueError, match=r'run tag "my run" holds a space'):
        densefb.write_trec_run(tmp_path / "run.txt", run)
    assert not (tmp_path / "run.txt").exists()


def test_scifact_ids_pass_the_validator(scifact):
    for ids in (scifact.corpus.ids, scifact.queries.ids, scifact.qrels.query_ids):
        for i in ids:
            densefb._core.check_id(i)
