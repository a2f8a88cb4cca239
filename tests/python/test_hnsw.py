"""densefb.HnswIndex through the Python binding: recall, ids, persistence, errors, and a
comparison with the hnswlib PyPI package on the same data."""
from __future__ import annotations

import concurrent.futures
import pathlib

import numpy as np
import pytest

import densefb

DIM = 32


def clustered(n, dim=DIM, clusters=40, spread=0.8, seed=0, centre_seed=1234):
    """Gaussian mixture: fixed centres (centre_seed), points drawn with `seed`."""
    centres = np.random.default_rng(centre_seed).standard_normal((clusters, dim))
    rng = np.random.default_rng(seed)
    x = centres[rng.integers(0, clusters, n)] + spread * rng.standard_normal((n, dim))
    return x.astype(np.float32)


def exact_topk(docs, queries, k, metric):
    d = docs.astype(np.float64)
    q = queries.astype(np.float64)
    if metric == "cosine":
        d = d / np.linalg.norm(d, axis=1, keepdims=True)
        q = q / np.linalg.norm(q, axis=1, keepdims=True)
    scores = q @ d.T
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


def recall(found, exact):
    k = exact.shape[1]
    return float(np.mean([len(set(f[:k]) & set(e)) / k for f, e in zip(found, exact)]))


@pytest.fixture(scope="module")
def data():
    return clustered(4000, seed=1), clustered(200, seed=2)


@pytest.mark.parametrize("metric", ["ip", "cosine"])
def test_recall_against_exact_and_hnswlib(data, metric):
    hnswlib = pytest.importorskip("hnswlib")
    docs, queries = data
    exact = exact_topk(docs, queries, 10, metric)
    M, efc, ef = 16, 200, 64

    index = densefb.HnswIndex(DIM, metric=metric, M=M, ef_construction=efc, num_threads=1)
    index.add(docs)
    scores, ids = index.search(queries, 10, ef=ef)
    ours = recall(ids, exact)

    peer = hnswlib.Index(space=metric, dim=DIM)
    peer.init_index(max_elements=len(docs), ef_construction=efc, M=M, random_seed=100)
    peer.set_num_threads(1)
    peer.add_items(docs, np.arange(len(docs)))
    peer.set_ef(ef)
    peer_ids, _ = peer.knn_query(queries, k=10)
    theirs = recall(peer_ids, exact)

    assert ours >= 0.95, ours
    assert theirs >= 0.95, theirs
    assert ours >= theirs - 0.02  # same algorithm, same parameters
    # Scores are the similarity itself, rows sorted best first.
    assert scores.dtype == np.float32 and ids.dtype == np.int64
    assert scores.shape == ids.shape == (len(queries), 10)
    assert np.all(np.diff(scores, axis=1) <= 0)
    d, q = docs.astype(np.float64), queries.astype(np.float64)
    ref = np.einsum("ij,ij->i", q, d[ids[:, 0]])
    if metric == "cosine":
        ref /= np.linalg.norm(q, axis=1) * np.linalg.norm(d[ids[:, 0]], axis=1)
    np.testing.assert_allclose(scores[:, 0], ref, rtol=1e-4, atol=1e-4)


def test_search_equals_hnswlib_on_the_same_graph(tmp_path, scifact_vectors):
    """densefb's search (hnswlib's algorithm compiled per instruction set) returns exactly
    hnswlib's neighbours when hnswlib searches densefb's graph, on real SciFact embeddings."""
    hnswlib = pytest.importorskip("hnswlib")
    import sys

    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "benchmarks"))
    from bench_index import hnswlib_file_from_densefb

    docs, queries = scifact_vectors
    index = densefb.HnswIndex(docs.shape[1], metric="ip", M=8, ef_construction=40, num_threads=2)
    index.add(docs)
    index.save(tmp_path / "ours.hnsw")
    hnswlib_file_from_densefb(tmp_path / "ours.hnsw", tmp_path / "ours.hnswlib")
    peer = hnswlib.Index(space="ip", dim=docs.shape[1])
    peer.load_index(str(tmp_path / "ours.hnswlib"), max_elements=len(docs))
    for ef in (10, 40, 200):
        peer.set_ef(ef)
        scores, ids = index.search(queries, 10, ef=ef)
        peer_ids, peer_dist = peer.knn_query(queries, k=10)
        # hnswlib sorts by distance; ties (equal floats) may come in either order.
        same = (ids == peer_ids) | np.isclose(scores, 1.0 - peer_dist, atol=1e-6)
        assert same.all(), ef
        np.testing.assert_allclose(scores, 1.0 - peer_dist, atol=1e-5)


def test_ids_and_reconstruct_round_trip(data):
    docs, queries = data
    rng = np.random.default_rng(5)
    ids = rng.choice(10**12, size=len(docs), replace=False).astype(np.int64)
    for metric in ("ip", "cosine"):
        index = densefb.HnswIndex(DIM, metric=metric, num_threads=2)
        index.add(docs, ids=ids)
        assert len(index) == index.ntotal == len(docs)
        # Vectors come back exactly as added, cosine included.
        np.testing.assert_array_equal(index.reconstruct(ids), docs)
        np.testing.assert_array_equal(index.reconstruct(ids[[7, 3]]), docs[[7, 3]])
        assert index.reconstruct(np.array([], dtype=np.int64)).shape == (0, DIM)
        _, found = index.search(docs[:50], 1, ef=50)
        top1 = ids[exact_topk(docs, docs[:50], 1, metric)[:, 0]]  # for cosine: itself
        assert np.mean(found[:, 0] == top1) >= 0.9
        assert set(index.search(queries, 10)[1].ravel()) <= set(ids)


def test_shapes_padding_and_inputs():
    index = densefb.HnswIndex(4, metric="cosine")
    s, i = index.search(np.ones((3, 4), np.float32), 5)  # empty index: no columns
    assert s.shape == i.shape == (3, 0)
    x = np.random.default_rng(0).standard_normal((6, 4))  # float64: converted
    index.add(x)
    s, i = index.search(x[0], 8)  # 1-d query = one row; k > ntotal: ntotal columns
    assert s.shape == (1, 6)
    assert sorted(i[0]) == list(range(6))
    assert i[0, 0] == 0 and s[0, 0] == pytest.approx(1.0, abs=1e-6)
    assert index.search(x, 0)[0].shape == (6, 0)
    assert index.search(np.zeros((0, 4), np.float32), 3)[1].shape == (0, 3)
    fortran = np.asfortranarray(x[:, :4])  # non-contiguous input is copied, same result
    np.testing.assert_array_equal(index.search(fortran, 3)[1], index.search(x, 3)[1])
    np.testing.assert_array_equal(index.reconstruct([1, 2]), x[1:3].astype(np.float32))


def test_properties_and_repr():
    index = densefb.HnswIndex(8, metric="cosine", M=12, ef_construction=50, ef_search=30,
                              seed=3, num_threads=1)
    assert (index.dim, index.metric, index.M, index.ef_construction, index.ef_search) == (
        8, "cosine", 12, 50, 30)
    assert index.seed == 3 and index.num_threads == 1
    assert index.ntotal == len(index) == 0
    assert "HnswIndex" in repr(index) and "M=12" in repr(index)
    for method in ("add", "search", "reconstruct", "save", "load"):
        assert getattr(densefb.HnswIndex, method).__doc__


def test_per_call_ef_leaves_the_index_alone(data):
    docs, queries = data
    index = densefb.HnswIndex(DIM, M=6, ef_construction=20, ef_search=5, num_threads=2)
    index.add(docs)
    exact = exact_topk(docs, queries, 10, "ip")
    s1, i1 = index.search(queries, 10)
    s_wide, i_wide = index.search(queries, 10, ef=300)
    s2, i2 = index.search(queries, 10)
    assert index.ef_search == 5
    np.testing.assert_array_equal(i1, i2)
    np.testing.assert_array_equal(s1, s2)
    np.testing.assert_array_equal(i1, index.search(queries, 10, ef=5)[1])
    assert recall(i_wide, exact) > recall(i1, exact)


def test_save_load(tmp_path, data):
    docs, queries = data
    index = densefb.HnswIndex(DIM, metric="cosine", M=8, ef_search=20, num_threads=1)
    index.add(docs, ids=np.arange(len(docs)) * 2)
    path = tmp_path / "index.hnsw"
    index.save(path)  # os.PathLike
    loaded = densefb.HnswIndex.load(str(path))  # str
    assert (loaded.dim, loaded.metric, loaded.M, loaded.ef_search, loaded.ntotal) == (
        DIM, "cosine", 8, 20, len(docs))
    for ef in (None, 7, 100):
        a, b = index.search(queries, 10, ef=ef), loaded.search(queries, 10, ef=ef)
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_array_equal(loaded.reconstruct(np.arange(len(docs)) * 2), docs)
    # Single-threaded builds are reproducible: the same data gives the same file.
    again = densefb.HnswIndex(DIM, metric="cosine", M=8, ef_search=20, num_threads=1)
    again.add(docs, ids=np.arange(len(docs)) * 2)
    again.save(tmp_path / "again.hnsw")
    assert (tmp_path / "again.hnsw").read_bytes() == path.read_bytes()


def test_concurrent_searches_release_the_gil(data):
    docs, queries = data
    index = densefb.HnswIndex(DIM, num_threads=2)
    index.add(docs)
    expected = index.search(queries, 10, ef=40, num_threads=1)
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: index.search(queries, 10, ef=40, num_threads=1),
                                range(8)))
    for s, i in results:
        np.testing.assert_array_equal(i, expected[1])
        np.testing.assert_array_equal(s, expected[0])


def test_errors(tmp_path):
    with pytest.raises(ValueError, match="M = 1"):
        densefb.HnswIndex(8, M=1)
    with pytest.raises(ValueError, match="ef_construction = 0"):
        densefb.HnswIndex(8, ef_construction=0)
    with pytest.raises(ValueError, match="ef_search = 0"):
        densefb.HnswIndex(8, ef_search=0)
    with pytest.raises(ValueError, match="dim = 0"):
        densefb.HnswIndex(0)
    with pytest.raises(ValueError, match="metric"):
        densefb.HnswIndex(8, metric="l2")

    index = densefb.HnswIndex(8)
    x = np.random.default_rng(0).standard_normal((10, 8)).astype(np.float32)
    index.add(x)
    with pytest.raises(ValueError, match="9"):
        index.add(np.ones((2, 9), np.float32))
    with pytest.raises(ValueError, match="9"):
        index.search(np.ones((2, 9), np.float32), 3)
    bad = x[:2].copy()
    bad[1, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        index.add(bad)
    with pytest.raises(ValueError, match="NaN"):
        index.search(bad, 3)
    with pytest.raises(ValueError, match="infinite"):
        index.search(np.full((1, 8), np.inf, np.float32), 3)
    with pytest.raises(ValueError, match="k = -1"):
        index.search(x, -1)
    with pytest.raises(ValueError, match="ef = 0"):
        index.search(x, 3, ef=0)
    with pytest.raises(ValueError, match="100"):
        index.add(x[:2], ids=[100, 100])
    with pytest.raises(ValueError, match="already"):
        index.add(x[:2], ids=[3, 200])
    with pytest.raises(ValueError):
        index.add(x[:2], ids=[200])
    assert index.ntotal == 10
    with pytest.raises(KeyError, match="77"):
        index.reconstruct([1, 77])

    with pytest.raises(FileNotFoundError):
        densefb.HnswIndex.load(tmp_path / "missing.hnsw")
    path = tmp_path / "i.hnsw"
    index.save(path)
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    corrupt = tmp_path / "corrupt.hnsw"
    corrupt.write_bytes(bytes(raw))
    with pytest.raises(OSError, match="corrupt.hnsw"):
        densefb.HnswIndex.load(corrupt)
    truncated = tmp_path / "truncated.hnsw"
    truncated.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(OSError, match="truncated.hnsw"):
        densefb.HnswIndex.load(truncated)
    flat = densefb.FlatIndex(8)
    flat.add(x)
    flat.save(tmp_path / "flat.index")
    with pytest.raises(ValueError, match="FLAT"):
        densefb.HnswIndex.load(tmp_path / "flat.index")
    with pytest.raises(ValueError, match="directory"):
        densefb.HnswIndex.load(tmp_path)
    with pytest.raises(OSError, match="dir.hnsw"):
        index.save(tmp_path / "no" / "such" / "dir.hnsw")
    assert densefb.HnswIndex.load(path).ntotal == 10  # the good file is untouched
