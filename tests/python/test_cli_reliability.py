"""Reliability of the command line (issue 12): index folders whose files disagree are refused
on open, document ids that files cannot keep are refused at indexing, outputs are replaced
only when complete (failures, Ctrl-C, SIGTERM), arguments are checked before any work, one
rule for modes and parent folders, and one line (never a traceback) for every expected error."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

import densefb
from densefb import _cli_util as util
from densefb import cli

DOCS = [("d1", "wing lift drag"), ("d2", "fluid flow turbulence"), ("d3", "wing flow vortex"),
        ("d4", "protein folding"), ("d5", "cell membrane protein"), ("d6", "vortex shedding flow")]
QUERIES = [("q1", "wing"), ("q2", "flow"), ("q3", "protein")]
QRELS = [("q1", "d1", 1), ("q2", "d2", 1), ("q3", "d4", 2)]


def write_beir(folder: Path, docs=DOCS, corpus_lines=None) -> Path:
    folder.mkdir(parents=True)
    lines = corpus_lines or [json.dumps({"_id": d, "title": "", "text": t}) for d, t in docs]
    (folder / "corpus.jsonl").write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    (folder / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": q, "text": t}) + "\n" for q, t in QUERIES), encoding="utf-8")
    (folder / "qrels").mkdir()
    (folder / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t{g}\n" for q, d, g in QRELS))
    return folder


def run(capsys, *argv):
    """(exit status, stdout, stderr lines) of ``densefb ARGV`` run in this process."""
    try:
        code = cli.main([str(a) for a in argv])
    except SystemExit as e:  # argparse usage errors
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err.strip().splitlines()


def fails(capsys, *argv, expect: str) -> str:
    code, _, err = run(capsys, *argv)
    assert code == 2, err
    assert len(err) == 1 and "Traceback" not in err[0], err
    assert err[0].startswith(f"densefb {argv[0]}") and expect in err[0], err[0]
    return err[0]


def snapshot(folder: Path) -> dict:
    return {p.name: (p.read_bytes(), stat.S_IMODE(p.stat().st_mode)) for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def beir(tmp_path_factory) -> Path:
    return write_beir(tmp_path_factory.mktemp("beir") / "tiny")


@pytest.fixture(scope="module")
def index(beir, tmp_path_factory) -> Path:
    """A BM25 index folder of the tiny collection (densefb index --dense none --bm25)."""
    out = tmp_path_factory.mktemp("idx") / "index"
    assert cli.main(["index", str(beir), "-o", str(out), "--dense", "none", "--bm25", "-q"]) == 0
    return out


@pytest.fixture
def folder(index, tmp_path) -> Path:
    """A copy of the index folder, for a test to break."""
    copy = tmp_path / "index"
    shutil.copytree(index, copy)
    return copy


def edit_manifest(folder: Path, change) -> None:
    path = folder / "manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


def write_ids(folder: Path, ids, update_hash=True) -> None:
    data = "".join(i + "\n" for i in ids).encode()
    (folder / "docids.txt").write_bytes(data)
    if update_hash:
        def change(m):
            m["doc_ids"]["sha256"] = hashlib.sha256(data).hexdigest()
        edit_manifest(folder, change)


def as_version_1(folder: Path) -> None:
    """Rewrites the manifest as densefb index wrote it before version 2 (no counts, no hashes)."""
    def change(m):
        m["version"] = 1
        m["doc_ids"] = "docids.txt"
        del m["num_documents"]
        del m["dataset"]["corpus_sha256"]
    edit_manifest(folder, change)


def search(capsys, folder: Path, beir: Path, out: Path, *extra):
    return run(capsys, "search", folder, "-d", beir, "-o", out, "-k", 3, *extra)


# ---- items 1 and 2: ids that a line-based file cannot keep --------------------------------------

@pytest.mark.parametrize("bad_id", ["a\nb", "a b", "a\tb", "a\rb", "a\u00a0b", "a\u2028b", "a\x01b", "a\x85b"])
def test_index_refuses_ids_files_cannot_keep(capsys, tmp_path, bad_id):
    """Item 1: before, 'a\\nb' indexed with exit 0 and shifted every later id by one line."""
    docs = [("x", "wing"), (bad_id, "wing"), ("c", "flow")]
    data = write_beir(tmp_path / "nl", docs=docs)
    out = tmp_path / "nl_idx"
    line = fails(capsys, "index", data, "-o", out, "--dense", "none", "--bm25", expect="corpus.jsonl")
    assert ":2:" in line or "line 2" in line  # the corpus line of the id
    assert not out.exists() and not list(tmp_path.glob(".nl_idx*"))


def test_index_refuses_duplicate_and_empty_ids(capsys, tmp_path):
    for name, docs in (("dup", [("a", "x"), ("b", "y"), ("a", "z")]), ("empty", [("a", "x"), ("", "y")])):
        data = write_beir(tmp_path / name, docs=docs)
        fails(capsys, "index", data, "-o", tmp_path / f"{name}_idx", "--dense", "none", "--bm25",
              expect="corpus.jsonl")
        assert not (tmp_path / f"{name}_idx").exists()


def test_manifest_records_counts_and_hashes(index, beir):
    m = json.loads((index / "manifest.json").read_text())
    ids = (index / "docids.txt").read_bytes()
    assert m["version"] == 2 and m["num_documents"] == len(DOCS)
    assert m["doc_ids"] == {"file": "docids.txt", "count": len(DOCS),
                            "sha256": hashlib.sha256(ids).hexdigest()}
    assert m["dataset"]["corpus_sha256"] == hashlib.sha256((beir / "corpus.jsonl").read_bytes()).hexdigest()
    assert ids.decode().split("\n")[:-1] == [d for d, _ in DOCS]


# ---- items 1 and 11: each file of the folder checked against the others on open ----------------

def test_newline_split_docids_of_an_old_folder_is_refused(capsys, folder, beir, tmp_path):
    """A version 1 folder written from an id with a newline: one line too many."""
    as_version_1(folder)
    ids = [d for d, _ in DOCS]
    write_ids(folder, ids[:1] + ["a", "b"] + ids[2:], update_hash=False)
    code, _, err = search(capsys, folder, tmp_path / "nope", tmp_path / "r.trec")
    # (the dataset does not exist: the folder is refused first)
    assert code == 2 and len(err) == 1 and "docids.txt: 7 document ids" in err[0], err
    assert "records 6 documents" in err[0]
    assert not (tmp_path / "r.trec").exists()


@pytest.mark.parametrize("version", [1, 2])
def test_docids_one_line_short_is_refused(capsys, folder, beir, tmp_path, version):
    """Before: an IndexError traceback."""
    if version == 1:
        as_version_1(folder)
    write_ids(folder, [d for d, _ in DOCS][:-1], update_hash=version == 2)
    code, _, err = run(capsys, "search", folder, "--queries", beir / "queries.jsonl", "-o",
                       tmp_path / "r.trec")
    assert code == 2 and len(err) == 1 and "5 document ids, but manifest.json records 6" in err[0], err
    assert not (tmp_path / "r.trec").exists()


@pytest.mark.parametrize("version", [1, 2])
def test_duplicated_docid_is_refused(capsys, folder, beir, tmp_path, version):
    """Before: a run that densefb eval then refused."""
    if version == 1:
        as_version_1(folder)
    ids = [d for d, _ in DOCS]
    write_ids(folder, ids[:-1] + [ids[0]], update_hash=version == 2)
    fails(capsys, "search", folder, "--queries", beir / "queries.jsonl", "-o", tmp_path / "r",
          expect="docids.txt:6: document id 'd1' repeats document 1")


def test_docids_changed_after_indexing_is_refused(capsys, folder, beir, tmp_path):
    ids = [d for d, _ in DOCS]
    write_ids(folder, [ids[1], ids[0]] + ids[2:], update_hash=False)  # same count, ids swapped
    fails(capsys, "search", folder, "--queries", beir / "queries.jsonl", "-o", tmp_path / "r",
          expect="sha256 mismatch")


def test_index_of_another_size_is_refused(capsys, folder, beir, tmp_path):
    other = write_beir(tmp_path / "bigger", docs=DOCS + [("d7", "more text")])
    assert cli.main(["index", str(other), "-o", str(tmp_path / "big"), "--dense", "none", "--bm25", "-q"]) == 0
    shutil.copy(tmp_path / "big" / "bm25.index", folder / "bm25.index")
    fails(capsys, "search", folder, "--queries", beir / "queries.jsonl", "-o", tmp_path / "r",
          expect="bm25.index: 7 documents, but docids.txt lists 6 documents")


def test_docids_invalid_utf8_names_file_and_line(capsys, folder, beir, tmp_path):
    as_version_1(folder)
    (folder / "docids.txt").write_bytes(b"d1\nd2\nd\xff3\nd4\nd5\nd6\n")
    fails(capsys, "search", folder, "--queries", beir / "queries.jsonl", "-o", tmp_path / "r",
          expect="docids.txt:3: invalid UTF-8")
    (folder / "manifest.json").write_bytes(b'{\n"format": "\xc3("}\n')
    fails(capsys, "search", folder, "--queries", beir / "queries.jsonl", "-o", tmp_path / "r",
          expect="manifest.json:2: invalid UTF-8")


def test_version_1_folder_still_searches(capsys, folder, index, beir, tmp_path):
    as_version_1(folder)
    code, _, err = search(capsys, folder, beir, tmp_path / "old.trec")
    assert code == 0, err
    assert search(capsys, index, beir, tmp_path / "new.trec")[0] == 0
    assert (tmp_path / "old.trec").read_text() == (tmp_path / "new.trec").read_text()


# ---- item 14: a manifest naming files outside its folder ----------------------------------------

@pytest.mark.parametrize("how", ["dotdot", "absolute", "subpath", "symlink", "not-a-string"])
def test_manifest_files_outside_the_folder_are_refused(capsys, folder, beir, tmp_path, how):
    outside = tmp_path / "bm25.index"
    shutil.copy(folder / "bm25.index", outside)  # a valid index: only the place is wrong
    name = {"dotdot": "../bm25.index", "absolute": str(outside), "subpath": "sub/bm25.index",
            "symlink": "link.index", "not-a-string": 7}[how]
    if how == "symlink":
        (folder / "link.index").symlink_to(outside)
    if how == "subpath":
        (folder / "sub").mkdir()
        shutil.copy(outside, folder / "sub" / "bm25.index")

    def change(m):
        m["bm25"]["file"] = name
    edit_manifest(folder, change)
    line = fails(capsys, "search", folder, "--queries", beir / "queries.jsonl", "-o", tmp_path / "r",
                 expect="manifest.json: bm25.file")
    assert "refused" in line and not (tmp_path / "r").exists()


def test_manifest_docids_outside_the_folder_are_refused(capsys, folder, beir, tmp_path):
    def change(m):
        m["doc_ids"]["file"] = "../../etc/passwd"
    edit_manifest(folder, change)
    fails(capsys, "search", folder, "--queries", beir / "queries.jsonl", "-o", tmp_path / "r",
          expect="doc_ids file '../../etc/passwd' is not a file name inside the index folder")


# ---- item 4: --overwrite replaces the old index only when the new one is complete ---------------

def test_overwrite_with_bad_model_or_corpus_keeps_the_old_index(capsys, folder, beir, tmp_path):
    """Before: the old index files were deleted before the model was resolved."""
    before = snapshot(folder)
    fails(capsys, "index", beir, "-o", folder, "-m", "no-such/model-name", "--bm25", "--overwrite",
          expect="no-such/model-name")
    assert snapshot(folder) == before
    broken = write_beir(tmp_path / "broken", corpus_lines=['{"_id": "a", "text": "x"}', '{"_id": '])
    fails(capsys, "index", broken, "-o", folder, "--dense", "none", "--bm25", "--overwrite", expect="")
    assert snapshot(folder) == before
    assert not [p for p in tmp_path.iterdir() if "densefb-" in p.name]


def test_overwrite_replaces_the_folder_and_keeps_its_mode(capsys, folder, tmp_path):
    other = write_beir(tmp_path / "other", docs=DOCS[:4])
    os.chmod(folder, 0o750)
    (folder / "stale.txt").write_text("from before")
    code, _, err = run(capsys, "index", other, "-o", folder, "--dense", "none", "--bm25", "--overwrite", "-q")
    assert code == 0, err
    assert (folder / "docids.txt").read_text() == "d1\nd2\nd3\nd4\n"
    assert not (folder / "stale.txt").exists()  # the whole folder was replaced
    assert stat.S_IMODE(folder.stat().st_mode) == 0o750
    assert not [p for p in tmp_path.iterdir() if "densefb-" in p.name]


def test_overwrite_refuses_a_folder_that_is_not_an_index(capsys, beir, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("precious")
    fails(capsys, "index", beir, "-o", mine, "--dense", "none", "--bm25", "--overwrite",
          expect="--overwrite replaces an index folder of densefb index only")
    assert (mine / "thesis.tex").read_text() == "precious"


def test_stale_temporary_of_a_killed_process_is_removed(capsys, folder, beir, tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".index.densefb-tmp-{dead.pid}"
    stale.mkdir()
    (stale / "bm25.index").write_bytes(b"half")
    assert run(capsys, "index", beir, "-o", folder, "--dense", "none", "--bm25", "--overwrite", "-q")[0] == 0
    assert not stale.exists()


def _default_signals():
    """In the child, before exec: the signal state a shell gives a command (nothing blocked,
    SIGINT and SIGTERM at their defaults), whatever the test process inherited or changed."""
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _spawn(args, tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    return subprocess.Popen([sys.executable, "-m", "densefb.cli", *map(str, args)], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=_default_signals)


@pytest.mark.parametrize("sig,status,word", [(signal.SIGINT, 130, "interrupted"),
                                             (signal.SIGTERM, 143, "terminated")])
def test_interrupt_is_one_line_and_keeps_the_old_index(folder, beir, tmp_path, sig, status, word):
    """Ctrl-C while densefb index --overwrite waits on its --vectors input (a FIFO, so the signal
    arrives mid-build): one line, status 130, the old index intact, no temporary left. Before,
    a 15-line KeyboardInterrupt traceback."""
    before = snapshot(folder)
    fifo = tmp_path / "vectors.npy"
    os.mkfifo(fifo)
    proc = _spawn(["index", beir, "-o", folder, "--overwrite", "-m", "any-model", "--vectors", fifo,
                   "--bm25"], tmp_path)
    writer = None
    deadline = time.monotonic() + 120
    while writer is None:  # opens once the command has opened the FIFO to read it
        try:
            writer = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
    try:
        assert any(p.name.startswith(".index.densefb-tmp-") for p in tmp_path.iterdir())
        time.sleep(0.2)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        os.close(writer)
    assert proc.returncode == status, err
    assert err == f"densefb index: {word}\n" and out == ""
    assert snapshot(folder) == before
    assert not [p for p in tmp_path.iterdir() if "densefb-" in p.name]


def test_memory_error_is_one_line(capsys):
    def body():
        raise MemoryError()
    assert util.run_guarded("search", body) == 2
    err = capsys.readouterr().err
    assert err.startswith("densefb search: error: out of memory") and err.count("\n") == 1


# ---- item 13: arguments checked before any work --------------------------------------------------

@pytest.mark.parametrize("extra,expect", [
    (["--metrics", "nDCG@abc"], "nDCG@abc"),
    (["--metrics", "nDCG@10", "--qrels", "/nope/qrels.tsv"], "/nope/qrels.tsv"),
])
def test_search_checks_metrics_and_qrels_before_writing(capsys, index, beir, tmp_path, extra, expect):
    """Before: the whole run was written, then the metric or qrels failed."""
    run_file = tmp_path / "r.trec"
    fails(capsys, "search", index, "--queries", beir / "queries.jsonl", "-o", run_file, *extra,
          expect=expect)
    assert not run_file.exists()
    run_file.write_text("old\n")
    fails(capsys, "search", index, "-d", beir, "-o", run_file, *extra, expect=expect)
    assert run_file.read_text() == "old\n"


@pytest.mark.parametrize("command", ["experiment", "sweep"])
def test_experiment_and_sweep_check_metrics_first(capsys, beir, tmp_path, command):
    if command == "experiment":
        argv = ["experiment", "--dataset", beir, "--pipeline", "bm25", "--metrics", "nDCG@abc",
                "--json", tmp_path / "o.json"]
    else:
        argv = ["sweep", "--dataset", beir, "--pipeline", "bm25(k={k})", "--param", "k=1,2",
                "--metric", "nDCG@abc", "--csv", tmp_path / "o.csv"]
    fails(capsys, *argv, "--no-cache", "--quiet", expect="nDCG@abc")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("arg,expect", [
    (["--bm25-arg", "k1=abc"], "k1='abc': expected a number >= 0"),
    (["--bm25-arg", "k1=-1"], "k1=-1"),
    (["--bm25-arg", "b=2"], "b=2"),
    (["--bm25-arg", "stopwords=1"], "stopwords=1: expected true or false"),
    (["--bm25-arg", "stemmer=snowball"], "stemmer='snowball': expected porter or none"),
    (["--bm25-arg", "lucene_norms=yes"], "lucene_norms"),
    (["--bm25-arg", "k3=1"], "unknown BM25 option 'k3'"),
    (["--index-arg", "metric=l2"], "metric='l2': expected ip or cosine"),
    (["--index-arg", "M=8"], "applies to --index hnsw only"),
    (["--index", "hnsw", "--index-arg", "M=abc"], "M='abc': expected an integer"),
    (["--index", "hnsw", "--index-arg", "efsearch=5"], "efsearch: unknown option"),
])
def test_experiment_checks_index_options(capsys, beir, tmp_path, arg, expect):
    """Before: `--bm25-arg k1=abc` leaked pybind11's 'incompatible function arguments'."""
    line = fails(capsys, "experiment", "--dataset", beir, "--pipeline", "bm25", "--no-cache", "--quiet",
                 *arg, expect=expect)
    assert "incompatible" not in line


def test_experiment_bm25_args_checked_by_the_library(beir):
    with pytest.raises(ValueError, match="k1='abc'"):
        densefb.Experiment(str(beir), ["bm25"], bm25_args={"k1": "abc"}, use_cache=False)
    exp = densefb.Experiment(str(beir), ["bm25"], bm25_args={"k1": 1, "stemmer": "none"},
                             use_cache=False, quiet=True)
    assert exp.bm25_args == {"k1": 1.0, "stemmer": "none"}


# ---- item 14: one rule for modes and for parent folders ------------------------------------------

def test_new_outputs_get_the_umask_mode_and_replaced_ones_keep_theirs(capsys, index, beir, tmp_path):
    """Before: eval --json created files 0600, and overwriting reset a file's mode."""
    old = os.umask(0o022)
    try:
        run_file, js = tmp_path / "r.trec", tmp_path / "e.json"
        assert search(capsys, index, beir, run_file)[0] == 0
        assert run(capsys, "eval", "--run", run_file, "--qrels", beir / "qrels" / "test.tsv",
                   "--metrics", "AP", "--json", js)[0] == 0
        assert stat.S_IMODE(run_file.stat().st_mode) == stat.S_IMODE(js.stat().st_mode) == 0o644
        os.chmod(run_file, 0o640)
        os.chmod(js, 0o604)
        assert search(capsys, index, beir, run_file)[0] == 0
        assert run(capsys, "eval", "--run", run_file, "--qrels", beir / "qrels" / "test.tsv",
                   "--metrics", "AP", "--json", js)[0] == 0
        assert stat.S_IMODE(run_file.stat().st_mode) == 0o640
        assert stat.S_IMODE(js.stat().st_mode) == 0o604
    finally:
        os.umask(old)
    assert not [p for p in tmp_path.iterdir() if "densefb-" in p.name]


def test_outputs_through_a_symlink_and_to_stdout(capsys, index, beir, tmp_path):
    target = tmp_path / "real.trec"
    target.write_text("old\n")
    link = tmp_path / "link.trec"
    link.symlink_to(target)
    assert search(capsys, index, beir, link)[0] == 0
    assert link.is_symlink() and target.read_text().startswith("q1 Q0 ")
    code, out, err = run(capsys, "eval", "--run", target, "--qrels", beir / "qrels" / "test.tsv",
                         "--metrics", "AP", "--json", "-")
    assert code == 0 and json.loads(out)["metrics"] == ["AP"]


@pytest.mark.parametrize("command", ["index", "search", "eval", "experiment", "sweep"])
def test_missing_parent_folders_are_refused_by_every_command(capsys, index, beir, tmp_path, command):
    """Before: index, search and eval created them (even at /); experiment and sweep refused."""
    missing = tmp_path / "no" / "such"
    argv = {
        "index": ["index", beir, "-o", missing / "idx", "--dense", "none", "--bm25"],
        "search": ["search", index, "-d", beir, "-o", missing / "r.trec"],
        "eval": ["eval", "--run", tmp_path / "r.trec", "--qrels", beir / "qrels" / "test.tsv",
                 "--metrics", "AP", "--json", missing / "e.json"],
        "experiment": ["experiment", "--dataset", beir, "--pipeline", "bm25", "--no-cache",
                       "--save-runs", missing / "runs"],
        "sweep": ["sweep", "--dataset", beir, "--pipeline", "bm25(k={k})", "--param", "k=1,2",
                  "--no-cache", "--csv", missing / "s.csv"],
    }[command]
    if command == "eval":
        assert search(capsys, index, beir, tmp_path / "r.trec")[0] == 0
    fails(capsys, *argv, expect=f"{missing} does not exist")
    assert not (tmp_path / "no").exists()


def test_save_runs_replaces_files_only_when_complete(capsys, beir, tmp_path, monkeypatch):
    """--save-runs: runs, sidecars and per-query.tsv move into the folder only once every run is
    done; Ctrl-C on the second pipeline leaves the folder as it was (before, the first run had
    already replaced its file)."""
    from densefb.experiment import Experiment

    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "keep.txt").write_text("mine")
    (runs / "00-bm25.trec").write_text("old\n")
    argv = ["experiment", "--dataset", beir, "--pipeline", "bm25", "--pipeline", "bm25 >> rm3 >> bm25",
            "--no-cache", "--quiet", "--metrics", "AP", "--save-runs", runs, "--json", tmp_path / "x.json"]
    real_run_one, calls = Experiment._run_one, []

    def interrupted_second(self, pipeline, resources, *rest):
        calls.append(pipeline)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_run_one(self, pipeline, resources, *rest)
    monkeypatch.setattr(Experiment, "_run_one", interrupted_second)
    code, out, err = run(capsys, *argv)
    assert (code, err) == (130, ["densefb experiment: interrupted"])
    assert {k: v[0] for k, v in snapshot(runs).items()} == {"00-bm25.trec": b"old\n", "keep.txt": b"mine"}
    assert not (tmp_path / "x.json").exists()
    monkeypatch.setattr(Experiment, "_run_one", real_run_one)
    code, _, err = run(capsys, *argv)
    assert code == 0, err
    assert sorted(p.name for p in runs.iterdir()) == [
        "00-bm25.trec", "00-bm25.trec.json", "01-bm25-rm3-bm25.trec", "01-bm25-rm3-bm25.trec.json",
        "keep.txt", "per-query.tsv"]
    assert (runs / "00-bm25.trec").read_text().startswith("q1 Q0 ")
    sidecar = json.loads((tmp_path / "x.json").read_text())["systems"][0]["sidecar"]
    assert Path(sidecar) == runs / "00-bm25.trec.json"
    assert not [p for p in tmp_path.iterdir() if "densefb-" in p.name]


def test_a_folder_given_as_an_output_file_is_refused_first(capsys, index, beir, tmp_path):
    (tmp_path / "out").mkdir()
    fails(capsys, "search", index, "-d", beir, "-o", tmp_path / "out", expect="is a folder, not a file")
    fails(capsys, "experiment", "--dataset", beir, "--pipeline", "bm25", "--no-cache",
          "--json", tmp_path / "out", expect="is a folder, not a file")


@pytest.mark.parametrize("command", ["search", "eval", "sweep"])
def test_interrupt_of_any_command_is_one_line_and_keeps_its_output(capsys, index, beir, tmp_path,
                                                                  monkeypatch, command):
    """Ctrl-C at the last step before writing: one line, status 130, the old output intact."""
    import densefb.cli_eval
    from densefb.experiment import Experiment

    out = tmp_path / "out"
    out.write_text("old\n")
    assert search(capsys, index, beir, tmp_path / "r.trec")[0] == 0

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt
    argv = {
        "search": ["search", index, "-d", beir, "-o", out],
        "eval": ["eval", "--run", tmp_path / "r.trec", "--qrels", beir / "qrels" / "test.tsv",
                 "--metrics", "AP", "--json", out],
        "sweep": ["sweep", "--dataset", beir, "--pipeline", "bm25(k={k})", "--param", "k=1,2",
                  "--no-cache", "--quiet", "--csv", out],
    }[command]
    if command == "search":
        monkeypatch.setattr(densefb, "write_trec_run", lambda path, run: (Path(path).write_text("half"),
                                                                          interrupt()))
    elif command == "eval":
        monkeypatch.setattr(densefb.cli_eval, "evaluate", interrupt)
    else:
        monkeypatch.setattr(Experiment, "run", interrupt)
    code, stdout, err = run(capsys, *argv)
    assert (code, err) == (130, [f"densefb {command}: interrupted"])
    assert out.read_text() == "old\n"
    assert not [p for p in tmp_path.iterdir() if "densefb-" in p.name]


def test_corpus_read_back_from_the_manifest_must_be_the_one_indexed(capsys, tmp_path):
    """A pipeline with text stages and no --dataset reads the manifest's corpus: refused once
    that file changed (its sha256 is recorded)."""
    from densefb.cli_search import _indexed_corpus

    data = write_beir(tmp_path / "data")
    assert run(capsys, "index", data, "-o", tmp_path / "idx", "--dense", "none", "--bm25", "-q")[0] == 0
    folder = util.IndexFolder(tmp_path / "idx")
    assert list(_indexed_corpus(folder, "spec").ids) == [d for d, _ in DOCS]
    with open(data / "corpus.jsonl", "a") as f:
        f.write(json.dumps({"_id": "d7", "text": "added later"}) + "\n")
    with pytest.raises(util.UserError, match="corpus.jsonl: changed since .* was indexed"):
        _indexed_corpus(folder, "spec")
