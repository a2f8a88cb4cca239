"""densefb.ScalarQuantizedIndex on real all-MiniLM-L6-v2 vectors of SciFact and Cranfield:
nDCG@10 within 0.002 of the float32 FlatIndex with and without Rocchio PRF, search equal to
numpy brute force over the reconstructed vectors, pipelines equal to a FlatIndex of the decoded
vectors, memory 4x (int8) / 2x (fp16, bf16) smaller, exact re-scoring, save/load and errors."""
from __future__ import annotations

import numpy as np
import pytest

import densefb
from densefb import Pipeline, Resources

ENCODINGS = ["int8", "fp16", "bf16"]
ROCCHIO = "dense >> rocchio(alpha=0.4,beta=0.6,topk=5) >> dense(k=1000)"
PLAIN = "dense(k=1000)"


@pytest.fixture(scope="module")
def collections(scifact, vectors, cranfield_vectors):
    """{name: (dataset, doc vectors, query vectors)}."""
    D, Q = vectors
    return {"scifact": (scifact, D, Q), "cranfield": cranfield_vectors}


@pytest.fixture(scope="module")
def indexes(collections):
    """{(collection, encoding or "fp32"): index} over the doc vectors, inner product (the
    vectors are unit length)."""
    out = {}
    for name, (_, D, _) in collections.items():
        flat = densefb.FlatIndex(D.shape[1], metric="ip")
        flat.add(D)
        out[name, "fp32"] = flat
        for enc in ENCODINGS:
            ix = densefb.ScalarQuantizedIndex(D.shape[1], metric="ip", encoding=enc)
            ix.add(D)
            out[name, enc] = ix
    return out


def ndcg10(collections, indexes, name, kind, spec):
    ds, _, Q = collections[name]
    run = Pipeline.parse(spec).run(Resources(corpus=ds.corpus, dense_index=indexes[name, kind]), ds.queries,
                                   k=1000, query_vectors=Q)
    return densefb.evaluate(run, ds.qrels, ["nDCG@10"])["nDCG@10"]


@pytest.mark.parametrize("spec", [PLAIN, ROCCHIO], ids=["dense", "rocchio"])
@pytest.mark.parametrize("name", ["scifact", "cranfield"])
def test_compressed_ndcg_within_0002_of_fp32(collections, indexes, name, spec):
    base = ndcg10(collections, indexes, name, "fp32", spec)
    assert base > 0.3
    for enc in ENCODINGS:
        got = ndcg10(collections, indexes, name, enc, spec)
        assert got >= base - 0.002, (enc, got, base)


@pytest.mark.parametrize("metric", ["ip", "cosine"])
@pytest.mark.parametrize("enc", ENCODINGS)
def test_search_equals_numpy_over_reconstructed(vectors, enc, metric):
    D, Q = vectors
    ix = densefb.ScalarQuantizedIndex(D.shape[1], metric=metric, encoding=enc)
    ix.add(D)
    R = ix.reconstruct(np.arange(len(D)))
    err = np.abs(R - D).max()
    assert err <= {"int8": (D.max(0) - D.min(0)).max() / 510 + 1e-6, "fp16": 2.0 ** -12, "bf16": 2.0 ** -9}[enc]
    S = Q.astype(np.float64) @ R.astype(np.float64).T
    if metric == "cosine":
        S /= np.linalg.norm(Q.astype(np.float64), axis=1)[:, None] * np.linalg.norm(R.astype(np.float64), axis=1)[None]
    scores, ids = ix.search(Q, 10)
    want = np.argsort(-S, axis=1, kind="stable")[:, :10]
    np.testing.assert_allclose(scores, np.take_along_axis(S, want, axis=1), atol=1e-5)
    # Ids agree except where float32 rounding swaps near-ties: each returned id scores its score.
    np.testing.assert_allclose(np.take_along_axis(S, ids, axis=1), scores, atol=1e-5)
    assert (ids == want).mean() > 0.99


@pytest.mark.parametrize("enc", ENCODINGS)
def test_pipeline_equals_flat_index_of_decoded_vectors(scifact, vectors, indexes, scifact_doc_pos, enc):
    """Rocchio reads reconstructed vectors: the compressed index gives the run of a FlatIndex
    holding exactly the decoded vectors (same GEMM blocks, same scores)."""
    D, Q = vectors
    ix = indexes["scifact", enc]
    decoded = densefb.FlatIndex(D.shape[1], metric="ip")
    decoded.add(ix.reconstruct(np.arange(len(D))))
    spec = "dense >> rocchio(alpha=0.4,beta=0.6,topk=5) >> dense(k=100)"
    runs = [Pipeline.parse(spec).run(Resources(corpus=scifact.corpus, dense_index=x), scifact.queries, k=100,
                                     query_vectors=Q).to_dict() for x in (ix, decoded)]
    assert runs[0] == runs[1]


def test_memory_4x_int8_2x_fp16(indexes, vectors):
    D, _ = vectors
    n, dim = D.shape
    for enc, factor in [("int8", 4), ("fp16", 2), ("bf16", 2)]:
        u = indexes["scifact", enc].memory_usage()
        assert u["codes"] * factor == n * dim * 4
        assert u["total"] == u["codes"] + u["originals"] + u["norms"] + u["ids"] + u["params"]
        assert u["flat_equivalent"] == n * dim * 4 + u["ids"]
        # Ids are the same in both; the vectors themselves are factor x smaller.
        assert (u["flat_equivalent"] - u["ids"]) / (u["total"] - u["ids"]) >= factor * 0.99
    r = densefb.ScalarQuantizedIndex(dim, encoding="int8", rescore_factor=4)
    r.add(D)
    assert r.memory_usage()["originals"] == n * dim * 4


def test_rescoring_gives_exact_scores(vectors, scifact_flat):
    D, Q = vectors
    ix = densefb.ScalarQuantizedIndex(D.shape[1], encoding="int8", rescore_factor=4)
    ix.add(D)
    assert not ix.exact and ix.rescore_factor == 4
    s, i = ix.search(Q, 10)
    fs, fi = scifact_flat.search(Q, 10)
    assert (i == fi).mean() > 0.999
    np.testing.assert_allclose(s, fs, atol=1e-5)
    # Reconstruct returns the decoded vectors, not the kept originals.
    assert not np.array_equal(ix.reconstruct([0]), D[:1])


def test_filter_train_save_load_and_errors(vectors, tmp_path):
    D, Q = vectors
    ix = densefb.ScalarQuantizedIndex(D.shape[1], metric="cosine", encoding="int8")
    assert not ix.is_trained and len(ix.vmin) == 0
    ix.train(D[:2000])
    assert ix.is_trained
    np.testing.assert_array_equal(ix.vmin, D[:2000].min(0))
    ids = np.arange(len(D), dtype=np.int64) * 3
    ix.add(D, ids=ids)
    with pytest.raises(Exception, match="train an empty index"):
        ix.train(D[:10])
    allowed = ids[::5]
    s, i = ix.search(Q[:4], 10, filter=allowed)
    assert np.isin(i, allowed).all()
    path = tmp_path / "sq.dfb"
    ix.save(path)
    back = densefb.ScalarQuantizedIndex.load(path)
    assert repr(back) == repr(ix) == "<densefb.ScalarQuantizedIndex dim=384 metric=cosine encoding=int8 ntotal=5183>"
    np.testing.assert_array_equal(back.ids, ids)
    np.testing.assert_array_equal(back.reconstruct(ids[:7]), ix.reconstruct(ids[:7]))
    s2, i2 = back.search(Q[:4], 10, filter=allowed)
    np.testing.assert_array_equal(i2, i)
    np.testing.assert_array_equal(s2, s)
    with pytest.raises(ValueError, match="int4"):
        densefb.ScalarQuantizedIndex(8, encoding="int4")
    with pytest.raises(ValueError, match="rescore_factor"):
        densefb.ScalarQuantizedIndex(8, rescore_factor=-2)
    with pytest.raises(KeyError):
        ix.reconstruct([1])
    with pytest.raises(ValueError, match="dimensions"):
        ix.add(np.zeros((2, 5), np.float32))
    (tmp_path / "bad.dfb").write_bytes(path.read_bytes()[:100])
    with pytest.raises(OSError, match="bad.dfb"):
        densefb.ScalarQuantizedIndex.load(tmp_path / "bad.dfb")
    assert isinstance(ix, densefb.VectorIndex)
