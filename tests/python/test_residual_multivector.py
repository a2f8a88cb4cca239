"""Residual-compressed multi-vector storage (ColBERTv2's) against numpy references on SciFact.

Token embeddings: the first 500 SciFact documents through the packaged all-MiniLM-L6-v2 as a
plain-BERT ColBERT encoder (the cache of test_multivector.py). The references are written out
here: nearest centroids by inner product, residual buckets by searchsorted, decompression as
normalise(centroid + bucket weight), bucket cutoffs as quantiles of the residuals. ColBERT-PRF on
the compressed collection is checked against ColBERT-PRF on a float32 MultiVectorIndex that
holds the decompressed embeddings (probing every centroid, both are exact over the same vectors).
"""
import numpy as np
import pytest

import densefb
from densefb import ColbertPrf, MultiVectorIndex, ResidualMultiVectorIndex

import test_multivector

# The module fixtures of test_multivector.py (SciFact token embeddings, cached).
encoder, excluded, tokens = test_multivector.encoder, test_multivector.excluded, test_multivector.tokens
N_DOCS = 200  # of the 500 cached documents


@pytest.fixture(scope="module")
def source(tokens, excluded):
    docs, ids, _, _ = tokens
    idx = MultiVectorIndex(docs[0].shape[1])
    idx.add(docs[:N_DOCS], ids[:N_DOCS])
    idx.excluded_token_ids = excluded
    return idx


@pytest.fixture(scope="module")
def compressed(source):
    return source.compress(2, num_centroids=512)


def unpack(packed, nbits, dim):
    per_byte = 8 // nbits
    j = np.arange(dim)
    return (packed[:, j // per_byte] >> ((j % per_byte) * nbits)) & ((1 << nbits) - 1)


def test_codes_buckets_and_decompression_match_numpy(source, compressed, tokens):
    docs = tokens[0][:N_DOCS]
    x = np.concatenate(docs)
    c = compressed.centroids
    assert c.shape == (512, x.shape[1])
    np.testing.assert_allclose(np.linalg.norm(c, axis=1), 1, atol=1e-5)
    codes = compressed.codes
    scores = x @ c.T
    # Each token's code is its centroid of largest inner product (float rounding aside).
    assert np.all(scores[np.arange(len(x)), codes] >= scores.max(axis=1) - 1e-5)
    residual = x - c[codes]
    buckets = unpack(compressed.residual_codes, 2, x.shape[1])
    cut, w = compressed.bucket_cutoffs, compressed.bucket_weights
    assert np.array_equal(buckets, np.searchsorted(cut, residual, side="left"))
    ref = c[codes] + w[buckets]
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    got = np.concatenate(compressed.documents(np.arange(len(docs))))
    np.testing.assert_allclose(got, ref, atol=2e-6)
    # Cutoffs: quantiles of a held-out sample of the residuals, so each bucket holds about a
    # quarter of all residual values, and weights lie between their cutoffs.
    share = np.bincount(buckets.ravel(), minlength=4) / buckets.size
    np.testing.assert_allclose(share, 0.25, atol=0.03)
    np.testing.assert_allclose(cut, np.quantile(residual[::7], [0.25, 0.5, 0.75]), atol=2e-3)
    assert w[0] < cut[0] < w[1] < cut[1] < w[2] < cut[2] < w[3]
    # 2 bits keep the tokens close; memory is the codes, not the floats.
    assert np.mean(np.sum(got * x, axis=1)) > 0.93
    mem = compressed.memory_usage()
    assert mem["residuals"] == len(x) * x.shape[1] // 4
    assert mem["float32_matrix"] / mem["total"] > 8
    # Token statistics are the source's.
    assert np.array_equal(compressed.token_ids, source.token_ids)
    probe = np.unique(source.token_ids)[:200]
    assert np.array_equal(compressed.document_frequencies(probe), source.document_frequencies(probe))
    assert compressed.excluded_token_ids == source.excluded_token_ids


def test_maxsim_search_stays_close_to_float32(source, compressed, tokens):
    qs = tokens[2][:12]
    source.build_token_index("flat")
    _, exact = source.search(qs, k=10, token_k=256)
    _, approx = compressed.search(qs, k=10, token_k=256)
    overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(exact, approx)])
    assert overlap >= 0.8
    # Rerank is exact MaxSim over the decompressed documents.
    cands = [np.arange(0, N_DOCS, 7)]
    s, i = compressed.rerank([qs[0]], None, cands)
    for score, doc in zip(s[0], i[0]):
        d = compressed.documents([doc])[0]
        assert score == pytest.approx(float(np.max(qs[0] @ d.T, axis=1).sum()), abs=1e-4)


def test_colbert_prf_equals_float32_index_of_the_decompressed_tokens(source, tokens, encoder):
    docs, ids, qs, qtexts = tokens
    n = 60  # a small collection: probing every centroid scores every token
    small = MultiVectorIndex(docs[0].shape[1])
    small.add(docs[:n], ids[:n])
    small.excluded_token_ids = source.excluded_token_ids
    comp = small.compress(2, num_centroids=64, nprobe=64)
    plain = MultiVectorIndex(small.dim)
    plain.add(comp.documents(np.arange(n)), ids[:n])
    plain.excluded_token_ids = source.excluded_token_ids
    plain.build_token_index("flat")
    # The expansion itself: same centroids, tokens, IDFs and choices.
    _, first = plain.search(qs[:4], k=20, token_k=32)
    a, da = ColbertPrf(beta=1).expand(comp, qs[:4], first)
    b, db = ColbertPrf(beta=1).expand(plain, qs[:4], first)
    for x, y in zip(da, db):
        assert np.array_equal(x["centroid_tokens"], y["centroid_tokens"])
        assert np.array_equal(x["selected"], y["selected"])
    for (av, aw, at), (bv, bw, bt) in zip(a, b):
        np.testing.assert_allclose(av, bv, atol=1e-5)
        np.testing.assert_allclose(aw, bw, atol=1e-5)
        assert np.array_equal(at, bt)
    # Whole pipelines, as users run them.
    spec = "maxsim(k=0,token_k=32) >> colbert_prf(beta=0.5) >> rerank_maxsim"
    runs = []
    for coll in (comp, plain):
        res = densefb.Resources(multivector=coll, token_encoder=encoder)
        runs.append(densefb.Pipeline(spec).rank(res, qtexts[:4], k=20))
    (sa, ia), (sb, ib) = runs
    np.testing.assert_allclose(sa, sb, atol=1e-4)
    assert np.mean(ia == ib) > 0.95  # equal but for near-ties


def test_save_load_and_corruption(compressed, tmp_path):
    path = tmp_path / "c.mvrc"
    compressed.save(str(path))
    back = ResidualMultiVectorIndex.load(str(path))
    assert back.nbits == 2 and back.num_centroids == 512 and back.nprobe == compressed.nprobe
    for d in (0, 17, N_DOCS - 1):
        assert np.array_equal(back.document(d), compressed.document(d))
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    bad = tmp_path / "bad.mvrc"
    bad.write_bytes(bytes(raw))
    with pytest.raises((ValueError, OSError), match="bad.mvrc"):
        ResidualMultiVectorIndex.load(str(bad))


def test_bad_input(source, compressed):
    with pytest.raises(ValueError, match="nbits"):
        source.compress(3)
    with pytest.raises(ValueError, match="nprobe"):
        compressed.nprobe = 0
    with pytest.raises(ValueError, match="dimensions"):
        compressed.neighbours(np.ones((2, 7), np.float32))
    raw = MultiVectorIndex(4)
    raw.add([np.full((3, 4), 2.0, np.float32)], [np.array([1, 2, 3], np.int32)])
    with pytest.raises(ValueError, match="normalize = false"):
        raw.compress(2)
    assert raw.compress(2, normalize=False).num_centroids >= 1
