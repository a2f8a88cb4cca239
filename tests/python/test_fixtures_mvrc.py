"""The committed version-1 residual-compressed multi-vector files (tests/fixtures/v1/mvrc_*.dfb,
written once by tests/fixtures/make_mvrc_fixtures.py) still load from Python with the contents
of the v1_data.py documents they were compressed from: token ids, deleted documents, excluded
ids, each token's code its nearest centroid, residual buckets the stored
cutoffs' bucketing of x - centroid, decompressed tokens centroid + bucket weight (normalised for
the unit-length file), MaxSim search exact over them. Read only, never rewritten."""
import pathlib
import shutil
import sys

import numpy as np
import pytest

import densefb

FIXTURES = pathlib.Path(__file__).resolve().parent.parent / "fixtures"
sys.path.insert(0, str(FIXTURES))
import make_mvrc_fixtures  # noqa: E402
import v1_data as data  # noqa: E402


def unpack(packed: np.ndarray, nbits: int, dim: int) -> np.ndarray:
    per_byte = 8 // nbits
    j = np.arange(dim)
    return (packed[:, j // per_byte] >> ((j % per_byte) * nbits)) & ((1 << nbits) - 1)


@pytest.mark.parametrize("name,unit,nbits,centroids,deleted,excluded", make_mvrc_fixtures.FILES)
def test_mvrc_fixture_loads(tmp_path, name, unit, nbits, centroids, deleted, excluded):
    raw = (FIXTURES / "v1" / name).read_bytes()
    assert raw[:8] == b"DENSEFB\0" and raw[8:12] == b"MVRC" and int.from_bytes(raw[12:16], "little") == 1
    path = tmp_path / name
    shutil.copyfile(FIXTURES / "v1" / name, path)
    index = densefb.ResidualMultiVectorIndex.load(str(path))
    assert (index.dim, len(index), index.num_deleted, index.num_documents) == (
        data.DIM, data.NUM_DOCS, len(deleted), data.NUM_DOCS - len(deleted))
    assert (index.nbits, index.normalize, index.num_centroids, index.nprobe) == (nbits, unit, centroids, 2)
    assert index.excluded_token_ids == excluded

    source, token_ids = data.multivector_docs()
    if unit:
        source = make_mvrc_fixtures.unit_docs()
    live = [i for i in range(data.NUM_DOCS) if i not in deleted]
    x = np.concatenate([source[i] for i in live])
    assert index.num_tokens == len(x)
    np.testing.assert_array_equal(index.token_ids, np.concatenate([token_ids[i] for i in live]))
    probe = np.arange(95, 155, dtype=np.int32)
    df = [sum(int(t in token_ids[i]) for i in live) for t in probe]
    np.testing.assert_array_equal(index.document_frequencies(probe), df)

    # Codes: the nearest centroid (squared L2; unit-length centroids when normalising);
    # buckets: the cutoffs strictly below x - c.
    c, codes = index.centroids, index.codes
    assert c.shape == (centroids, data.DIM)
    if unit:
        np.testing.assert_allclose(np.linalg.norm(c, axis=1), 1, atol=1e-6)
    dist = ((x[:, None, :].astype(np.float64) - c[None].astype(np.float64)) ** 2).sum(-1)
    assert np.all(dist[np.arange(len(x)), codes] <= dist.min(axis=1) + 1e-6)
    cut, w = index.bucket_cutoffs, index.bucket_weights
    assert len(cut) == 2**nbits - 1 and len(w) == 2**nbits and np.all(np.diff(cut) > 0)
    buckets = unpack(index.residual_codes, nbits, data.DIM)
    np.testing.assert_array_equal(buckets, np.searchsorted(cut, x - c[codes], side="left"))

    # Decompressed documents; deleted ones are refused by id.
    decoded = (c[codes] + w[buckets]).astype(np.float64)
    if unit:
        decoded /= np.linalg.norm(decoded, axis=1, keepdims=True)
    got = index.documents(np.array(live, dtype=np.int64))
    np.testing.assert_allclose(np.concatenate(got), decoded, atol=1e-6)
    for d in deleted:
        with pytest.raises(Exception, match=f"document {d} was deleted"):
            index.document(d)

    # Probing every centroid, MaxSim search is exact over the decompressed documents.
    index.nprobe = centroids
    offsets = np.cumsum([0] + [len(source[i]) for i in live])
    docs = [decoded[offsets[j]:offsets[j + 1]] for j in range(len(live))]
    queries = [data.queries()[:3], data.queries()[1:]]
    scores, found = index.search(queries, k=10, token_k=1000)
    for q, query in enumerate(queries):
        maxsim = np.array([(query.astype(np.float64) @ d.T).max(axis=1).sum() for d in docs])
        order = np.argsort(-maxsim, kind="stable")[:10]
        np.testing.assert_allclose(scores[q], maxsim[order], atol=1e-5)
        assert not set(found[q].tolist()) & set(deleted)
        np.testing.assert_allclose(maxsim[[live.index(i) for i in found[q]]], scores[q], atol=1e-5)
