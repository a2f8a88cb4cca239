"""Live updates of Bm25Index on SciFact: after any random sequence of add / delete / update the
rankings, scores and statistics equal a fresh build over the live documents (also filtered and
with RM3); saves after updates load back identically and stay atomic when the writer is killed
or its writes fail; searches in other threads never see a document deleted before they began;
bad input is refused, naming the document, and changes nothing."""
from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import densefb
from densefb.sparse import Bm25Index

N_BASE = 700   # documents indexed at the start
N_POOL = 700   # further SciFact documents that steps add or update to


@pytest.fixture(scope="module")
def data(scifact):
    names = list(scifact.corpus.ids[:N_BASE + N_POOL])
    texts = list(scifact.corpus.texts()[:N_BASE + N_POOL])
    queries = list(scifact.queries.texts[:25])
    return names, texts, queries


def fresh(live_names, live_texts) -> Bm25Index:
    return Bm25Index.build(list(zip(live_names, live_texts)))


def ranked_names(index: Bm25Index, ids: np.ndarray) -> list:
    names = index.doc_ids
    return [[names[i] for i in row if i >= 0] for row in ids]


def assert_same_results(index: Bm25Index, ref: Bm25Index, queries, k):
    s, i = index.search(queries, k)
    rs, ri = ref.search(queries, k)
    assert ranked_names(index, i) == ranked_names(ref, ri)
    # The same arithmetic on the same statistics: bit-identical scores.
    np.testing.assert_array_equal(s, rs)
    assert not index.deleted_mask[i[i >= 0]].any()


def assert_same_stats(index: Bm25Index, ref: Bm25Index, queries):
    assert len(index) == index.num_docs == ref.num_docs
    assert index.doc_count == ref.doc_count
    assert index.avgdl == ref.avgdl
    assert index.num_ids == index.num_docs + index.num_deleted
    a, b = index.local_stats(), ref.local_stats()
    assert (a["num_docs"], a["doc_count"], a["total_terms"]) == (b["num_docs"], b["doc_count"], b["total_terms"])
    assert a["doc_freqs"] == b["doc_freqs"]
    for q in queries[:10]:
        for term in ref.analyze_query(q):
            assert index.doc_freq(term) == ref.doc_freq(term)
            if ref.doc_freq(term) > 0:
                assert index.idf(term) == ref.idf(term)
            else:
                with pytest.raises(KeyError):
                    index.idf(term)


def random_steps(data, steps: int, seed: int):
    """Yields (index, live names, live texts) after each of `steps` random changes."""
    names, texts, _ = data
    rng = np.random.default_rng(seed)
    live_names, live_texts = names[:N_BASE], texts[:N_BASE]
    index = Bm25Index.build(list(zip(live_names, live_texts)))
    deleted, next_new = [], N_BASE
    for step in range(steps):
        op = rng.choice(["add", "delete", "update"], p=[0.35, 0.35, 0.3])
        size = int(rng.choice([1, 2, 5, 20, 60]))
        if op == "add":
            add_names, add_texts = [], []
            for _ in range(size):
                if deleted and rng.random() < 0.4:  # a deleted name comes back, with another text
                    add_names.append(deleted.pop(int(rng.integers(len(deleted)))))
                    add_texts.append(texts[int(rng.integers(len(texts)))])
                elif next_new < len(names):
                    add_names.append(names[next_new])
                    add_texts.append(texts[next_new])
                    next_new += 1
            index.add(add_texts, add_names)
            live_names, live_texts = live_names + add_names, live_texts + add_texts
        elif op == "delete":
            at = set(rng.choice(len(live_names), min(size, len(live_names) - 50), replace=False).tolist())
            gone = [n for j, n in enumerate(live_names) if j in at]
            index.delete(list(rng.permutation(gone)))
            deleted += gone
            live_names = [n for j, n in enumerate(live_names) if j not in at]
            live_texts = [t for j, t in enumerate(live_texts) if j not in at]
        else:  # update, to the text of another document (live, deleted or never indexed) or an empty one
            at = rng.choice(len(live_names), min(size, len(live_names)), replace=False)
            new = [texts[int(rng.integers(len(texts)))] if rng.random() < 0.95 else "" for _ in at]
            index.update([live_names[j] for j in at], new)
            for j, t in zip(at, new):
                live_texts[j] = t
        yield step, index, live_names, live_texts


def test_random_changes_equal_a_fresh_build_after_every_step(data):
    _, _, queries = data
    saw_deleted = False
    for step, index, live_names, live_texts in random_steps(data, steps=40, seed=1):
        ref = fresh(live_names, live_texts)
        assert_same_stats(index, ref, queries)
        for k in (10, 100):
            assert_same_results(index, ref, queries, k)
        saw_deleted |= index.num_deleted > 0
        if step % 10 == 9:  # scores of given documents, by name
            some = live_names[::37]
            np.testing.assert_array_equal(index.score(queries[0], some), ref.score(queries[0], some))
    assert saw_deleted


def test_filter_and_rm3_after_changes(data):
    _, _, queries = data
    for _, index, live_names, live_texts in random_steps(data, steps=15, seed=2):
        pass
    assert index.num_deleted > 0
    ref = fresh(live_names, live_texts)
    rng = np.random.default_rng(5)
    # A filter by position: the same named documents allowed in both (deleted positions allowed
    # too: they must still never come back).
    allowed_names = set(rng.choice(live_names, len(live_names) // 4, replace=False).tolist())
    deleted = index.deleted_mask
    pos = [i for i, n in enumerate(index.doc_ids) if n in allowed_names and not deleted[i]] + \
        np.flatnonzero(deleted).tolist()
    ref_pos = [i for i, n in enumerate(ref.doc_ids) if n in allowed_names]
    for k in (10, 100):
        s, i = index.search(queries, k, filter=densefb.Filter.from_ids(sorted(pos)))
        rs, ri = ref.search(queries, k, filter=densefb.Filter.from_ids(ref_pos))
        assert ranked_names(index, i) == ranked_names(ref, ri)
        np.testing.assert_array_equal(s, rs)
        assert all(set(r) <= allowed_names for r in ranked_names(index, i))
    # RM3: the pipeline bm25 >> rm3 >> bm25 over the index, and search(rm3=...).
    p = densefb.Pipeline("bm25(k=100) >> rm3 >> bm25(k=100)")
    s, i = p.rank(densefb.Resources(bm25=index), queries, k=100)
    rs, ri = p.rank(densefb.Resources(bm25=ref), queries, k=100)
    assert ranked_names(index, i) == ranked_names(ref, ri)
    np.testing.assert_array_equal(s, rs)
    s, i = index.search(queries, 50, rm3={"fb_docs": 5})
    rs, ri = ref.search(queries, 50, rm3={"fb_docs": 5})
    assert ranked_names(index, i) == ranked_names(ref, ri)
    np.testing.assert_array_equal(s, rs)
    assert index.rm3_query(queries[3]) == ref.rm3_query(queries[3])


def test_save_load_and_compact_after_changes(data, tmp_path):
    _, _, queries = data
    for _, index, live_names, live_texts in random_steps(data, steps=12, seed=3):
        pass
    assert index.num_deleted > 0
    ref = fresh(live_names, live_texts)
    index.save(tmp_path / "live.bm25")
    ref.save(tmp_path / "fresh.bm25")
    # The file holds the compacted index: that of a fresh build, byte for byte.
    assert (tmp_path / "live.bm25").read_bytes() == (tmp_path / "fresh.bm25").read_bytes()
    loaded = Bm25Index.load(tmp_path / "live.bm25")
    assert loaded.num_deleted == 0 and loaded.doc_ids == live_names
    for k in (10, 100):
        assert_same_results(loaded, index, queries, k)
    # Compact: identical to the fresh build, positions included.
    index.compact()
    assert index.num_deleted == 0 and index.num_ids == len(live_names)
    assert index.doc_ids == live_names == ref.doc_ids
    assert index.num_terms == ref.num_terms
    for k in (10, 100):
        s, i = index.search(queries, k)
        rs, ri = ref.search(queries, k)
        np.testing.assert_array_equal(i, ri)
        np.testing.assert_array_equal(s, rs)
    # Still live after compaction; a second save equals the fresh file again.
    index.add(["cell growth factor"], ["late-doc"])
    index.delete(["late-doc"])
    index.save(tmp_path / "again.bm25")
    assert (tmp_path / "again.bm25").read_bytes() == (tmp_path / "fresh.bm25").read_bytes()


# ---- crash safety -------------------------------------------------------------------------------

def _saver(path: str, names, texts, extra_names, extra_texts, ready) -> None:
    """Saves, alternately, the index after a delete + add + update and after more of them."""
    index = Bm25Index.build(list(zip(names, texts)))
    index.delete(names[:30])
    index.add(extra_texts[:200], extra_names[:200])
    index.update(names[40:60], extra_texts[200:220])
    other = Bm25Index.build(list(zip(names, texts)))
    other.add(extra_texts[:400], extra_names[:400])
    other.delete(names[100:150])
    ready.set()
    i = 0
    while True:
        (index if i % 2 == 0 else other).save(path)
        i += 1


def test_save_killed_at_random_points_leaves_a_complete_file(data, tmp_path):
    names, texts, queries = data
    base_names, base_texts = names[:300], texts[:300]
    extra_names, extra_texts = names[N_BASE:], texts[N_BASE:]
    path = tmp_path / "index.bm25"
    prev = Bm25Index.build(list(zip(base_names, base_texts)))
    prev.save(path)
    # The three complete states the file may hold.
    a_names = base_names[30:] + extra_names[:200]
    a_texts = base_texts[30:40] + extra_texts[200:220] + base_texts[60:] + extra_texts[:200]
    b_names = base_names[:100] + base_names[150:] + extra_names[:400]
    b_texts = base_texts[:100] + base_texts[150:] + extra_texts[:400]
    states = [prev, fresh(a_names, a_texts), fresh(b_names, b_texts)]
    expected = [s.search(queries, 10) for s in states]
    rng = np.random.default_rng(4)
    context = multiprocessing.get_context("fork")
    seen = set()
    for attempt in range(6):
        ready = context.Event()
        child = context.Process(target=_saver, args=(str(path), base_names, base_texts, extra_names,
                                                     extra_texts, ready))
        child.start()
        assert ready.wait(30)
        time.sleep(float(rng.uniform(0.0, 0.15)))
        os.kill(child.pid, signal.SIGKILL)
        child.join(10)
        loaded = Bm25Index.load(path)  # checksummed: a torn file would not load
        got = loaded.search(queries, 10)
        match = [j for j, (s, i) in enumerate(expected)
                 if ranked_names(loaded, got[1]) == ranked_names(states[j], i) and np.array_equal(got[0], s)]
        assert match, f"attempt {attempt}: the file holds none of the saved states"
        seen.add(match[0])
    assert seen


def test_failing_write_during_save_after_changes_keeps_the_previous_file(data, tmp_path):
    names, texts, queries = data
    path = tmp_path / "index.bm25"
    prev = Bm25Index.build(list(zip(names[:200], texts[:200])))
    prev.save(path)
    before = prev.search(queries, 10)
    limit = path.stat().st_size + 4096  # the changed index needs far more
    changes = tmp_path / "changes.json"
    changes.write_text(json.dumps({"texts": texts[N_BASE:N_BASE + 400], "names": names[N_BASE:N_BASE + 400],
                                   "delete": names[:20]}))
    script = (
        "import json, resource, signal, sys\n"
        "from densefb.sparse import Bm25Index\n"
        "c = json.load(open(sys.argv[2]))\n"
        "index = Bm25Index.load(sys.argv[1])\n"
        "index.add(c['texts'], c['names'])\n"
        "index.delete(c['delete'])\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG\n"
        f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))\n"
        "try:\n"
        "    index.save(sys.argv[1])\n"
        "except OSError as e:\n"
        "    print('save failed:', e)\n"
        "    sys.exit(3)\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    out = subprocess.run([sys.executable, "-c", script, str(path), str(changes)], capture_output=True, text=True, env=env,
                         timeout=60)
    assert out.returncode == 3, out.stdout + out.stderr
    assert "save failed" in out.stdout
    loaded = Bm25Index.load(path)
    after = loaded.search(queries, 10)
    np.testing.assert_array_equal(after[0], before[0])
    np.testing.assert_array_equal(after[1], before[1])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["changes.json", "index.bm25"]  # no partial file left


# ---- concurrency ---------------------------------------------------------------------------------

def test_searches_in_threads_during_changes_never_return_deleted_documents(data):
    names, texts, queries = data
    index = Bm25Index.build(list(zip(names[:N_BASE], texts[:N_BASE])))
    doomed = names[:300]
    deleted_upto = [0]  # doomed[:deleted_upto] are deleted; written only after delete returns
    stop = threading.Event()
    errors, searches = [], [0]

    def reader():
        try:
            while not stop.is_set():
                upto = deleted_upto[0]
                gone = set(doomed[:upto])
                _, ids = index.search(queries[:8], 50, num_threads=1)
                doc_ids = index.doc_ids  # positions are stable until compact()
                hits = {doc_ids[i] for i in ids[ids >= 0]}
                if hits & gone:
                    errors.append(f"deleted documents returned: {sorted(hits & gone)[:3]}")
                searches[0] += 1
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        for j in range(0, 300, 10):
            index.delete(doomed[j:j + 10])
            deleted_upto[0] = j + 10
            index.add(texts[N_BASE + j:N_BASE + j + 10], names[N_BASE + j:N_BASE + j + 10])
            index.update([names[400 + j // 10]], [texts[j]])
            time.sleep(0.002)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert errors == []
    assert searches[0] > 0
    assert index.num_docs == N_BASE and index.num_deleted == 300


# ---- bad input ----------------------------------------------------------------------------------

def test_bad_input_names_the_problem_and_changes_nothing(data):
    names, texts, queries = data
    index = Bm25Index.build(list(zip(names[:100], texts[:100])))
    index.delete(names[:2])
    before = index.search(queries, 10)
    state = (index.num_ids, index.num_docs, index.num_deleted, index.doc_ids, index.local_stats())

    def unchanged():
        after = index.search(queries, 10)
        np.testing.assert_array_equal(after[0], before[0])
        np.testing.assert_array_equal(after[1], before[1])
        assert (index.num_ids, index.num_docs, index.num_deleted, index.doc_ids, index.local_stats()) == state

    with pytest.raises(KeyError, match="no-such-doc"):
        index.delete([names[5], "no-such-doc"])
    unchanged()
    with pytest.raises(KeyError, match=names[0]):  # already deleted
        index.delete([names[0]])
    unchanged()
    with pytest.raises(ValueError, match="given twice"):
        index.delete([names[5], names[5]])
    unchanged()
    with pytest.raises(KeyError, match="no-such-doc"):
        index.update([names[5], "no-such-doc"], ["a", "b"])
    unchanged()
    with pytest.raises(ValueError, match="2 names for 1 texts"):
        index.update([names[5], names[6]], ["a"])
    unchanged()
    with pytest.raises(ValueError, match=f'"{names[7]}".*already in the index'):
        index.add(["x", "y"], ["new-doc", names[7]])
    unchanged()
    with pytest.raises(ValueError, match='"dup" is given twice'):
        index.add(["x", "y"], ["dup", "dup"])
    unchanged()
    with pytest.raises(ValueError, match="1 names for 2 texts"):
        index.add(["x", "y"], ["only-one"])
    unchanged()
    with pytest.raises(TypeError):
        index.add([b"bytes"], ["z"])
    unchanged()
    # Deleted positions are refused by the by-position paths.
    with pytest.raises(KeyError, match="is deleted"):
        index.score(queries[0], [0])
    with pytest.raises(KeyError, match="unknown document id"):
        index.score(queries[0], [names[0]])
    with pytest.raises(IndexError):
        index.delete([5, 10_000])
    unchanged()
    with pytest.raises(ValueError, match="not both"):
        index.delete([names[5], 6])
    unchanged()
    with pytest.raises(KeyError, match="is deleted"):
        index.delete([1])
    unchanged()
    # By position.
    index.delete([5, 6])
    assert index.deleted_mask[[5, 6]].all() and index.num_deleted == 4
    # A deleted name may come back; default names are the new positions.
    index.add([texts[0]], [names[0]])
    index.add(["cell"])
    assert index.doc_ids[-2:] == [names[0], str(index.num_ids - 1)]
