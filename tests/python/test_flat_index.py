"""FlatIndex against numpy on real SciFact vectors and synthetic ones, plus error paths."""
import threading

import numpy as np
import pytest

import densefb


def numpy_topk(docs, queries, k, cosine=False):
    d = docs.astype(np.float64)
    q = queries.astype(np.float64)
    if cosine:
        d = d / np.linalg.norm(d, axis=1, keepdims=True)
        q = q / np.linalg.norm(q, axis=1, keepdims=True)
    s = q @ d.T
    order = np.lexsort((np.broadcast_to(np.arange(len(d)), s.shape), -s), axis=1)[:, :k]
    return np.take_along_axis(s, order, 1), order


@pytest.mark.parametrize("metric", ["ip", "cosine"])
def test_real_scifact_vectors_match_numpy(scifact_vectors, metric):
    docs, queries = scifact_vectors
    index = densefb.FlatIndex(docs.shape[1], metric=metric)
    index.add(docs)
    scores, ids = index.search(queries, 100)
    ref_scores, ref_ids = numpy_topk(docs, queries, 100, cosine=metric == "cosine")
    assert scores.shape == ids.shape == (len(queries), 100)
    assert scores.dtype == np.float32 and ids.dtype == np.int64
    np.testing.assert_allclose(scores, ref_scores, atol=1e-5)
    # ids agree except where float32 rounding reorders near-ties
    mismatch = ids != ref_ids
    assert mismatch.mean() < 1e-3
    assert np.all(np.abs(scores[mismatch] - ref_scores[mismatch]) < 1e-5)


def test_real_scifact_dense_retrieval_effectiveness(scifact, scifact_vectors):
    """Exact search with all-MiniLM-L6-v2 reproduces the published SciFact nDCG@10 (0.645)."""
    import pytrec_eval

    docs, queries = scifact_vectors
    index = densefb.FlatIndex(docs.shape[1])
    index.add(docs)
    scores, ids = index.search(queries, 100)
    run = densefb.make_run(scifact.queries.ids, ids, scores, scifact.corpus.ids)
    ev = pytrec_eval.RelevanceEvaluator(scifact.qrels.to_dict(), {"ndcg_cut_10"})
    ndcg = np.mean([v["ndcg_cut_10"] for v in ev.evaluate(run.to_dict()).values()])
    assert abs(ndcg - 0.645) < 0.005


def test_results_independent_of_threads_and_batching(scifact_vectors):
    docs, queries = scifact_vectors
    index = densefb.FlatIndex(docs.shape[1])
    for start in range(0, len(docs), 1000):
        index.add(docs[start:start + 1000])
    s1, i1 = index.search(queries, 50, num_threads=1)
    s2, i2 = index.search(queries, 50, num_threads=2)
    s3, i3 = index.search(queries[:1], 50)
    np.testing.assert_array_equal(i1, i2)
    np.testing.assert_array_equal(s1, s2)
    np.testing.assert_array_equal(i1[:1], i3)


def test_padding_empty_and_k_zero():
    index = densefb.FlatIndex(8)
    scores, ids = index.search(np.ones((3, 8), np.float32), 4)
    assert ids.shape == scores.shape == (3, 0)  # empty index: no columns
    x = np.random.default_rng(0).standard_normal((2, 8)).astype(np.float32)
    index.add(x, ids=np.array([10, 20]))
    scores, ids = index.search(x, 5)
    assert ids.shape == (2, 2) and ids[0, 0] in (10, 20)  # min(k, ntotal) columns
    scores, ids = index.search(x, 0)
    assert scores.shape == (2, 0)
    scores, ids = index.search(x[0], 1)  # 1-d query
    assert ids.shape == (1, 1)


def test_reconstruct_is_exact_and_save_load(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((100, 16)).astype(np.float32)
    index = densefb.FlatIndex(16, metric="cosine")
    index.add(x, ids=np.arange(1000, 1100))
    np.testing.assert_array_equal(index.reconstruct(np.array([1005, 1000])), x[[5, 0]])
    index.save(tmp_path / "i.dfb")
    loaded = densefb.FlatIndex.load(tmp_path / "i.dfb")
    assert (loaded.dim, loaded.metric, loaded.ntotal) == (16, "cosine", 100)
    np.testing.assert_array_equal(loaded.ids, np.arange(1000, 1100))
    a, b = index.search(x[:5], 10), loaded.search(x[:5], 10)
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_array_equal(a[0], b[0])
    assert [p.name for p in tmp_path.iterdir()] == ["i.dfb"]


def test_no_copy_for_contiguous_float32_input():
    x = np.random.default_rng(2).standard_normal((4, 8)).astype(np.float32)
    index = densefb.FlatIndex(8)
    index.add(x)
    # float64 and non-contiguous inputs are converted, giving the same results
    index2 = densefb.FlatIndex(8)
    index2.add(np.asfortranarray(x.astype(np.float64)))
    np.testing.assert_array_equal(index.search(x, 3)[1], index2.search(x, 3)[1])


def test_errors_are_python_exceptions(tmp_path):
    index = densefb.FlatIndex(4)
    with pytest.raises(ValueError, match="3 dimensions, the index has 4"):
        index.add(np.zeros((2, 3), np.float32))
    bad = np.zeros((2, 4), np.float32)
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match="row 1 column 2 is NaN"):
        index.add(bad)
    with pytest.raises(ValueError, match="metric"):
        densefb.FlatIndex(4, metric="l2")
    with pytest.raises(ValueError):
        densefb.FlatIndex(0)
    index.add(np.ones((2, 4), np.float32))
    with pytest.raises(KeyError, match="id 9"):
        index.reconstruct(np.array([9]))
    with pytest.raises(ValueError, match="negative"):
        index.search(np.ones((1, 4), np.float32), -1)
    with pytest.raises(FileNotFoundError):
        densefb.FlatIndex.load(tmp_path / "missing")
    index.save(tmp_path / "i.dfb")
    data = bytearray((tmp_path / "i.dfb").read_bytes())
    data[40] ^= 1
    (tmp_path / "i.dfb").write_bytes(bytes(data))
    with pytest.raises(OSError, match="checksum"):
        densefb.FlatIndex.load(tmp_path / "i.dfb")
    (tmp_path / "i.dfb").write_bytes(bytes(data[:20]))
    with pytest.raises(OSError, match="truncated"):
        densefb.FlatIndex.load(tmp_path / "i.dfb")


def test_concurrent_python_threads(scifact_vectors):
    docs, queries = scifact_vectors
    index = densefb.FlatIndex(docs.shape[1])
    index.add(docs)
    expected = index.search(queries, 10)[1]
    results = [None] * 6

    def work(t):
        results[t] = index.search(queries, 10, num_threads=1)[1]

    threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in results:
        np.testing.assert_array_equal(r, expected)
