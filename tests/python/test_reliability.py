"""Reliability from Python (docs/reliability.md): shared indexes, PRF models and encoders used
from many Python threads at once give the sequential results, long calls release the GIL,
and the edge-case rules (non-finite numbers, empty and over-long texts, duplicate ids, k
beyond the corpus) hold."""
from __future__ import annotations

import concurrent.futures
import threading
import time

import numpy as np
import pytest

import densefb
from densefb import AveragePRF, Dense, Resources, Rocchio


def _max_main_thread_gap(fn):
    """Runs fn() in a worker thread while this thread loops in Python; returns (longest pause
    between two iterations of the loop, duration of fn, fn's result). A call that holds the
    GIL pauses the loop for its whole duration."""
    done = threading.Event()
    out = {}

    def work():
        t = time.perf_counter()
        out["result"] = fn()
        out["seconds"] = time.perf_counter() - t
        done.set()

    worker = threading.Thread(target=work)
    last = time.perf_counter()
    gap = 0.0
    worker.start()
    while not done.is_set():
        now = time.perf_counter()
        gap = max(gap, now - last)
        last = now
    worker.join()
    return gap, out["seconds"], out["result"]


@pytest.fixture(scope="module")
def shared(scifact, scifact_vectors):
    docs, queries = scifact_vectors
    flat = densefb.FlatIndex(docs.shape[1], metric="cosine")
    flat.add(docs)
    hnsw = densefb.HnswIndex(docs.shape[1], M=16, ef_construction=100, num_threads=2)
    hnsw.add(docs)
    bm25 = densefb.Bm25Index.build(scifact.corpus, num_threads=2)
    return flat, hnsw, bm25, queries, scifact.queries.texts


OPS = {
    "flat": lambda s: s[0].search(s[3], 100, num_threads=1),
    "hnsw": lambda s: s[1].search(s[3], 100, ef=128, num_threads=1),
    "bm25": lambda s: s[2].search(s[4], 100, num_threads=1),
    "rm3": lambda s: s[2].search(s[4], 100, num_threads=1, rm3={}),
    "rocchio-flat": lambda s: (Dense(k=100) >> Rocchio(alpha=0.4, beta=0.6, topk=5) >> Dense(k=100)).rank(
        Resources(dense_index=s[0]), s[4], k=100, num_threads=1, query_vectors=s[3]),
    "average-hnsw": lambda s: (Dense(k=100, ef_search=128) >> AveragePRF(k=3) >> Dense(k=100, ef_search=128)).rank(
        Resources(dense_index=s[1]), s[4], k=100, num_threads=1, query_vectors=s[3]),
}


@pytest.mark.parametrize("op", sorted(OPS))
def test_many_python_threads_equal_sequential(shared, op):
    """8 calls on 4 Python threads at once, each over every SciFact test query (300), give
    bit-identical scores and ids to a sequential call."""
    fn = OPS[op]
    want_scores, want_ids = fn(shared)
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: fn(shared), range(8)))
    for scores, ids in results:
        np.testing.assert_array_equal(ids, want_ids)
        np.testing.assert_array_equal(scores, want_scores)
    assert (want_ids[:, 0] >= 0).all()


@pytest.mark.parametrize("op", ["flat", "hnsw", "bm25", "rocchio-flat"])
def test_long_calls_release_the_gil(shared, op):
    """While a long call runs in another thread, this thread keeps running Python: the longest
    pause of its loop is a small part of the call (a call holding the GIL would pause it for
    the whole call)."""
    flat, hnsw, bm25, queries, texts = shared
    many = (flat, hnsw, bm25, np.tile(queries, (8, 1)), texts * 8)
    gap, seconds, _ = _max_main_thread_gap(lambda: OPS[op](many))
    assert seconds > 0.05, f"{op} took {seconds:.3f} s: too short to tell"
    assert gap < 0.5 * seconds, f"{op}: main thread paused {gap:.3f} s of a {seconds:.3f} s call"


@pytest.fixture(scope="module")
def minilm():
    pytest.importorskip("torch")
    return densefb.Encoder.from_pretrained("sentence-transformers/all-MiniLM-L6-v2")


def test_encoder_from_many_threads_equals_sequential_and_releases_the_gil(minilm, scifact):
    texts = scifact.corpus.texts()[:48]
    want = minilm.encode(texts, batch_size=16)
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda i: minilm.encode(texts, batch_size=16), range(3)))
    for got in results:
        # One shared encoder, any thread: the same numbers (same batches, same kernels).
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
    gap, seconds, got = _max_main_thread_gap(lambda: minilm.encode(texts, batch_size=16))
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
    assert gap < 0.5 * seconds, f"main thread paused {gap:.3f} s of a {seconds:.3f} s encode"


def test_encoder_empty_and_over_long_texts(minilm, scifact):
    """"" encodes to the vector of [CLS] [SEP] (finite, unit norm); a text longer than the
    model's max length is cut to it: words past the limit change nothing."""
    empty = minilm.encode(["", "   "])
    assert np.isfinite(empty).all()
    np.testing.assert_allclose(np.linalg.norm(empty, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(empty[0], empty[1], atol=1e-6)
    long_text = " ".join(scifact.corpus.texts()[:20])  # thousands of tokens
    a, b = minilm.encode([long_text, long_text + " unrelated words appended at the very end"])
    np.testing.assert_allclose(a, b, atol=1e-6)
    head = minilm.encode([" ".join(long_text.split()[:20])])[0]
    assert float(a @ head) < 0.999  # the cut kept more than the first 20 words


def test_non_finite_numbers_are_rejected_with_the_position(shared):
    flat, hnsw, _, queries, _ = shared
    bad = queries[:3].copy()
    bad[2, 5] = np.inf
    for index in (flat, hnsw):
        with pytest.raises(ValueError, match="row 2 column 5 is infinite"):
            index.search(bad, 10)
        with pytest.raises(ValueError, match="infinite"):
            index.add(bad)
    with pytest.raises(ValueError, match="not finite in float32"):
        (Dense(k=10) >> Rocchio(alpha=1e300, beta=0.5, topk=2) >> Dense(k=10)).rank(
            Resources(dense_index=flat), ["a", "b"], k=10, query_vectors=queries[:2])
    # scores: NaN is an error for evaluation and fusion, +-inf ranks first / last in evaluation
    qrels = {"q": {"a": 1}}
    with pytest.raises(ValueError, match="NaN"):
        densefb.evaluate({"q": {"a": float("nan"), "b": 1.0}}, qrels, ["RR"])
    assert densefb.evaluate({"q": {"a": float("inf"), "b": 1e30}}, qrels, ["RR"])["RR"] == 1.0
    assert densefb.evaluate({"q": {"a": -float("inf"), "b": -1e30}}, qrels, ["RR"])["RR"] == 0.5
    with pytest.raises(ValueError, match="non-finite score"):
        densefb.fuse([{"q": {"a": float("nan")}}], "rrf")


def test_duplicate_ids_are_errors():
    x = np.eye(4, dtype=np.float32)
    index = densefb.FlatIndex(4)
    with pytest.raises(ValueError, match="7"):
        index.add(x[:2], ids=[7, 7])
    index.add(x[:2], ids=[7, 8])
    with pytest.raises(ValueError, match="8"):
        index.add(x[2:3], ids=[8])
    assert len(index) == 2  # a failed add changes nothing
    with pytest.raises(ValueError, match='"d1" is given twice'):
        densefb.Bm25Index.build([("d1", "cats"), ("d2", "dogs"), ("d1", "birds")])
    run = densefb.Run()
    run.add("q", ["d1", "d1"], [1.0, 0.5])
    with pytest.raises(ValueError, match="more than once"):
        densefb.evaluate(run, {"q": {"d1": 1}}, ["AP"])


def test_reserve_sizes_up_front_and_rejects_impossible_sizes():
    x = np.random.default_rng(5).standard_normal((300, 8)).astype(np.float32)
    for make in (lambda: densefb.FlatIndex(8), lambda: densefb.HnswIndex(8, num_threads=1)):
        grown, reserved = make(), make()
        reserved.reserve(1000)
        for start in range(0, 300, 30):
            grown.add(x[start:start + 30])
            reserved.add(x[start:start + 30])
        for a, b in zip(grown.search(x[:10], 5), reserved.search(x[:10], 5)):
            np.testing.assert_array_equal(a, b)
        with pytest.raises(ValueError, match="-1"):
            reserved.reserve(-1)
        with pytest.raises((MemoryError, ValueError), match="reserve"):
            reserved.reserve(1 << 60)
        assert reserved.ntotal == 300


def test_k_zero_and_k_beyond_the_corpus():
    x = np.random.default_rng(0).standard_normal((5, 8)).astype(np.float32)
    for index in (densefb.FlatIndex(8), densefb.HnswIndex(8)):
        index.add(x)
        s, i = index.search(x[:2], 0)
        assert s.shape == (2, 0) and i.shape == (2, 0)
        s, i = index.search(x[:2], 9)
        assert (i[:, :5] >= 0).all() and (i[:, 5:] == -1).all() and np.isneginf(s[:, 5:]).all()
        assert sorted(i[0, :5]) == [0, 1, 2, 3, 4]
        s, i = (Dense(k=9) >> AveragePRF(k=10) >> Dense(k=9)).rank(
            Resources(dense_index=index), ["a", "b"], k=9, query_vectors=x[:2])
        s, i = np.pad(s, ((0, 0), (0, 9 - s.shape[1])), constant_values=-np.inf), \
            np.pad(i, ((0, 0), (0, 9 - i.shape[1])), constant_values=-1)
        assert (i[:, 5:] == -1).all() and sorted(i[1, :5]) == [0, 1, 2, 3, 4]
        run = densefb.make_run(["q0", "q1"], i, s, [f"d{j}" for j in range(5)])
        assert all(len(run.to_dict()[q]) == 5 for q in ("q0", "q1"))  # padding dropped
