"""Dense vector PRF (the avg and rocchio feedback models) against a numpy implementation of
Pyserini's formulas (pyserini/search/faiss/_prf.py) on real SciFact all-MiniLM-L6-v2 vectors. The
models run in pipelines; a first pass given by the test and a stage that records the refined
vectors isolate the refinement."""
from __future__ import annotations

import numpy as np
import pytest

import densefb
from densefb import AveragePRF, Dense, Rescore, Resources, Rocchio, stage_defaults

TOL = 1e-5


# ---- reference implementation (numpy, float64, from Pyserini's code) -------------------------

def np_search(Q: np.ndarray, D: np.ndarray, k: int):
    """Exact top-k by inner product: (scores (n, k), ids (n, k)), ties by smaller id."""
    S = Q.astype(np.float64) @ D.astype(np.float64).T
    ids = np.argsort(-S, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(S, ids, axis=1), ids


def np_average(Q, D, first_ids, k):
    """Pyserini DenseVectorAveragePrf: mean(vstack(q, d_1..d_k))."""
    out = np.empty(Q.shape, dtype=np.float64)
    for i, q in enumerate(Q.astype(np.float64)):
        docs = D[first_ids[i][:k]].astype(np.float64)
        out[i] = np.vstack([q[None, :], docs]).mean(axis=0)
    return out


def np_rocchio(Q, D, first_ids, alpha, beta, gamma, topk, bottomk, depth):
    """Pyserini DenseVectorRocchioPrf on the first-pass list of length `depth`:
    alpha q + beta mean(list[:topk]) (- gamma mean(list[-bottomk:]) if bottomk > 0)."""
    out = np.empty(Q.shape, dtype=np.float64)
    for i, q in enumerate(Q.astype(np.float64)):
        lst = first_ids[i][:depth] if depth else first_ids[i]
        vecs = D[lst].astype(np.float64)
        new = alpha * q + beta * vecs[:topk].mean(axis=0)
        if bottomk > 0:
            new -= gamma * vecs[-bottomk:].mean(axis=0)
        out[i] = new
    return out


# ---- fixtures ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def index(scifact_flat):
    return scifact_flat


@pytest.fixture(scope="module")
def resources(scifact, index):
    return Resources(corpus=scifact.corpus, dense_index=index)


class Given(densefb.Retriever):
    """A first pass given by the test: rows of document positions, -1 = padding."""

    def __init__(self, ids):
        super().__init__()
        self.ids = np.asarray(ids, dtype=np.int64)

    def retrieve(self, queries):
        scores = -np.tile(np.arange(self.ids.shape[1], dtype=np.float32), (self.ids.shape[0], 1))
        return scores, self.ids


class Recorder(densefb.Retriever):
    """Records the query vectors it is given; retrieves nothing."""

    vectors = None

    def retrieve(self, queries):
        self.vectors = queries.vectors
        n = len(queries)
        return np.zeros((n, 0), np.float32), np.zeros((n, 0), np.int64)


def refine(stage, Q, lists, resources, scifact):
    """The query vectors `stage` makes from the first pass `lists`."""
    rec = Recorder()
    queries = list(zip(scifact.queries.ids[:len(Q)], scifact.queries.texts[:len(Q)]))
    (Given(lists) >> stage >> rec).run(resources, queries, k=0, query_vectors=Q)
    return rec.vectors


def prf_search(resources, scifact, Q, stage, k, first_k=None, rerank=False):
    """dense >> stage >> dense (Pyserini's flow) or >> rescore, as (scores, ids) arrays."""
    first = Dense(k=first_k or k)
    p = first >> stage >> (Rescore(k=first_k or k) if rerank else Dense(k=k))
    run = p.run(resources, list(zip(scifact.queries.ids, scifact.queries.texts)), k=k, query_vectors=Q)
    pos = {d: i for i, d in enumerate(scifact.corpus.ids)}
    lists = run.to_dict()
    S = np.full((len(Q), k), -np.inf, dtype=np.float32)
    I = np.full((len(Q), k), -1, dtype=np.int64)
    for i, qid in enumerate(scifact.queries.ids):
        items = sorted(((pos[d], sc) for d, sc in lists.get(qid, {}).items()), key=lambda x: (-x[1], x[0]))
        for j, (d, sc) in enumerate(items[:k]):
            I[i, j], S[i, j] = d, sc
    return S, I


@pytest.fixture(scope="module")
def first_pass(vectors):
    D, Q = vectors
    return np_search(Q, D, 1000)  # numpy's first pass, used as the common input of refine()


def assert_same_ranking(scores, ids, ref_scores, ref_ids, Q_new, D):
    """Scores equal to TOL; ids equal except where the two docs' reference scores are near-tied."""
    assert scores.shape == ref_scores.shape and ids.shape == ref_ids.shape
    assert np.max(np.abs(scores - ref_scores)) < TOL
    diff = np.argwhere(ids != ref_ids)
    for i, j in diff:
        s_got = float(Q_new[i].astype(np.float64) @ D[ids[i, j]].astype(np.float64))
        assert abs(s_got - ref_scores[i, j]) < TOL, (i, j, ids[i, j], ref_ids[i, j])
    assert len(diff) < 0.001 * ids.size, f"{len(diff)} positions differ"
    return float(np.max(np.abs(scores - ref_scores)))


# ---- refine() against numpy -------------------------------------------------------------------

@pytest.mark.parametrize("k", [1, 3, 5])
def test_average_matches_numpy(vectors, resources, scifact, first_pass, k):
    D, Q = vectors
    _, ids = first_pass
    got = refine(AveragePRF(k=k), Q, ids[:, :k], resources, scifact)
    ref = np_average(Q, D, ids, k)
    assert got.shape == Q.shape and got.dtype == np.float32
    err = np.max(np.abs(got - ref))
    print(f"\navg(k={k}) max |diff| vs numpy: {err:.2e}")
    assert err < TOL
    assert np.max(np.abs(got - Q)) > 1e-3  # feedback changed the queries
    # wider first-pass matrices give the same result (only the first k are read)
    np.testing.assert_array_equal(refine(AveragePRF(k=k), Q, ids[:, :50], resources, scifact), got)


ROCCHIO = [
    dict(alpha=0.9, beta=0.1, gamma=0.1, topk=3, bottomk=0, depth=0),   # Pyserini CLI defaults
    dict(alpha=0.4, beta=0.6, gamma=0.1, topk=5, bottomk=0, depth=0),   # "Rocchio PRF 5 A0.4 B0.6"
    dict(alpha=0.4, beta=0.6, gamma=0.6, topk=5, bottomk=5, depth=1000),  # Pyserini PR #1108
]


@pytest.mark.parametrize("params", ROCCHIO, ids=["defaults", "a0.4b0.6k5", "neg5d1000"])
def test_rocchio_matches_numpy(vectors, resources, scifact, first_pass, params):
    D, Q = vectors
    _, ids = first_pass
    model = Rocchio(**params)
    width = params["depth"] or params["topk"]
    got = refine(model, Q, ids[:, :width], resources, scifact)
    ref = np_rocchio(Q, D, ids[:, :width], **params)
    err = np.max(np.abs(got - ref))
    print(f"\n{model} max |diff| vs numpy: {err:.2e}")
    assert err < TOL
    if params["bottomk"]:
        # the negatives really are the tail of the depth-1000 list: without them q' differs
        no_neg = refine(Rocchio(**{**params, "bottomk": 0}), Q, ids[:, :width], resources, scifact)
        assert np.max(np.abs(no_neg - got)) > 1e-3


def test_rocchio_defaults_and_to_string(resources):
    # the defaults are Pyserini's CLI defaults, written once (the C++ parameter table)
    assert stage_defaults("rocchio") == dict(alpha=0.9, beta=0.1, gamma=0.1, topk=3, bottomk=0,
                                             depth=0, normalize=False)
    assert Rocchio().spec == "rocchio(alpha=0.9,beta=0.1,gamma=0.1,topk=3,bottomk=0,depth=0,normalize=false)"
    assert AveragePRF().spec == "avg(k=3,normalize=false)"
    # how deep each model reads the first pass (depth planning of dense >> model >> dense)
    assert (Dense() >> AveragePRF(k=5) >> Dense()).explain(resources).startswith("dense(k=5,")
    assert (Dense() >> Rocchio(topk=5, bottomk=5, depth=1000) >> Dense()).explain(resources).startswith(
        "dense(k=1000,")
    assert (Dense() >> Rocchio(topk=2) >> Dense()).explain(resources).startswith("dense(k=2,")
    doc = Rocchio.__doc__
    for word in ("alpha", "beta", "gamma", "topk", "bottomk", "depth", "normalize"):
        assert word in doc


def test_normalize_option(vectors, resources, scifact, first_pass):
    D, Q = vectors
    _, ids = first_pass
    got = refine(Rocchio(alpha=0.4, beta=0.6, topk=5, normalize=True), Q, ids[:, :5], resources, scifact)
    ref = np_rocchio(Q, D, ids, 0.4, 0.6, 0.1, 5, 0, 0)
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    assert np.max(np.abs(got - ref)) < TOL


def test_padding_and_short_lists(vectors, resources, scifact, first_pass):
    D, Q = vectors
    _, ids = first_pass
    q = Q[:3]
    lists = np.full((3, 6), -1, dtype=np.int64)
    lists[0, :6] = ids[0, :6]            # full
    lists[1, [0, 2]] = ids[1, :2]        # -1 inside: skipped -> list [a, b]
    # row 2: all padding -> unchanged
    got = refine(AveragePRF(k=3), q, lists, resources, scifact)
    np.testing.assert_allclose(got[0], np_average(q[:1], D, ids[:1], 3)[0], atol=TOL)
    np.testing.assert_allclose(got[1], (q[1] + D[ids[1, 0]] + D[ids[1, 1]]) / 3, atol=TOL)
    np.testing.assert_array_equal(got[2], q[2])
    got = refine(Rocchio(), q, lists, resources, scifact)
    np.testing.assert_allclose(got[1], 0.9 * q[1] + 0.1 * (D[ids[1, 0]] + D[ids[1, 1]]) / 2, atol=TOL)
    np.testing.assert_array_equal(got[2], q[2])


# ---- prf_search against numpy -----------------------------------------------------------------

def np_prf_search(Q, D, ref_new_q, k):
    return np_search(ref_new_q.astype(np.float32), D, k)


@pytest.mark.parametrize("model, depth, ref", [
    (AveragePRF(k=3), 3, lambda Q, D, ids: np_average(Q, D, ids, 3)),
    (Rocchio(alpha=0.4, beta=0.6, topk=5), 5, lambda Q, D, ids: np_rocchio(Q, D, ids, 0.4, 0.6, 0.1, 5, 0, 0)),
    (Rocchio(alpha=0.4, beta=0.6, gamma=0.6, topk=5, bottomk=5, depth=1000), 1000,
     lambda Q, D, ids: np_rocchio(Q, D, ids, 0.4, 0.6, 0.6, 5, 5, 1000)),
], ids=["avg3", "rocchio5", "rocchio-neg"])
def test_prf_search_matches_numpy(vectors, index, resources, scifact, first_pass, model, depth, ref):
    D, Q = vectors
    _, first_ids = first_pass
    # the C++ first pass equals numpy's up to near-ties; q' is then built by numpy from the
    # C++ first-pass ids (a near-tie swap across the topk / bottomk boundary changes q')
    cpp_s, cpp_first = index.search(Q, k=depth)
    assert_same_ranking(cpp_s, cpp_first, first_pass[0][:, :depth], first_ids[:, :depth], Q, D)
    new_q = ref(Q, D, cpp_first)
    ref_scores, ref_ids = np_search(new_q.astype(np.float32), D, 1000)
    scores, ids = prf_search(resources, scifact, Q, model, k=1000)
    err = assert_same_ranking(scores, ids, ref_scores, ref_ids, new_q, D)
    print(f"\nprf_search {model}: max |score diff| vs numpy {err:.2e}, "
          f"{int(np.sum(ids != ref_ids))} id positions differ (near-ties)")
    # Pyserini's flow is a fresh search: it finds documents outside the first pass
    assert not np.array_equal(ids[:, :10], first_ids[:, :10])


def test_prf_rerank_only_reorders_candidates(vectors, index, resources, scifact, first_pass):
    D, Q = vectors
    _, first_ids = first_pass
    model = AveragePRF(k=3)
    scores, ids = prf_search(resources, scifact, Q, model, first_k=100, k=100, rerank=True)
    assert ids.shape == (Q.shape[0], 100)
    new_q = np_average(Q, D, first_ids, 3)
    _, cpp_first = index.search(Q, k=100)  # equal to numpy's up to near-ties (tested above)
    for i in range(Q.shape[0]):
        assert set(ids[i]) == set(cpp_first[i])
        ref = new_q[i] @ D[ids[i]].astype(np.float64).T
        assert np.max(np.abs(scores[i] - ref)) < TOL
        assert np.all(np.diff(scores[i]) <= 0)
    assert not np.array_equal(ids, first_ids[:, :100])  # it did reorder
    # k < first_k keeps the best k of the re-scored candidates
    s10, i10 = prf_search(resources, scifact, Q, model, first_k=100, k=10, rerank=True)
    np.testing.assert_array_equal(i10, ids[:, :10])


def test_effectiveness_report(scifact, vectors, index, resources):
    """Prints nDCG@10 / R@100 of dense vs vector PRF on SciFact (no assertion on improvement)."""
    D, Q = vectors
    qids, dids = list(scifact.queries.ids), list(scifact.corpus.ids)
    measures = ["nDCG@10", "R@100"]
    rows = []
    s, i = index.search(Q, k=1000)
    rows.append(("dense (MiniLM)", densefb.evaluate(densefb.make_run(qids, i, s, dids), scifact.qrels, measures)))
    for name, model, rerank in [
        ("Average PRF 3", AveragePRF(k=3), False),
        ("Rocchio defaults (0.9/0.1/k3)", Rocchio(), False),
        ("Rocchio PRF 5 A0.4 B0.6", Rocchio(alpha=0.4, beta=0.6, topk=5), False),
        ("Rocchio A0.4 B0.6 G0.6 k5 b5 d1000", Rocchio(alpha=0.4, beta=0.6, gamma=0.6, topk=5,
                                                       bottomk=5, depth=1000), False),
        ("Average PRF 3 (rerank 1000)", AveragePRF(k=3), True),
    ]:
        s, i = prf_search(resources, scifact, Q, model, k=1000, rerank=rerank)
        rows.append((name, densefb.evaluate(densefb.make_run(qids, i, s, dids), scifact.qrels, measures)))
    print("\nSciFact test, all-MiniLM-L6-v2, FlatIndex ip:")
    for name, m in rows:
        print(f"  {name:38s} nDCG@10 {m['nDCG@10']:.4f}  R@100 {m['R@100']:.4f}")
    assert 0.5 < rows[0][1]["nDCG@10"] < 0.75  # sanity of the dense baseline (~0.645)


def test_prf_search_on_hnsw(vectors, index, scifact):
    """Any VectorIndex works; HNSW (high ef) gives nearly the flat result."""
    D, Q = vectors
    hnsw = densefb.HnswIndex(D.shape[1], metric="ip")
    hnsw.add(D)
    model = Rocchio(alpha=0.4, beta=0.6, topk=5)
    _, flat_ids = prf_search(Resources(corpus=scifact.corpus, dense_index=index), scifact, Q, model, k=10)
    p = Dense(k=10, ef_search=200) >> model >> Dense(k=10, ef_search=200)
    run = p.run(Resources(corpus=scifact.corpus, dense_index=hnsw), list(zip(scifact.queries.ids,
                scifact.queries.texts)), k=10, query_vectors=Q).to_dict()
    pos = {d: i for i, d in enumerate(scifact.corpus.ids)}
    hnsw_ids = [[pos[d] for d in run.get(q, {})] for q in scifact.queries.ids]
    overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(flat_ids, hnsw_ids)])
    assert overlap > 0.95


# ---- errors -----------------------------------------------------------------------------------

def test_errors(vectors, index, resources, scifact, first_pass):
    D, Q = vectors
    _, ids = first_pass
    with pytest.raises(ValueError, match="k = 0"):
        AveragePRF(k=0)
    with pytest.raises(ValueError, match="k = -2"):
        AveragePRF(k=-2)
    with pytest.raises(ValueError, match="topk = 0"):
        Rocchio(topk=0)
    with pytest.raises(ValueError, match="bottomk = 5 exceeds depth = 3"):
        Rocchio(topk=3, bottomk=5, depth=3)
    with pytest.raises(ValueError, match="bottomk = -1"):
        Rocchio(bottomk=-1)
    with pytest.raises(ValueError, match="alpha|nan"):
        Rocchio(alpha=float("nan"))
    with pytest.raises(ValueError, match="dimension"):
        refine(AveragePRF(), Q[:, :10], ids[:, :3], resources, scifact)
    bad = Q[:2].copy()
    bad[1, 7] = np.nan
    with pytest.raises(ValueError, match="finite|NaN|nan"):
        refine(AveragePRF(), bad, ids[:2, :3], resources, scifact)
    foreign = ids[:2, :3].copy()
    foreign[1, 1] = D.shape[0] + 12345
    with pytest.raises(KeyError, match=str(D.shape[0] + 12345)):
        refine(AveragePRF(), Q[:2], foreign, resources, scifact)
    with pytest.raises(ValueError, match="needs a ranking from an earlier stage"):
        (AveragePRF() >> Dense()).run(resources, [("q", "text")], query_vectors=Q[:1])
