"""Per-query filters on SciFact (all-MiniLM-L6-v2 vectors, BM25): flat and BM25 results equal
brute force over the allowed set, HNSW keeps recall@10 >= 0.95 at every selectivity, and
pipelines take their feedback documents from the allowed set."""
import numpy as np
import pytest

import densefb

SELECTIVITIES = [0.5, 0.1, 0.01, 0.001]


def brute_force_topk(scores: np.ndarray, allowed: np.ndarray, k: int):
    """Top-k of each row among allowed columns: score descending, ties by smaller column."""
    out = []
    for s, a in zip(scores, allowed):
        cols = np.flatnonzero(a)
        order = np.lexsort((cols, -s[cols]))[:k]
        out.append((cols[order], s[cols][order]))
    return out


def masks(n_queries: int, n_docs: int, selectivity: float, seed: int) -> np.ndarray:
    """A different random allow-mask per query, at least one allowed document each."""
    rng = np.random.default_rng(seed)
    m = rng.random((n_queries, n_docs)) < selectivity
    m[np.arange(n_queries), rng.integers(0, n_docs, n_queries)] = True
    return m


def assert_same_ranking(ids, scores, ref_ids, ref_scores, tol=1e-5):
    """Equal scores (within float rounding of a different summation order) and equal ids,
    except that documents whose reference scores tie within `tol` may swap."""
    ids = ids[ids >= 0]
    assert len(ids) == len(ref_ids)
    np.testing.assert_allclose(scores[:len(ids)], ref_scores, atol=tol)
    for j in np.flatnonzero(ids != ref_ids):
        near = np.abs(ref_scores - ref_scores[j]) <= tol
        assert ids[j] in set(ref_ids[near]), f"position {j}: {ids[j]} instead of {ref_ids[j]}"


@pytest.mark.parametrize("selectivity", SELECTIVITIES)
def test_flat_equals_brute_force_over_allowed(vectors, scifact_flat, selectivity):
    D, Q = vectors
    Q = Q[:120]
    allowed = masks(len(Q), len(D), selectivity, seed=int(selectivity * 1e4))
    k = 10
    scores, ids = scifact_flat.search(Q, k, filter=allowed)
    ref = brute_force_topk(Q @ D.T, allowed, k)
    for q, (ref_ids, ref_scores) in enumerate(ref):
        assert allowed[q][ids[q][ids[q] >= 0]].all()
        assert_same_ranking(ids[q], scores[q], ref_ids, ref_scores)
        # never a filler: the slots past the allowed documents stay empty
        assert (ids[q] >= 0).sum() == min(k, allowed[q].sum())


def test_flat_filtered_is_the_unfiltered_ranking_restricted(vectors, scifact_flat):
    """Through the scan (a large allowed set), filtered results are exactly the unfiltered
    ranking's allowed documents, bit for bit."""
    D, Q = vectors
    n = len(D)
    full_scores, full_ids = scifact_flat.search(Q[:50], n)
    allowed = masks(50, n, 0.3, seed=7)
    scores, ids = scifact_flat.search(Q[:50], 100, filter=allowed)
    for q in range(50):
        keep = allowed[q][full_ids[q]]
        np.testing.assert_array_equal(ids[q], full_ids[q][keep][:100])
        np.testing.assert_array_equal(scores[q], full_scores[q][keep][:100])


@pytest.mark.parametrize("selectivity", SELECTIVITIES)
def test_bm25_equals_brute_force_over_allowed(scifact, scifact_bm25, selectivity):
    texts = scifact.queries.texts[:150]
    n = scifact_bm25.num_docs
    full_scores, full_ids = scifact_bm25.search(texts, n)
    dense = np.zeros((len(texts), n), dtype=np.float32)
    matched = np.zeros((len(texts), n), dtype=bool)
    for q in range(len(texts)):
        hit = full_ids[q] >= 0
        dense[q, full_ids[q][hit]] = full_scores[q][hit]
        matched[q, full_ids[q][hit]] = True
    allowed = masks(len(texts), n, selectivity, seed=3 + int(selectivity * 1e4))
    for k in (10, 1000):
        scores, ids = scifact_bm25.search(texts, k, filter=allowed)
        ref = brute_force_topk(dense, allowed & matched, k)
        for q, (ref_ids, ref_scores) in enumerate(ref):
            got = ids[q] >= 0
            np.testing.assert_array_equal(ids[q][got], ref_ids)  # BM25 scores are bit-identical
            np.testing.assert_array_equal(scores[q][got], ref_scores)


def test_bm25_filter_by_id_lists_shared_and_weighted(scifact, scifact_bm25):
    texts = scifact.queries.texts[:20]
    rng = np.random.default_rng(11)
    shared = rng.choice(scifact_bm25.num_docs, 300, replace=False)
    s1, i1 = scifact_bm25.search(texts, 50, filter=shared)
    s2, i2 = scifact_bm25.search(texts, 50, filter=densefb.Filter.from_ids(shared))
    np.testing.assert_array_equal(i1, i2)
    assert np.isin(i1[i1 >= 0], shared).all()
    weighted = [scifact_bm25.analyze_query(t) for t in texts]
    s3, i3 = scifact_bm25.search_weighted(weighted, 50, filter=[shared] * len(texts))
    np.testing.assert_array_equal(i1, i3)
    np.testing.assert_array_equal(s1, s3)


@pytest.mark.parametrize("selectivity", SELECTIVITIES)
def test_hnsw_recall_under_filters(vectors, selectivity):
    D, Q = vectors
    Q = Q[:200]
    index = densefb.HnswIndex(D.shape[1], metric="ip", M=16, ef_construction=200, num_threads=2)
    index.add(D)
    allowed = masks(len(Q), len(D), selectivity, seed=20 + int(selectivity * 1e4))
    k = 10
    _, ids = index.search(Q, k, ef=64, filter=allowed)
    ref = brute_force_topk(Q @ D.T, allowed, k)
    recall = []
    for q, (ref_ids, _) in enumerate(ref):
        got = ids[q][ids[q] >= 0]
        assert allowed[q][got].all()
        recall.append(len(set(got) & set(ref_ids)) / len(ref_ids))
    assert np.mean(recall) >= 0.95, (selectivity, np.mean(recall))


def test_pipeline_prf_reads_only_allowed_documents(vectors, scifact, scifact_flat):
    """dense >> rocchio >> dense with a shared filter equals the same pipeline over an index of
    the allowed documents alone: feedback documents come from the allowed set."""
    D, Q = vectors
    rng = np.random.default_rng(5)
    for fraction in (0.5, 0.01):  # the scan and the few-allowed paths
        allowed_ids = np.sort(rng.choice(len(D), int(len(D) * fraction), replace=False))
        sub = densefb.FlatIndex(D.shape[1], metric="ip")
        sub.add(D[allowed_ids], ids=allowed_ids)
        p = densefb.Pipeline("dense(k=100) >> rocchio(topk=5) >> dense(k=100)")
        queries = list(zip(scifact.queries.ids[:100], scifact.queries.texts[:100]))
        filtered = p.rank(densefb.Resources(corpus=scifact.corpus, dense_index=scifact_flat), queries,
                          k=100, query_vectors=Q[:100], filter=allowed_ids)
        alone = p.rank(densefb.Resources(corpus=scifact.corpus, dense_index=sub), queries,
                       k=100, query_vectors=Q[:100])
        for q in range(100):
            got = filtered[1][q][filtered[1][q] >= 0]
            assert np.isin(got, allowed_ids).all()
            assert_same_ranking(filtered[1][q], filtered[0][q], alone[1][q][alone[1][q] >= 0],
                                alone[0][q][alone[1][q] >= 0])


def test_pipeline_filter_by_document_names_per_query(scifact, scifact_resources, vectors):
    _, Q = vectors
    ids, texts = scifact.queries.ids[:30], scifact.queries.texts[:30]
    names = scifact.corpus.ids
    rng = np.random.default_rng(9)
    allow = {qid: [names[i] for i in rng.choice(len(names), 40, replace=False)] for qid in ids[:-1]}
    p = densefb.Pipeline("fuse(rrf, dense >> avg(k=3) >> dense, bm25 >> rm3 >> bm25)")
    run = p.run(scifact_resources, list(zip(ids, texts)), k=100, query_vectors=Q[:30], filter=allow)
    got = run.to_dict()
    for qid in ids[:-1]:
        assert set(got.get(qid, {})) <= set(allow[qid])
        assert len(got.get(qid, {})) > 0
    assert not got.get(ids[-1])  # a query left out of the mapping allows nothing
    with pytest.raises(KeyError, match="not-a-doc"):
        p.run(scifact_resources, list(zip(ids, texts)), query_vectors=Q[:30], filter={ids[0]: ["not-a-doc"]})


def test_filter_errors(vectors, scifact_flat):
    D, Q = vectors
    with pytest.raises(ValueError, match="2 rows for 3 queries"):
        scifact_flat.search(Q[:3], 5, filter=np.ones((2, len(D)), dtype=bool))
    with pytest.raises(ValueError, match="id -4 at position 1 is negative"):
        densefb.Filter.from_ids([3, -4])
    with pytest.raises(TypeError, match="filter must be"):
        scifact_flat.search(Q[:3], 5, filter="all")
    with pytest.raises(ValueError, match="bool mask must be 1-D"):
        scifact_flat.search(Q[:3], 5, filter=np.ones((1, 1, 3), dtype=bool))
    f = densefb.Filter.from_id_lists([[5, 2, 2], [], [7]])
    assert f.rows == 3 and f.count(0) == 2 and f.count(1) == 0
    np.testing.assert_array_equal(f.ids(0), [2, 5])
    s, i = scifact_flat.search(Q[:3], 5, filter=f)
    assert set(i[0][i[0] >= 0]) == {2, 5} and (i[1] == -1).all() and list(i[2][:1]) == [7]
    assert np.isneginf(s[1]).all()
