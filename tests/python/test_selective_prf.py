"""Selective PRF on SciFact: the predictors recomputed with numpy from the dense ranking decide
which queries get feedback; those queries' rankings equal the feedback pipeline's, the others
equal dense retrieval's, and the counters say how many went each way."""
import numpy as np
import pytest

import densefb

ROCCHIO = "rocchio(alpha=0.4,beta=0.6,topk=5)"
DEPTH = 10


def lists(run, qids, pos):
    d = run.to_dict()
    return {q: [doc for doc, _ in sorted(d[q].items(), key=lambda x: (-x[1], pos[x[0]]))] for q in qids}


def numpy_predictor(name, scores, vectors):
    s = scores[:DEPTH]
    if name == "gap":
        return s[0] - s[-1]
    if name == "ratio":
        return s[0] / s[-1]
    if name == "nqc":
        return np.std(s) / abs(np.mean(s))
    V = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    C = V @ V.T
    return (C.sum() - np.trace(C)) / (len(V) * (len(V) - 1))


@pytest.fixture(scope="module")
def base(scifact, scifact_flat, vectors):
    D, Q = vectors
    res = densefb.Resources(corpus=scifact.corpus, dense_index=scifact_flat)
    qids = scifact.queries.ids
    pos = {d: i for i, d in enumerate(scifact.corpus.ids)}
    dense = densefb.Dense(k=100).run(res, scifact.queries, k=100, query_vectors=Q)
    prf = densefb.Pipeline(f"dense(k=100) >> {ROCCHIO} >> dense(k=100)").run(res, scifact.queries, k=100,
                                                                              query_vectors=Q)
    return dict(res=res, Q=Q, D=D, qids=qids, pos=pos, dense=dense, prf=prf)


@pytest.mark.parametrize("predictor", ["gap", "ratio", "nqc", "coherence"])
def test_selective_applies_feedback_exactly_where_the_predictor_trusts(predictor, scifact, base):
    d = base["dense"].to_dict()
    values = {}
    for q in base["qids"]:
        items = sorted(d[q].items(), key=lambda x: (-x[1], base["pos"][x[0]]))
        scores = np.array([s for _, s in items], dtype=np.float64)
        ids = [base["pos"][i] for i, _ in items[:DEPTH]]
        values[q] = numpy_predictor(predictor, scores, base["D"][ids].astype(np.float64))
    # A threshold half-way between two neighbouring values near the median: no float ties.
    v = np.sort(np.array(list(values.values())))
    m = len(v) // 2
    threshold = float((v[m - 1] + v[m]) / 2)
    trusted = {q for q, x in values.items() if x >= threshold}
    counters = {}
    stage = densefb.Selective(ROCCHIO, predictor=predictor, threshold=threshold, depth=DEPTH)
    run = (densefb.Dense(k=100) >> stage >> densefb.Dense(k=100)).run(
        base["res"], scifact.queries, k=100, query_vectors=base["Q"], counters=counters)
    got = lists(run, base["qids"], base["pos"])
    want_prf = lists(base["prf"], base["qids"], base["pos"])
    want_dense = lists(base["dense"], base["qids"], base["pos"])
    for q in base["qids"]:
        assert got[q] == (want_prf[q] if q in trusted else want_dense[q]), q
    (c,) = counters.values()
    assert c["trusted"] == len(trusted) and c["kept"] == len(base["qids"]) - len(trusted)
    assert 0 < len(trusted) < len(base["qids"])


def test_spec_round_trip_and_errors(base):
    s = densefb.Selective(densefb.AveragePRF(k=3), predictor="gap", threshold=0.1)
    assert str(s).startswith('selective(model="avg(k=3')
    with pytest.raises(ValueError, match="not one feedback model"):
        densefb.Pipeline("dense >> selective(model='dense') >> dense").run(base["res"], {"q": "x"},
                                                                         query_vectors=base["Q"][:1])
    # What the wrapped model reads is required too (densefb experiment loads it).
    needs = set(densefb.Pipeline("dense >> selective(model='prompt_prf') >> dense").requires)
    assert {"dense_index", "generator", "corpus", "encoder"} <= needs
    with pytest.raises(ValueError, match="gap, ratio, nqc, coherence"):
        densefb.Selective(predictor="luck")


@pytest.mark.parametrize("predictor", ["gap", "ratio", "nqc", "coherence"])
def test_selective_predictor_equals_numpy(predictor, base):
    """densefb.selective_predictor (the stage's C++ code) against the formulas above, on the
    dense rankings of the first 30 SciFact queries and their documents' vectors."""
    d = base["dense"].to_dict()
    for q in base["qids"][:30]:
        items = sorted(d[q].items(), key=lambda x: (-x[1], base["pos"][x[0]]))
        scores = np.array([s for _, s in items], dtype=np.float32)
        V = base["D"][[base["pos"][i] for i, _ in items[:DEPTH]]]
        want = numpy_predictor(predictor, scores.astype(np.float64), V.astype(np.float64))
        got = densefb.selective_predictor(predictor, scores, V, depth=DEPTH)
        assert got == pytest.approx(want, rel=1e-6, abs=1e-9), q


def test_selective_predictor_undefined_and_errors(base):
    assert np.isnan(densefb.selective_predictor("gap", [0.5]))
    assert np.isnan(densefb.selective_predictor("ratio", [0.5, 0.0]))
    assert densefb.selective_predictor("gap", [3.0, 2.0, 1.0], depth=2) == 1.0
    with pytest.raises(ValueError, match="gap, ratio, nqc or coherence"):
        densefb.selective_predictor("luck", [1.0, 0.5])
    with pytest.raises(ValueError, match="needs the documents' vectors"):
        densefb.selective_predictor("coherence", [1.0, 0.5])
    with pytest.raises(ValueError, match="reads 2 documents"):
        densefb.selective_predictor("coherence", [1.0, 0.5], base["D"][:1])
