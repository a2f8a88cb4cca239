"""densefb.fusion against a numpy implementation of the formulas and against ranx, on two
partially overlapping dense runs of SciFact, plus hand-computed cases and error paths."""
from __future__ import annotations

import numpy as np
import pytest

import densefb
from densefb.fusion import fuse, normalize

# ranx's numba kernels warn about an int cast inside ranx itself
pytestmark = pytest.mark.filterwarnings("ignore:unsafe cast:Warning")

NORMS = ["none", "minmax", "zscore", "sum", "centered-minmax"]


# ---- reference implementation (numpy, from the formulas in docs/fusion.md) ----------------

def ref_normalize(s: np.ndarray, how: str) -> np.ndarray:
    s = np.asarray(s, dtype=np.float64)
    if how == "none" or len(s) == 0:
        return s.copy()
    lo, hi = s.min(), s.max()
    if how == "minmax":
        return np.ones_like(s) if hi == lo else (s - lo) / (hi - lo)
    if how == "zscore":
        return np.zeros_like(s) if hi == lo else (s - s.mean()) / s.std()
    if how == "sum":  # ranx's sum_norm: shifted by the min, denominator floored at 1e-9
        return (s - lo) / max((s - lo).sum(), 1e-9)
    if how == "centered-minmax":
        return np.zeros_like(s) if hi == lo else (s - (lo + hi) / 2) / (hi - lo)
    raise ValueError(how)


def ref_rank(docs: dict, depth: int = 0):
    """(doc ids, scores) best first, ties by doc id descending (trec_eval), cut to depth."""
    items = sorted(docs.items(), key=lambda x: x[0], reverse=True)
    items.sort(key=lambda x: -x[1])  # stable: keeps doc id descending inside ties
    if depth:
        items = items[:depth]
    return [d for d, _ in items], np.array([s for _, s in items], dtype=np.float64)


def ref_fuse(runs, method, k=60.0, weights=None, normalization="minmax", missing="zero", depth=0):
    """{qid: {doc: score}} of the union of the docs, by the formulas, with numpy."""
    n = len(runs)
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    qids = list(dict.fromkeys(q for r in runs for q in r))
    out = {}
    for q in qids:
        # score methods: normalised over the whole list, then cut to depth (Pyserini's order)
        ranked = []
        for r in runs:
            ids, scores = ref_rank(r.get(q, {}))
            if method in ("rrf", "borda"):
                values = np.arange(1, len(ids) + 1, dtype=np.float64)
            else:
                values = ref_normalize(scores, normalization)
            if depth:
                ids, values = ids[:depth], values[:depth]
            ranked.append((ids, values))
        cands = sorted({d for ids, _ in ranked for d in ids})
        col = {d: j for j, d in enumerate(cands)}
        m = np.full((n, len(cands)), np.nan)
        for i, (ids, values) in enumerate(ranked):
            m[i, [col[d] for d in ids]] = values
        present = ~np.isnan(m)
        if method == "rrf":
            fused = np.where(present, w[:, None] / (k + m), 0.0).sum(0)
        elif method == "interpolation":
            if missing == "min":
                fill = np.array([np.nanmin(row) if p.any() else 0.0 for row, p in zip(m, present)])
            else:
                fill = np.zeros(n)
            fused = (w[:, None] * np.where(present, m, fill[:, None])).sum(0)
        elif method in ("combsum", "combmnz"):
            fused = np.where(present, w[:, None] * m, 0.0).sum(0)
            if method == "combmnz":
                fused = fused * present.sum(0)
        elif method == "combmax":
            fused = np.where(present, w[:, None] * m, -np.inf).max(0)
        elif method == "borda":
            c = len(cands)
            absent_points = (c - present.sum(1) + 1) / 2
            fused = (w[:, None] * np.where(present, c - m + 1, absent_points[:, None])).sum(0)
        else:
            raise ValueError(method)
        out[q] = dict(zip(cands, fused.tolist()))
    return out


def compare(got: densefb.Run, want: dict, tol=1e-9):
    """Same queries and documents, max |score diff| (returned), same ranking up to ties."""
    got_d = got.to_dict()
    assert list(got_d) == list(want)
    worst = 0.0
    for q, ref in want.items():
        pairs = got.get(q)
        assert {d for d, _ in pairs} == set(ref), q
        worst = max(worst, max((abs(s - ref[d]) for d, s in pairs), default=0.0))
        ref_order, _ = ref_rank(ref)
        for (d, _), d_ref in zip(pairs, ref_order):
            if d != d_ref:  # only where the reference scores tie
                assert abs(ref[d] - ref[d_ref]) < tol, (q, d, d_ref)
    return worst


# ---- data: two dense runs of SciFact that overlap partially -------------------------------

@pytest.fixture(scope="module")
def runs(scifact, scifact_vectors):
    docs, queries = scifact_vectors
    exact = densefb.FlatIndex(docs.shape[1], metric="ip")
    exact.add(docs)
    s_a, i_a = exact.search(queries, 100)
    cosine = densefb.FlatIndex(docs.shape[1], metric="cosine")
    cosine.add(docs)
    noisy = queries + np.random.default_rng(7).normal(size=queries.shape).astype(np.float32) * 0.08
    s_b, i_b = cosine.search(noisy, 60)
    qids, dids = scifact.queries.ids, scifact.corpus.ids
    a = densefb.make_run(qids, i_a, s_a, dids, name="ip100")
    b = densefb.make_run(qids, i_b, s_b, dids, name="noisy-cos60")
    overlap = np.mean([len(set(x) & set(y)) / len(y) for x, y in zip(i_a, i_b)])
    assert 0.3 < overlap < 0.9  # the lists overlap, but only partially
    return a, b


@pytest.fixture(scope="module")
def dicts(runs):
    return [r.to_dict() for r in runs]


MAX_DIFF = {}  # method/parameters -> max |diff| seen (printed by test_zz_report)


def check(label, got, want):
    worst = compare(got, want)
    MAX_DIFF[label] = max(worst, MAX_DIFF.get(label, 0.0))
    assert worst < 1e-5, label
    return worst


# ---- against numpy ------------------------------------------------------------------------

@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("missing", ["zero", "min"])
def test_interpolation_matches_numpy(runs, dicts, norm, missing):
    got = fuse(runs, "interpolation", weights=[0.3, 0.7], normalization=norm, missing=missing, top=0)
    check(f"interpolation/{norm}/{missing}", got,
          ref_fuse(dicts, "interpolation", weights=[0.3, 0.7], normalization=norm, missing=missing))


@pytest.mark.parametrize("method", ["combsum", "combmnz", "combmax"])
@pytest.mark.parametrize("norm", NORMS)
def test_comb_methods_match_numpy(runs, dicts, method, norm):
    got = fuse(runs, method, normalization=norm, top=0)
    check(f"{method}/{norm}", got, ref_fuse(dicts, method, normalization=norm))
    weighted = fuse(runs, method, weights=[2.0, 0.5], normalization=norm, top=0)
    check(f"{method}/{norm}/weighted", weighted,
          ref_fuse(dicts, method, weights=[2.0, 0.5], normalization=norm))


@pytest.mark.parametrize("k,weights", [(60, None), (1.5, None), (60, [1.0, 3.0])])
def test_rrf_matches_numpy(runs, dicts, k, weights):
    got = fuse(runs, "rrf", k=k, weights=weights, top=0)
    check(f"rrf/k={k}/w={weights}", got, ref_fuse(dicts, "rrf", k=k, weights=weights))


@pytest.mark.parametrize("weights", [None, [0.7, 0.3]])
def test_borda_matches_numpy(runs, dicts, weights):
    got = fuse(runs, "borda", weights=weights, top=0)
    check(f"borda/w={weights}", got, ref_fuse(dicts, "borda", weights=weights))


@pytest.mark.parametrize("method", ["rrf", "interpolation", "combmnz", "borda"])
def test_depth_and_top(runs, dicts, method):
    extra = {"missing": "min"} if method == "interpolation" else {}  # the others have no such rule
    got = fuse(runs, method, depth=30, top=0, **extra)
    check(f"{method}/depth=30", got, ref_fuse(dicts, method, depth=30, missing="min"))
    for q in list(dicts[0])[:20]:
        assert len(got.get(q)) <= 60
    cut = fuse(runs, method, depth=30, top=20, **extra)
    for q in dicts[0]:
        assert cut.get(q) == got.get(q)[:20]


@pytest.mark.parametrize("norm", NORMS)
def test_normalize_matches_numpy(runs, norm):
    run = runs[1]
    got = normalize(run, norm)
    assert got.query_ids == run.query_ids and got.name == run.name
    worst = 0.0
    for q in run.query_ids:
        before, after = run.get(q), got.get(q)
        assert [d for d, _ in after] == [d for d, _ in before]  # stored order kept
        ref = ref_normalize([s for _, s in before], norm)
        worst = max(worst, float(np.max(np.abs(np.array([s for _, s in after]) - ref))))
    MAX_DIFF[f"normalize/{norm}"] = worst
    assert worst < 1e-12


# ---- properties ----------------------------------------------------------------------------

def test_rrf_of_a_run_with_itself_keeps_its_order(runs, dicts):
    a = runs[0]
    fused = fuse([a, a], "rrf", top=0)
    for q, docs in dicts[0].items():
        order, _ = ref_rank(docs)
        pairs = fused.get(q)
        assert [d for d, _ in pairs] == order
        np.testing.assert_allclose([s for _, s in pairs], 2 / (60 + np.arange(1, len(order) + 1)), rtol=1e-15)


def test_interpolation_weights_one_zero_reproduce_the_first_run(runs, dicts):
    raw = fuse(runs, "interpolation", weights=[1.0, 0.0], normalization="none", top=100)
    for q, docs in dicts[0].items():
        order, scores = ref_rank(docs)
        pairs = raw.get(q)
        assert [d for d, _ in pairs] == order
        np.testing.assert_array_equal([s for _, s in pairs], scores)
    # min-max maps the first run's last document to 0, where the second run's own documents
    # are too: everything above it is the first run's ranking
    mm = fuse(runs, "interpolation", weights=[1.0, 0.0], top=0)
    for q, docs in dicts[0].items():
        order, _ = ref_rank(docs)
        assert [d for d, _ in mm.get(q)][:len(order) - 1] == order[:-1]


def test_fused_effectiveness_lies_between_the_inputs(scifact, runs):
    """Sanity on real judgments: fusing the exact run with a noisier one keeps nDCG@10 in the
    range of the two inputs (fusion is not scrambling ids)."""
    import pytrec_eval

    ev = pytrec_eval.RelevanceEvaluator(scifact.qrels.to_dict(), {"ndcg_cut_10"})

    def ndcg(run):
        return np.mean([v["ndcg_cut_10"] for v in ev.evaluate(run.to_dict()).values()])

    a, b = (ndcg(r) for r in runs)
    fused = ndcg(fuse(runs, "rrf"))
    assert b < a
    assert min(a, b) - 0.01 < fused < max(a, b) + 0.02


# ---- against ranx --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ranx_inputs(dicts):
    """The queries whose input lists have no tied scores (ranx orders ties arbitrarily)."""
    ranx = pytest.importorskip("ranx")

    def tie_free(q):
        return all(len(set(d.get(q, {}).values())) == len(d.get(q, {})) for d in dicts)

    keep = [q for q in dicts[0] if tie_free(q)]
    assert len(keep) >= 0.9 * len(dicts[0])
    sub = [{q: d[q] for q in keep} for d in dicts]
    return ranx, sub


def ranx_compare(label, got, ranx_run):
    want = ranx_run.to_dict()
    got_d = got.to_dict()
    assert set(got_d) == set(want)
    worst = 0.0
    for q, ref in want.items():
        assert set(got_d[q]) == set(ref), q
        worst = max(worst, max(abs(got_d[q][d] - s) for d, s in ref.items()))
        # same ranking up to ties of ranx's scores
        pairs = got.get(q)
        order, _ = ref_rank(ref)
        for (d, _), d_ref in zip(pairs, order):
            if d != d_ref:
                assert abs(ref[d] - ref[d_ref]) < 1e-9, (q, d, d_ref)
    MAX_DIFF[f"ranx/{label}"] = worst
    assert worst < 1e-9, label


@pytest.mark.parametrize("ours,theirs,norm,ranx_norm", [
    ("combsum", "sum", "minmax", "min-max"),
    ("combmnz", "mnz", "minmax", "min-max"),
    ("combmax", "max", "minmax", "min-max"),
    ("combsum", "sum", "zscore", "zmuv"),
    ("combmnz", "mnz", "zscore", "zmuv"),
    ("combmax", "max", "none", None),
])
def test_comb_methods_match_ranx(ranx_inputs, ours, theirs, norm, ranx_norm):
    ranx, sub = ranx_inputs
    got = fuse(sub, ours, normalization=norm, top=0)
    want = ranx.fuse([ranx.Run(d) for d in sub], norm=ranx_norm, method=theirs)
    ranx_compare(f"{ours}/{norm}", got, want)


def test_interpolation_matches_ranx_wsum(ranx_inputs):
    ranx, sub = ranx_inputs
    got = fuse(sub, "interpolation", weights=[0.3, 0.7], normalization="minmax", missing="zero", top=0)
    want = ranx.fuse([ranx.Run(d) for d in sub], norm="min-max", method="wsum",
                     params={"weights": [0.3, 0.7]})
    ranx_compare("interpolation=wsum", got, want)


@pytest.mark.parametrize("k", [60, 10])
def test_rrf_matches_ranx(ranx_inputs, k):
    ranx, sub = ranx_inputs
    got = fuse(sub, "rrf", k=k, top=0)
    want = ranx.fuse([ranx.Run(d) for d in sub], norm=None, method="rrf", params={"k": k})
    ranx_compare(f"rrf/k={k}", got, want)


def test_borda_matches_ranx(ranx_inputs):
    ranx, sub = ranx_inputs
    got = fuse(sub, "borda", top=0)
    want = ranx.fuse([ranx.Run(d) for d in sub], norm=None, method="bordafuse")
    ranx_compare("borda", got, want)
    got = fuse(sub, "borda", weights=[0.7, 0.3], top=0)
    want = ranx.fuse([ranx.Run(d) for d in sub], norm=None, method="w_bordafuse",
                     params={"weights": [0.7, 0.3]})
    ranx_compare("borda/weighted", got, want)


def test_ranx_run_is_accepted_and_differences_are_as_documented(ranx_inputs):
    ranx, sub = ranx_inputs
    rr = ranx.Run(sub[0])
    assert fuse([rr, sub[1]], "rrf").to_dict() == fuse(sub, "rrf").to_dict()
    # deliberate difference: an all-equal list is 1.0 under our min-max, 0 under ranx's
    flat = {"q": {"a": 0.5, "b": 0.5}}
    assert normalize(flat, "minmax").to_dict() == {"q": {"a": 1.0, "b": 1.0}}
    assert ranx.fuse([ranx.Run(flat), ranx.Run(flat)], norm="min-max", method="sum").to_dict() == \
        {"q": {"a": 0.0, "b": 0.0}}
    # "sum" is ranx's (s - min) / sum(s - min); an all-equal list is 0 in both
    three = {"q": {"a": 1.0, "b": 2.0, "c": 3.0}}
    assert normalize(three, "sum").to_dict()["q"] == pytest.approx({"a": 0.0, "b": 1 / 3, "c": 2 / 3})
    assert normalize(flat, "sum").to_dict() == {"q": {"a": 0.0, "b": 0.0}}
    assert ranx.fuse([ranx.Run(flat), ranx.Run(flat)], norm="sum", method="sum").to_dict() == \
        {"q": {"a": 0.0, "b": 0.0}}


@pytest.fixture(scope="module")
def bm25_and_dense(scifact, runs):
    """A real run pair: SciFact BM25 (100 deep) and exact dense retrieval (100 deep), restricted
    to the queries where neither list has tied scores (ranx orders ties arbitrarily)."""
    from densefb.sparse import Bm25Index
    bm25 = Bm25Index.build(scifact.corpus).search_run(scifact.queries.texts, scifact.queries.ids, k=100)
    dicts = [bm25.to_dict(), runs[0].to_dict()]
    keep = [q for q in dicts[1]
            if all(q in d and len(set(d[q].values())) == len(d[q]) for d in dicts)]
    assert len(keep) >= 100  # BM25 ties (same tf and length) rule out about half
    return [{q: d[q] for q in keep} for d in dicts]


@pytest.mark.parametrize("ours,theirs,params", [
    ("combsum", "sum", None), ("combmnz", "mnz", None), ("combmax", "max", None),
    ("interpolation", "wsum", {"weights": [0.3, 0.7]}),
])
def test_sum_normalisation_matches_ranx_on_bm25_and_dense(bm25_and_dense, ours, theirs, params):
    ranx = pytest.importorskip("ranx")
    sub = bm25_and_dense
    extra = {"weights": params["weights"], "missing": "zero"} if params else {}
    got = fuse(sub, ours, normalization="sum", top=0, **extra)
    want = ranx.fuse([ranx.Run(d) for d in sub], norm="sum", method=theirs, params=params or {})
    ranx_compare(f"{ours}/sum/bm25+dense", got, want)
    # and the normalisation alone, per query
    for d in sub:
        ours_n = normalize(d, "sum").to_dict()
        theirs_n = ranx.normalize(ranx.Run(d), "sum").to_dict()
        for q in d:
            assert max(abs(ours_n[q][doc] - s) for doc, s in theirs_n[q].items()) < 1e-12


def test_normalisation_comes_before_the_depth_cut():
    """Score methods normalise the whole list, then cut it to depth (as Pyserini); rank
    methods are the same either way."""
    a = {"q": {"d1": 10.0, "d2": 6.0, "d3": 5.0, "d4": 0.0}}
    b = {"q": {"d2": 1.0, "d5": 0.5, "d6": 0.0}}
    got = dict(scores(fuse([a, b], "combsum", normalization="minmax", depth=2, top=0)))
    # a -> min-max over all four {d1: 1, d2: .6, d3: .5, d4: 0}, cut {d1: 1, d2: .6};
    # b -> {d2: 1, d5: .5, d6: 0}, cut {d2: 1, d5: .5}. (Cut first, d2 would get 0 + 1.)
    assert got == pytest.approx({"d2": 1.6, "d1": 1.0, "d5": 0.5})
    assert dict(scores(fuse([a, b], "combsum", normalization="sum", depth=2, top=0))) == pytest.approx(
        {"d1": 10 / 21 + 0.0, "d2": 6 / 21 + 1 / 1.5, "d5": 0.5 / 1.5})
    # the same as normalising first by hand and fusing without a depth
    pre = [normalize(a, "minmax").to_dict(), normalize(b, "minmax").to_dict()]
    cut = [{"q": dict(sorted(r["q"].items(), key=lambda x: -x[1])[:2])} for r in pre]
    assert got == pytest.approx(dict(scores(fuse(cut, "combsum", normalization="none", top=0))))
    # rank methods: ranks in the cut list are the ranks in the whole list
    rrf = dict(scores(fuse([a, b], "rrf", k=1, depth=2, top=0)))
    assert rrf == pytest.approx({"d1": 1 / 2, "d2": 1 / 3 + 1 / 2, "d5": 1 / 3})


# ---- hand-computed cases -------------------------------------------------------------------

A = {"q": {"d1": 3.0, "d2": 2.0, "d3": 1.0}}
B = {"q": {"d2": 10.0, "d4": 6.0, "d1": 2.0}}


def scores(run):
    return run.get("q")


def test_missing_rules_by_hand():
    # raw scores, zero: d1 3+2, d2 2+10, d3 1+0, d4 0+6
    assert scores(fuse([A, B], "interpolation", normalization="none")) == \
        [("d2", 12.0), ("d4", 6.0), ("d1", 5.0), ("d3", 1.0)]
    # min: a list's minimum fills its gaps: d3 1 + 2, d4 1 + 6
    assert scores(fuse([A, B], "interpolation", normalization="none", missing="min")) == \
        [("d2", 12.0), ("d4", 7.0), ("d1", 5.0), ("d3", 3.0)]
    # normalise first, then fill: min-max minimum is 0, so "min" == "zero" here
    assert scores(fuse([A, B], "interpolation", missing="min")) == \
        scores(fuse([A, B], "interpolation", missing="zero")) == \
        [("d2", 1.5), ("d1", 1.0), ("d4", 0.5), ("d3", 0.0)]
    # Pyserini's hybrid, alpha = 0.1 on A: centred min-max both {.5, 0, -.5}, missing -> -.5
    hybrid = scores(fuse([A, B], "interpolation", weights=[0.1, 1.0],
                         normalization="centered-minmax", missing="min"))
    assert [d for d, _ in hybrid] == ["d2", "d4", "d1", "d3"]
    assert [s for _, s in hybrid] == pytest.approx([0.5, -0.05, -0.45, -0.55])
    # RRF and CombMNZ ignore `missing`; absent adds nothing
    assert scores(fuse([A, B], "rrf", k=1)) == pytest.approx(
        [("d2", 1 / 3 + 1 / 2), ("d1", 1 / 2 + 1 / 4), ("d4", 1 / 3), ("d3", 1 / 4)])
    assert scores(fuse([A, B], "combmnz")) == [("d2", 3.0), ("d1", 2.0), ("d4", 0.5), ("d3", 0.0)]
    # Borda, C = 4: absent documents get (4 - 3 + 1) / 2 = 1 from that list
    assert scores(fuse([A, B], "borda")) == [("d2", 7.0), ("d1", 6.0), ("d4", 4.0), ("d3", 3.0)]


def test_ties_by_hand():
    # CombMAX: d1 max(1, 0) and d2 max(.5, 1) tie at 1 -> doc id descending (trec_eval)
    assert scores(fuse([A, B], "combmax")) == [("d2", 1.0), ("d1", 1.0), ("d4", 0.5), ("d3", 0.0)]
    # tied input scores are ranked by doc id descending before RRF ranks them
    tied = {"q": {"a": 1.0, "c": 1.0, "b": 1.0}}
    assert scores(fuse([tied], "rrf", k=1)) == [("c", 0.5), ("b", 1 / 3), ("a", 0.25)]
    # a query missing from one run is an empty list there; queries are the union
    other = {"q2": {"x": 1.0}}
    fused = fuse([A, other], "rrf", k=1)
    assert fused.query_ids == ["q", "q2"]
    assert fused.get("q2") == [("x", 0.5)]


def test_name_and_top_default():
    """The run's name is the method's canonical spec; the defaults are the method's table's
    (the same as a pipeline's fuse(...)): top 0 keeps every fused document, as ranx."""
    fused = fuse([A, B])
    assert fused.name == "rrf(k=60,weights=[1,1],depth=0,top=0)"
    assert densefb.stage_defaults("rrf") == {"k": 60, "weights": "ones", "depth": 0, "top": 0}
    assert len(scores(fused)) == 4
    assert fuse([A, B], "combsum", name="hybrid").name == "hybrid"
    assert len(scores(fuse([A, B], top=2))) == 2


class MaxOfMinMax(densefb.Fusion):
    """A user-defined fusion: per query, the max over the lists of min-max normalised scores."""

    def fuse(self, runs):
        n = runs[0][0].shape[0]
        rows = []
        for q in range(n):
            best = {}
            for s, ids in runs:
                keep = ids[q] >= 0
                v, d = s[q][keep].astype(np.float64), ids[q][keep]
                if len(v):
                    lo, hi = v.min(), v.max()
                    for doc, x in zip(d, (v - lo) / (hi - lo) if hi > lo else np.ones_like(v)):
                        best[int(doc)] = max(best.get(int(doc), -np.inf), x)
            rows.append(sorted(best.items(), key=lambda t: (-t[1], t[0])))
        width = max(1, max(len(r) for r in rows))
        S = np.full((n, width), -np.inf, dtype=np.float32)
        I = np.full((n, width), -1, dtype=np.int64)
        for q, r in enumerate(rows):
            I[q, :len(r)] = [d for d, _ in r]
            S[q, :len(r)] = [x for _, x in r]
        return S, I


def test_runs_fuse_with_method_objects_specs_and_user_fusions(runs, dicts):
    """One implementation: run fusion builds the registered method from a name and keywords, a
    method spec or a method object alike; a user's densefb.Fusion fuses runs too (per-query ids
    numbered by document id descending, so its ties follow trec_eval's order)."""
    by_name = fuse(runs, "rrf", k=10, top=0).to_dict()
    assert fuse(runs, "rrf(k=10)").to_dict() == by_name
    assert fuse(runs, densefb.RRF(k=10)).to_dict() == by_name
    assert repr(densefb.RRF(k=10)) == "densefb.RRF(rrf(k=10))"
    with pytest.raises(TypeError, match="already has its arguments"):
        fuse(runs, "rrf(k=10)", k=5)
    got = fuse(runs, MaxOfMinMax())
    assert got.name == "MaxOfMinMax"
    want = ref_fuse(dicts, "combmax", normalization="minmax")
    assert compare(got, want, tol=1e-6) < 1e-6  # float32 scores: ties within 1e-6 may swap
    # the built-in CombMAX gives the same scores (in double instead of the user's float32)
    builtin = fuse(runs, "combmax", norm="minmax").to_dict()
    for q, docs in got.to_dict().items():
        assert docs.keys() == builtin[q].keys()
        assert max(abs(v - builtin[q][d]) for d, v in docs.items()) < 1e-6


def test_errors():
    with pytest.raises(ValueError, match="unknown fusion method 'wsum'"):
        fuse([A, B], "wsum")
    with pytest.raises(ValueError, match="has 3 weights for 2"):
        fuse([A, B], "interpolation", weights=[1, 2, 3])
    with pytest.raises(ValueError, match="argument weights=\\[nan, 1\\]: nan is not a finite number"):
        fuse([A, B], "rrf", weights=[float("nan"), 1])
    with pytest.raises(ValueError, match="weight 1 = -1; weights are finite and >= 0"):
        fuse([A, B], "rrf", weights=[-1, 1])
    with pytest.raises(ValueError, match="k = 0 is out of range"):
        fuse([A, B], "rrf", k=0)
    with pytest.raises(ValueError, match="unknown normalization \"l2\""):
        fuse([A, B], "combsum", normalization="l2")
    with pytest.raises(ValueError, match="unknown missing-document rule"):
        fuse([A, B], "interpolation", missing="max")
    with pytest.raises(ValueError, match="top = -1 is out of range"):
        fuse([A, B], top=-1)
    # a parameter the method does not have is an error, not silently ignored
    with pytest.raises(ValueError, match="'rrf' has no argument 'missing'; it accepts k, weights, depth, top"):
        fuse([A, B], "rrf", missing="min")
    with pytest.raises(ValueError, match="fusion method spec column 7: expected a value"):
        fuse([A, B], "rrf(k=)")
    with pytest.raises(ValueError, match="at least one run"):
        fuse([])
    with pytest.raises(TypeError, match="sequence of runs"):
        fuse(A)
    with pytest.raises(TypeError, match="run 1 is a int"):
        fuse([A, 3])
    dup = densefb.Run()
    dup.add("q", ["d1", "d1"], [1.0, 2.0])
    with pytest.raises(ValueError, match='query "q": document "d1" is listed twice'):
        fuse([A, dup])
    bad = {"q": {"d1": float("inf")}}
    with pytest.raises(ValueError, match="non-finite score"):
        fuse([bad])


def test_zz_report():
    """Prints the largest differences measured above (run with -s to see them)."""
    for label, worst in sorted(MAX_DIFF.items()):
        print(f"{label:45s} max |diff| = {worst:.3g}")
