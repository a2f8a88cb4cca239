"""Files from Python (docs/file-formats.md): loads concurrent with atomic saves by another
process never fail, saves go through symbolic links and stream to devices, pipes and "-",
temporary files are recognisable and cleaned up, and bad paths (NUL byte, empty, a device,
an empty file) give one-line errors naming them."""
from __future__ import annotations

import multiprocessing
import os
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import densefb


def _flat(n: int, seed: int) -> densefb.FlatIndex:
    index = densefb.FlatIndex(8)
    index.add(np.random.default_rng(seed).standard_normal((n, 8)).astype(np.float32))
    return index


def _temp_files(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if ".densefb-tmp-" in p.name or ".tmp-" in p.name]


def _saver(path: str, stop) -> None:
    """Replaces `path` with a 40- or a 90-vector index, alternately, until `stop` is set."""
    small, large = _flat(40, 1), _flat(90, 2)
    i = 0
    while not stop.is_set():
        (large if i % 2 == 0 else small).save(path)
        i += 1


def test_loads_concurrent_with_saves_by_another_process_never_fail(tmp_path):
    path = tmp_path / "index.flat"
    small, large = _flat(40, 1), _flat(90, 2)
    small.save(path)
    context = multiprocessing.get_context("fork")
    stop = context.Event()
    saver = context.Process(target=_saver, args=(str(path), stop))
    saver.start()
    seen, errors = {40: 0, 90: 0}, []
    expected = {40: small.reconstruct([0]), 90: large.reconstruct([0])}
    started = time.monotonic()
    try:
        loads = 0
        while (loads < 3000 or min(seen.values()) < 10) and time.monotonic() - started < 5:
            loads += 1
            try:
                index = densefb.FlatIndex.load(path)
            except OSError as error:  # the old code: "truncated or extended: ..."
                errors.append(str(error))
                continue
            assert len(index) in seen
            np.testing.assert_array_equal(index.reconstruct([0]), expected[len(index)])
            seen[len(index)] += 1
    finally:
        stop.set()
        saver.join(10)
    assert saver.exitcode == 0
    assert errors == []
    assert seen[40] > 0 and seen[90] > 0
    assert _temp_files(tmp_path) == []


def test_save_through_symlinks_updates_the_target_and_keeps_the_links(tmp_path):
    real = tmp_path / "real.flat"
    _flat(90, 2).save(real)
    os.chmod(real, 0o640)
    (tmp_path / "link1").symlink_to("real.flat")
    (tmp_path / "link2").symlink_to(tmp_path / "link1")
    _flat(40, 1).save(tmp_path / "link2")
    assert (tmp_path / "link1").is_symlink() and (tmp_path / "link2").is_symlink()
    assert len(densefb.FlatIndex.load(real)) == 40
    assert stat.S_IMODE(real.stat().st_mode) == 0o640  # a replaced file keeps its mode
    run_file = tmp_path / "run.trec"
    run_file.write_text("q1 Q0 d1 1 2.5 t\n")
    run = densefb.read_trec_run(run_file)
    (tmp_path / "run_link").symlink_to("run_target.trec")  # dangling: creates the target
    densefb.write_trec_run(tmp_path / "run_link", run)
    assert (tmp_path / "run_link").is_symlink()
    assert (tmp_path / "run_target.trec").read_text().split() == ["q1", "Q0", "d1", "1", "2.5", "t"]
    assert _temp_files(tmp_path) == []


def test_save_to_devices_and_fifos_streams_and_never_replaces_them(tmp_path):
    index = _flat(40, 1)
    index.save(tmp_path / "regular.flat")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    received = {}
    reader = threading.Thread(target=lambda: received.update(data=fifo.read_bytes()))
    reader.start()
    index.save(fifo)
    reader.join(10)
    assert received["data"] == (tmp_path / "regular.flat").read_bytes()
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    index.save("/dev/null")
    assert stat.S_ISCHR(os.lstat("/dev/null").st_mode)
    with pytest.raises(OSError, match="/dev/full: .*No space left on device"):
        index.save("/dev/full")
    assert stat.S_ISCHR(os.lstat("/dev/full").st_mode)
    assert _temp_files(tmp_path) == []


@pytest.mark.parametrize("target", ["-", "/dev/stdout"])
def test_write_trec_run_to_stdout(tmp_path, target):
    run_file = tmp_path / "run.trec"
    run_file.write_text("q1 Q0 d1 1 2.5 t\n")
    code = ("import densefb, sys; densefb.write_trec_run(sys.argv[1], densefb.read_trec_run(sys.argv[2]))")
    out = subprocess.run([sys.executable, "-c", code, target, str(run_file)], capture_output=True,
                         text=True, timeout=60, env=os.environ)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["q1", "Q0", "d1", "1", "2.5", "t"]
    assert not Path(target).is_file() or target != "-"


def test_stale_temporary_files_of_dead_processes_are_removed_by_the_next_save(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    dead_pid = int(dead.stdout)
    stale = tmp_path / f".index.flat.densefb-tmp-{dead_pid}-0badcafe"
    live = tmp_path / f".index.flat.densefb-tmp-{os.getpid()}-0badcafe"
    other = tmp_path / f".other.flat.densefb-tmp-{dead_pid}-0badcafe"
    for p in (stale, live, other):
        p.write_bytes(b"partial")
    _flat(10, 3).save(tmp_path / "index.flat")
    assert not stale.exists()
    assert live.exists() and other.exists()


def test_bad_paths_give_one_line_errors(tmp_path):
    with pytest.raises(ValueError, match=r"^/dev/null: is not a regular file \(a character device\)"):
        densefb.FlatIndex.load("/dev/null")
    (tmp_path / "empty").write_bytes(b"")
    with pytest.raises(OSError, match=r"is empty \(0 bytes\)"):
        densefb.FlatIndex.load(tmp_path / "empty")
    with pytest.raises(ValueError, match="is a directory"):
        densefb.FlatIndex.load(tmp_path)
    with pytest.raises(ValueError, match="is a directory"):
        _flat(4, 1).save(tmp_path)
    with pytest.raises(ValueError, match="^empty path$"):
        densefb.FlatIndex.load("")
    with pytest.raises(ValueError, match="^empty path$"):
        _flat(4, 1).save("")


def test_a_path_with_a_nul_byte_is_refused_not_cut(tmp_path):
    bad = str(tmp_path / "a") + "\0b"
    index = _flat(4, 1)
    index.save(tmp_path / "a")  # what a cut path would name
    bm25 = densefb.Bm25Index.build(["a cat", "a dog"])
    calls = [lambda: index.save(bad), lambda: densefb.FlatIndex.load(bad),
             lambda: bm25.save(bad), lambda: densefb.Bm25Index.load(bad),
             lambda: densefb.read_trec_run(bad), lambda: densefb.load_beir(bad)]
    for call in calls:
        with pytest.raises(ValueError, match=r"contains a NUL byte \(at offset"):
            call()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]
