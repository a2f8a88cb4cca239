"""The committed version-1 scalar-quantized files (tests/fixtures/v1/sq_*.dfb, written once by
tests/fixtures/make_sq_fixtures.py) still load from Python with the v1_data.py contents: ids,
decoded vectors within each encoding's bound, the trained range. Read only, never rewritten."""
import pathlib
import shutil
import sys

import numpy as np
import pytest

import densefb

FIXTURES = pathlib.Path(__file__).resolve().parent.parent / "fixtures"
sys.path.insert(0, str(FIXTURES))
import make_sq_fixtures  # noqa: E402
import v1_data as data  # noqa: E402


@pytest.mark.parametrize("name,metric,encoding,rescore", make_sq_fixtures.FILES)
def test_sq_fixture_loads(tmp_path, name, metric, encoding, rescore):
    raw = (FIXTURES / "v1" / name).read_bytes()
    assert raw[:8] == b"DENSEFB\0" and raw[8:12] == b"SQFL" and int.from_bytes(raw[12:16], "little") == 1
    path = tmp_path / name
    shutil.copyfile(FIXTURES / "v1" / name, path)
    index = densefb.ScalarQuantizedIndex.load(path)
    assert (index.dim, index.ntotal, index.metric, index.encoding, index.rescore_factor) == (
        data.DIM, data.NUM_DOCS, metric, encoding, rescore)
    ids = data.flat_ids()
    np.testing.assert_array_equal(index.ids, ids)
    want = data.flat_vectors()
    got = index.reconstruct(ids)
    if encoding == "int8":
        np.testing.assert_array_equal(index.vmin, want.min(0))
        np.testing.assert_array_equal(index.vmax, want.max(0))
        assert (np.abs(got - want) <= (want.max(0) - want.min(0)) / 510 + 1e-6).all()
    else:
        np.testing.assert_array_equal(got, want)
    scores, found = index.search(data.queries(), 5)
    assert (found >= 1000).all() and np.isfinite(scores).all()
