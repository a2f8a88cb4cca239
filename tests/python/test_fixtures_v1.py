"""The committed version-1 index files (tests/fixtures/v1/, written once by
tests/fixtures/make_v1_fixtures.py) still load, with exactly the contents recomputed here from
tests/fixtures/v1_data.py: a change of an index format that can no longer read v1 files fails
here. These tests only read the fixtures; they never rewrite them."""
import collections
import math
import pathlib
import shutil
import sys

import numpy as np
import pytest

import densefb
from densefb.multivector import MultiVectorIndex

FIXTURES = pathlib.Path(__file__).resolve().parent.parent / "fixtures"
sys.path.insert(0, str(FIXTURES))
import v1_data as data  # noqa: E402

V1 = FIXTURES / "v1"


def fixture(name: str, tmp_path: pathlib.Path) -> pathlib.Path:
    """A copy of the committed file, so nothing a load might do can touch the original."""
    path = tmp_path / name
    shutil.copyfile(V1 / name, path)
    return path


def test_fixtures_are_version_1_of_their_kind():
    for name, kind in [("flat_ip.dfb", b"FLAT"), ("flat_cosine.dfb", b"FLAT"), ("hnsw_ip.dfb", b"HNSW"),
                       ("bm25.dfb", b"BM25"), ("multivector.dfb", b"MVEC")]:
        head = (V1 / name).read_bytes()[:16]
        assert head[:8] == b"DENSEFB\0", name
        assert head[8:12] == kind, name
        assert int.from_bytes(head[12:16], "little") == 1, name


def check_ranking(scores, ids, want_scores_by_id, k):
    """Each query's k results are the k best ids by the recomputed scores, best first (ids of
    equal scores may come in any order)."""
    for q, want in enumerate(want_scores_by_id):
        best = sorted(want.values(), reverse=True)[:k]
        np.testing.assert_allclose(scores[q], best, rtol=1e-6, atol=1e-6)
        for score, i in zip(scores[q], ids[q]):
            assert math.isclose(want[int(i)], score, rel_tol=1e-6, abs_tol=1e-6)
        assert len(set(ids[q].tolist())) == k


def dot_scores(queries, vectors, ids, cosine=False):
    x = vectors.astype(np.float64)
    qs = queries.astype(np.float64)
    if cosine:
        x = x / np.linalg.norm(x, axis=1, keepdims=True)
        qs = qs / np.linalg.norm(qs, axis=1, keepdims=True)
    s = qs @ x.T
    return [dict(zip(ids.tolist(), row.tolist())) for row in s]


@pytest.mark.parametrize("name,metric", [("flat_ip.dfb", "ip"), ("flat_cosine.dfb", "cosine")])
def test_flat_v1(tmp_path, name, metric):
    index = densefb.FlatIndex.load(fixture(name, tmp_path))
    vectors, ids = data.flat_vectors(), data.flat_ids()
    assert index.dim == data.DIM and len(index) == data.NUM_DOCS and index.metric == metric
    np.testing.assert_array_equal(index.ids, ids)
    np.testing.assert_array_equal(index.reconstruct(ids), vectors)  # exactly the vectors added
    k = 10
    scores, got = index.search(data.queries(), k)
    check_ranking(scores, got, dot_scores(data.queries(), vectors, ids, cosine=metric == "cosine"), k)


def test_hnsw_v1(tmp_path):
    index = densefb.HnswIndex.load(fixture("hnsw_ip.dfb", tmp_path))
    vectors, ids = data.flat_vectors(), data.flat_ids()
    assert index.dim == data.DIM and len(index) == data.NUM_DOCS and index.metric == "ip"
    assert (index.M, index.ef_construction) == (data.HNSW_M, data.HNSW_EF_CONSTRUCTION)
    np.testing.assert_array_equal(index.reconstruct(ids), vectors)  # every id, with its vector
    # a beam as deep as the collection visits the whole (connected) graph of 40 nodes: exact
    k = 10
    scores, got = index.search(data.queries(), k, ef=data.NUM_DOCS)
    check_ranking(scores, got, dot_scores(data.queries(), vectors, ids), k)


def bm25_scores(index, query, texts):
    """BM25 as densefb computes it (Lucene 8+: idf * tf / (tf + k1 (1 - b + b dl / avgdl)),
    idf = ln(1 + (N - df + 0.5) / (df + 0.5))), from the analyzer's terms of each text."""
    docs = [collections.Counter(index.analyze(t)) for t in texts]
    lengths = [sum(c.values()) for c in docs]
    n = sum(1 for dl in lengths if dl > 0)
    avgdl = sum(lengths) / n
    out = []
    for tf, dl in zip(docs, lengths):
        s = 0.0
        for term, w in index.analyze_query(query).items():
            df = sum(1 for d in docs if term in d)
            if tf[term] == 0:
                continue
            idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
            s += w * idf * tf[term] / (tf[term] + index.k1 * (1 - index.b + index.b * dl / avgdl))
        out.append(s)
    return out


def test_bm25_v1(tmp_path):
    index = densefb.Bm25Index.load(fixture("bm25.dfb", tmp_path))
    texts, names = data.bm25_texts(), data.bm25_doc_ids()
    assert index.doc_ids == names
    assert index.num_docs == data.NUM_DOCS
    assert (index.k1, index.b, index.stopwords, index.stemmer) == (pytest.approx(0.9), pytest.approx(0.4), True,
                                                                  "porter")
    for d, text in enumerate(texts):
        assert index.doc_vector(d) == dict(collections.Counter(index.analyze(text)))
        assert index.doc_length(d) == len(index.analyze(text))
    for query in data.BM25_QUERIES:
        want = bm25_scores(index, query, texts)
        got = index.score(query, range(data.NUM_DOCS))
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
        k = 5
        scores, ids = index.search([query], k)
        by_position = dict(enumerate(want))
        ranked = sorted((s for s in want if s > 0), reverse=True)[:k]
        np.testing.assert_allclose(scores[0][:len(ranked)], ranked, rtol=1e-5, atol=1e-6)
        for s, i in zip(scores[0][:len(ranked)], ids[0][:len(ranked)]):
            assert math.isclose(by_position[int(i)], s, rel_tol=1e-5, abs_tol=1e-6)


def test_multivector_v1(tmp_path):
    index = MultiVectorIndex.load(fixture("multivector.dfb", tmp_path))
    docs, token_ids = data.multivector_docs()
    assert index.dim == data.DIM and len(index) == data.NUM_DOCS
    assert index.num_tokens == sum(len(d) for d in docs)
    np.testing.assert_array_equal(index.doc_offsets, np.cumsum([0] + [len(d) for d in docs]))
    for i, (doc, tids) in enumerate(zip(docs, token_ids)):
        np.testing.assert_array_equal(index.document(i), doc)
        np.testing.assert_array_equal(index.document_token_ids(i), tids)
    # exact MaxSim of a query against every document
    query = data.queries()[:3]
    want = [float(np.sum(np.max(query.astype(np.float64) @ d.astype(np.float64).T, axis=1))) for d in docs]
    np.testing.assert_allclose(index.score(query, list(range(data.NUM_DOCS))), want, rtol=1e-6, atol=1e-6)
