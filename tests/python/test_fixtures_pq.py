"""The committed version-1 product-quantised files (tests/fixtures/v1/pq_*.dfb, written once by
tests/fixtures/make_pq_fixtures.py) still load from Python with the v1_data.py contents: ids,
codes naming the nearest centroid of each sub-vector, decoded vectors the centroids they name.
Read only, never rewritten."""
import pathlib
import shutil
import sys

import numpy as np
import pytest

import densefb

FIXTURES = pathlib.Path(__file__).resolve().parent.parent / "fixtures"
sys.path.insert(0, str(FIXTURES))
import make_pq_fixtures  # noqa: E402
import v1_data as data  # noqa: E402


@pytest.mark.parametrize("name,metric,m,rescore", make_pq_fixtures.FILES)
def test_pq_fixture_loads(tmp_path, name, metric, m, rescore):
    raw = (FIXTURES / "v1" / name).read_bytes()
    assert raw[:8] == b"DENSEFB\0" and raw[8:12] == b"PQFL" and int.from_bytes(raw[12:16], "little") == 1
    path = tmp_path / name
    shutil.copyfile(FIXTURES / "v1" / name, path)
    index = densefb.ProductQuantizedIndex.load(path)
    assert (index.dim, index.ntotal, index.metric, index.m, index.nbits, index.rescore_factor) == (
        data.DIM, data.NUM_DOCS, metric, m, 8, rescore)
    ids = data.flat_ids()
    np.testing.assert_array_equal(index.ids, ids)
    # Decoded vectors are the centroids the codes name.
    codes, books = index.codes(ids), index.centroids
    got = index.reconstruct(ids)
    np.testing.assert_array_equal(got, books[np.arange(m)[None, :], codes].reshape(len(ids), -1))
    # Each code names the nearest centroid of its sub-vector (squared L2).
    want = data.flat_vectors().reshape(len(ids), m, -1).astype(np.float64)
    dist = ((want[:, :, None, :] - books[None].astype(np.float64)) ** 2).sum(-1)  # (n, m, 256)
    chosen = np.take_along_axis(dist, codes[:, :, None].astype(np.int64), axis=2)[..., 0]
    assert (chosen <= dist.min(-1) + 1e-6).all()
    scores, found = index.search(data.queries(), 5)
    assert (found >= 1000).all() and np.isfinite(scores).all()
