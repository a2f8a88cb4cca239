"""densefb.TorchFlatIndex (the exact index on a torch device) against densefb.FlatIndex on the
real SciFact all-MiniLM-L6-v2 vectors: rankings, tie order, scores, filters, PRF pipelines,
updates, the shared file format, memory refusal, and encoding onto the device.

Every test runs on "cpu" (torch on the host) and on "cuda" where a GPU is present (skipped
otherwise): the device changes where the arithmetic runs, not what the index promises."""
import numpy as np
import pytest

import densefb

torch = pytest.importorskip("torch")
from conftest import packaged_minilm  # noqa: E402
from densefb.index import TorchFlatIndex  # noqa: E402

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"))]

# Two float32 sums of 384 products of unit vectors in another order differ by at most a few
# 1e-7; documents whose scores are closer than this may come out in either order.
NEAR_TIE = 2e-6


def with_duplicates(D, rng):
    """D plus exact copies of 200 of its rows (real ties), and ids that are not positions."""
    dup = rng.choice(len(D), 200, replace=False)
    X = np.concatenate([D, D[dup]])
    ids = rng.permutation(10 * len(X))[: len(X)].astype(np.int64)
    return X, ids, dup


def assert_same_ranking(ids_ref, s_ref, ids_got, s_got):
    """Identical ids except where the reference's scores of the swapped documents are a near
    tie; scores within 1e-5."""
    np.testing.assert_allclose(s_got, s_ref, atol=1e-5, rtol=0)
    bad = np.argwhere(ids_ref != ids_got)
    for q, j in bad:
        # the document the device put at j sits near j in the reference, with a score that
        # ties (to rounding) the reference's score at j
        row = list(ids_ref[q])
        assert ids_got[q, j] in row, (q, j)
        other = row.index(ids_got[q, j])
        assert abs(s_ref[q, other] - s_ref[q, j]) < NEAR_TIE, (q, j, s_ref[q, other], s_ref[q, j])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("metric", ["ip", "cosine"])
def test_rankings_equal_flat_index_with_ties(vectors, device, metric):
    D, Q = vectors
    rng = np.random.default_rng(7)
    X, ids, dup = with_duplicates(D, rng)
    X = X * rng.uniform(0.5, 2.0, (len(X), 1)).astype(np.float32) if metric == "cosine" else X
    X[len(D):] = X[dup]  # the copies stay exact after scaling
    flat = densefb.FlatIndex(X.shape[1], metric)
    flat.add(X, ids)
    # Small blocks, so that the merge across query and document blocks is exercised.
    index = TorchFlatIndex(X.shape[1], metric, device=device, query_block=100, doc_block=1500)
    index.add(X[:3000], ids[:3000])
    index.add(X[3000:], ids[3000:])
    assert index.ntotal == len(X) and index.exact and np.array_equal(index.ids, ids)
    queries = np.concatenate([Q, D[dup[:50]]])  # 50 queries equal to duplicated documents
    for k in (10, 1000):
        s_ref, i_ref = flat.search(queries, k)
        s_got, i_got = index.search(queries, k)
        assert s_got.shape == (len(queries), k)
        assert_same_ranking(i_ref, s_ref, i_got, s_got)
    # Real ties: a duplicated document and its copy score the same and come out in insertion
    # order, the original (earlier row) first, adjacent, as FlatIndex puts them.
    s_got, i_got = index.search(D[dup[:50]], 3)
    pos = {int(x): r for r, x in enumerate(ids)}
    for q in range(50):
        tied = [pos[int(x)] for x in i_got[q] if pos[int(x)] in (dup[q], len(D) + q)]
        assert tied == [dup[q], len(D) + q], (q, i_got[q])
        assert s_got[q, 0] == s_got[q, 1]


@pytest.mark.parametrize("device", DEVICES)
def test_k_beyond_size_filters_and_empty(vectors, device):
    D, Q = vectors
    n = 500
    flat = densefb.FlatIndex(D.shape[1])
    flat.add(D[:n])
    index = TorchFlatIndex(D.shape[1], device=device, query_block=7, doc_block=128)  # several blocks of each
    assert index.search(Q[:3], 5)[1].shape == (3, 0)  # empty index
    index.add(D[:n])
    s, i = index.search(Q[:4], 10_000)
    assert s.shape == (4, n)
    assert_same_ranking(*flat.search(Q[:4], 10_000)[::-1], i, s)
    rng = np.random.default_rng(3)
    few = [list(rng.choice(n, 3, replace=False)) for _ in range(20)]  # fewer allowed than k
    many = rng.random((20, n)) < 0.5
    for filt in (few, many, list(range(0, n, 7))):
        s_ref, i_ref = flat.search(Q[:20], 10, filter=filt)
        s_got, i_got = index.search(Q[:20], 10, filter=filt)
        assert np.array_equal(i_got == -1, i_ref == -1)
        assert np.all(np.isneginf(s_got[i_got == -1]))
        live = i_ref != -1
        assert_same_ranking(np.where(live, i_ref, -1), np.where(live, s_ref, 0), np.where(live, i_got, -1),
                            np.where(live, s_got, 0))


@pytest.mark.parametrize("device", DEVICES)
def test_prf_pipeline_equals_flat_index(scifact, vectors, scifact_flat, device):
    D, Q = vectors
    index = TorchFlatIndex.from_index(scifact_flat, device=device)
    spec = "dense >> rocchio(alpha=0.4,beta=0.6,topk=5) >> dense(k=100)"
    want = densefb.Pipeline.parse(spec).run(densefb.Resources(corpus=scifact.corpus, dense_index=scifact_flat), scifact.queries,
                                            k=100, query_vectors=Q).to_dict()
    got = densefb.Pipeline.parse(spec).run(densefb.Resources(corpus=scifact.corpus, dense_index=index), scifact.queries,
                                           k=100, query_vectors=Q).to_dict()
    assert got.keys() == want.keys()
    for qid in want:
        w = sorted(want[qid].items(), key=lambda kv: -kv[1])
        g = sorted(got[qid].items(), key=lambda kv: -kv[1])
        np.testing.assert_allclose([s for _, s in g], [s for _, s in w], atol=1e-5)
        for (gd, gs), (wd, ws) in zip(g, w):
            assert gd == wd or abs(want[qid].get(gd, -9) - ws) < NEAR_TIE, (qid, gd, wd)
    # The feedback vectors are the stored ones, gathered on the device.
    ids = np.array([5, 0, 4000, 17])
    assert np.array_equal(index.reconstruct(ids), D[ids])


@pytest.mark.parametrize("device", DEVICES)
def test_delete_update_and_file_format(tmp_path, vectors, device):
    D, Q = vectors
    flat = densefb.FlatIndex(D.shape[1], "cosine")
    flat.add(D[:2000])
    index = TorchFlatIndex.from_index(flat, device=device)
    for idx in (flat, index):
        idx.delete(np.arange(0, 2000, 3))
        idx.update(D[2000:2010], np.array([1, 2, 4, 5, 7, 8, 10, 11, 13, 14]))
    assert_same_ranking(*flat.search(Q, 50)[::-1], *index.search(Q, 50)[::-1])
    assert np.array_equal(index.ids, flat.ids)
    # Saved by either, loaded by the other: the same vectors, ids and metric.
    index.save(tmp_path / "device.flat")
    back = densefb.FlatIndex.load(tmp_path / "device.flat")
    assert back.metric == "cosine" and np.array_equal(back.ids, flat.ids)
    assert np.array_equal(back.reconstruct(flat.ids), flat.reconstruct(flat.ids))
    flat.save(tmp_path / "host.flat")
    loaded = TorchFlatIndex.load(tmp_path / "host.flat", device=device)
    assert loaded.device == device and np.array_equal(loaded.reconstruct(flat.ids), flat.reconstruct(flat.ids))
    raw = bytearray((tmp_path / "host.flat").read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    (tmp_path / "bad.flat").write_bytes(bytes(raw))
    with pytest.raises(OSError, match="checksum|corrupt"):
        TorchFlatIndex.load(tmp_path / "bad.flat", device=device)


@pytest.mark.parametrize("device", DEVICES)
def test_memory_refused_with_sizes_and_index_unchanged(vectors, device):
    D, Q = vectors
    dim = D.shape[1]
    limit = 1000 * dim * 4  # room for 1000 vectors
    index = TorchFlatIndex(dim, device=device, memory_limit=limit)
    index.add(D[:900])
    before = index.search(Q[:5], 10)
    with pytest.raises(MemoryError, match=r"2000 vectors of dim 384 need 3072000 bytes \(2.93 MiB\), above memory_limit 1536000 bytes"):
        index.add(D[900:2000])
    assert index.ntotal == 900 and index.device_bytes <= limit
    after = index.search(Q[:5], 10)
    assert np.array_equal(before[1], after[1]) and np.array_equal(before[0], after[0])
    index.add(D[900:1000])  # up to the limit still fits (exact growth instead of half again)
    assert index.ntotal == 1000 and index.device_bytes == limit
    with pytest.raises(MemoryError, match="memory_limit"):
        index.reserve(1001)


def test_bad_arguments(vectors):
    D, _ = vectors
    with pytest.raises(ValueError, match="device"):
        TorchFlatIndex(8, device="tpu")
    with pytest.raises(ValueError, match="doc_block"):
        TorchFlatIndex(8, doc_block=0)
    index = TorchFlatIndex(D.shape[1])
    bad = D[:3].copy()
    bad[1, 7] = np.nan
    with pytest.raises(ValueError, match="row 1"):
        index.add(bad)
    assert index.ntotal == 0
    with pytest.raises(ValueError, match="dimensions"):
        index.add(D[:3, :10])
    index.add(D[:3])
    with pytest.raises(KeyError, match="7"):
        index.reconstruct(np.array([7]))
    if not torch.cuda.is_available():
        with pytest.raises((RuntimeError, ValueError), match="CUDA is not available"):
            TorchFlatIndex(8, device="cuda")


@pytest.mark.parametrize("device", DEVICES)
def test_build_index_on_device_equals_host_encoding(scifact, device):
    """The encoder's output goes to the device index without a host copy; the stored vectors
    are those the same encoder gives through host memory."""
    encoder = densefb.Encoder.from_pretrained(packaged_minilm(), device=device)
    texts = scifact.corpus.texts()[:300]
    host = densefb.build_index(encoder, texts, show_progress=False)
    on_device = densefb.build_index(encoder, texts, device=device, chunk_size=128, batch_size=16,
                                    show_progress=False)
    assert isinstance(on_device, TorchFlatIndex) and on_device.ntotal == 300
    np.testing.assert_allclose(on_device.reconstruct(np.arange(300)), host.reconstruct(np.arange(300)),
                               atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="dimensional"):
        densefb.build_index(encoder, texts[:2], TorchFlatIndex(12, device=device), show_progress=False)


def ndcg10(ds, scores, ids):
    return densefb.evaluate(densefb.make_run(ds.queries.ids, ids, scores, ds.corpus.ids), ds.qrels,
                            ["nDCG@10"])["nDCG@10"]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("storage", ["fp16", "bf16"])
@pytest.mark.parametrize("metric", ["ip", "cosine"])
def test_half_storage_is_scalar_quantized_storage(scifact, vectors, device, storage, metric):
    """fp16 / bf16 storage holds ScalarQuantizedIndex's rounded vectors, bit for bit, and
    searches them exactly; on SciFact it stays within the stated distance of float32: every
    stored vector's cosine to the original >= 0.99999 (fp16) / 0.9999 (bf16), nDCG@10 within
    0.001."""
    D, Q = vectors
    sq = densefb.ScalarQuantizedIndex(D.shape[1], metric=metric, encoding=storage)
    sq.add(D)
    index = TorchFlatIndex(D.shape[1], metric, device=device, storage=storage)
    index.reserve(len(D))
    index.add(D)
    assert index.storage == storage
    assert index.device_bytes == len(D) * D.shape[1] * 2 + (4 * len(D) if metric == "cosine" else 0)
    stored = index.reconstruct(np.arange(len(D)))
    assert np.array_equal(stored, sq.reconstruct(np.arange(len(D))))
    s_ref, i_ref = sq.search(Q, 100)
    s_got, i_got = index.search(Q, 100)
    assert_same_ranking(i_ref, s_ref, i_got, s_got)
    cos = np.sum(stored * D, axis=1) / np.linalg.norm(stored, axis=1) / np.linalg.norm(D, axis=1)
    assert cos.min() >= (0.99999 if storage == "fp16" else 0.9999), cos.min()
    flat = densefb.FlatIndex(D.shape[1], metric)
    flat.add(D)
    want, got = ndcg10(scifact, *flat.search(Q, 10)), ndcg10(scifact, s_got[:, :10], i_got[:, :10])
    print(f"{storage} {metric}: min cosine {cos.min():.7f}, nDCG@10 {got:.4f} vs fp32 {want:.4f}")
    assert abs(got - want) <= 0.001
    with pytest.raises(ValueError, match="int8"):
        TorchFlatIndex(8, storage="int8")
