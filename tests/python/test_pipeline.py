"""densefb.Pipeline on real SciFact all-MiniLM-L6-v2 vectors: vector PRF pipelines against numpy
(Pyserini's formulas + exact search written here), BM25+RM3 against the existing RM3 search,
fusion nodes against ranx and numpy, text PRF against encoding the concatenated text directly,
determinism across thread counts and Python threads, and the Python composition API."""
from __future__ import annotations

import threading
import warnings

import numpy as np
import pytest

import densefb
from densefb import (BM25, RM3, AveragePRF, Cut, Dense, Interpolate, Pipeline, Rescore, Resources,
                     Rocchio, RRF, TextPRF, fuse)

warnings.filterwarnings("ignore", category=UserWarning, module="ranx")


# ---- fixtures ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def flat(scifact_flat):
    return scifact_flat


@pytest.fixture(scope="module")
def bm25(scifact_bm25):
    return scifact_bm25


@pytest.fixture(scope="module")
def resources(scifact_resources):
    return scifact_resources


@pytest.fixture(scope="module")
def doc_pos(scifact_doc_pos):
    return scifact_doc_pos


def ranked(run: densefb.Run, qid: str, doc_pos):
    """(positions, scores) of a run's list for qid, best first (ties by smaller position)."""
    items = [(doc_pos[d], s) for d, s in run.to_dict()[qid].items()]
    items.sort(key=lambda x: (-x[1], x[0]))
    return np.array([p for p, _ in items], dtype=np.int64), np.array([s for _, s in items])


# ---- numpy references (Pyserini's formulas) ----------------------------------------------------

def np_search(Q: np.ndarray, D: np.ndarray, k: int):
    S = Q.astype(np.float64) @ D.astype(np.float64).T
    ids = np.argsort(-S, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(S, ids, axis=1), ids


def np_rocchio(Q, D, first_ids, alpha, beta, topk):
    out = np.empty(Q.shape, dtype=np.float64)
    for i, q in enumerate(Q.astype(np.float64)):
        out[i] = alpha * q + beta * D[first_ids[i][:topk]].astype(np.float64).mean(axis=0)
    return out


def np_average(Q, D, first_ids, k):
    return np.stack([np.vstack([q[None, :], D[first_ids[i][:k]]]).astype(np.float64).mean(axis=0)
                     for i, q in enumerate(Q.astype(np.float64))])


def assert_same_ranking(got_ids, got_scores, want_ids, want_scores, all_scores=None, atol=2e-5):
    """Same scores (float32 vs float64), and the same ids except among near-ties: a document in
    another place must have (by `all_scores`, the reference score of every document, or else
    by the reference list) a score within atol of the reference score at that place."""
    assert len(got_ids) == len(want_ids)
    np.testing.assert_allclose(got_scores, want_scores, atol=atol)
    ref = {int(x): s for x, s in zip(want_ids, want_scores)}
    for j in range(len(got_ids)):
        if got_ids[j] != want_ids[j]:
            a = int(got_ids[j])
            s = all_scores[a] if all_scores is not None else ref.get(a, np.inf)
            assert abs(s - want_scores[j]) < atol, (j, a, int(want_ids[j]))


# ---- vector PRF ----------------------------------------------------------------------------------

def test_dense_rocchio_dense_equals_numpy(scifact, vectors, resources, doc_pos):
    D, Q = vectors
    k = 100
    p = Pipeline.parse("dense >> rocchio(alpha=0.4,beta=0.6,topk=5) >> dense(k=100)")
    run = p.run(resources, scifact.queries, k=k, query_vectors=Q)
    _, first = np_search(Q, D, 1000)
    q2 = np_rocchio(Q, D, first, 0.4, 0.6, 5)
    want_s, want_i = np_search(q2, D, k)
    for i, qid in enumerate(scifact.queries.ids):
        got_i, got_s = ranked(run, qid, doc_pos)
        assert_same_ranking(got_i, got_s, want_i[i], want_s[i], D.astype(np.float64) @ q2[i])


def test_dense_avg_dense_and_rescore_equal_numpy(scifact, vectors, resources, doc_pos):
    D, Q = vectors
    _, first = np_search(Q, D, 50)
    q2 = np_average(Q, D, first, 3)
    want_s, want_i = np_search(q2, D, 20)
    run = (Dense(k=50) >> AveragePRF(k=3) >> Dense(k=20)).run(resources, scifact.queries, k=20,
                                                               query_vectors=Q)
    for i, qid in enumerate(scifact.queries.ids):
        got_i, got_s = ranked(run, qid, doc_pos)
        assert_same_ranking(got_i, got_s, want_i[i], want_s[i], D.astype(np.float64) @ q2[i])
    # The first pass is planned 3 deep (all avg reads); the results are those of the 50-deep
    # computation above.
    p = Dense(k=50) >> AveragePRF(k=3) >> Dense(k=20)
    assert p.explain(resources).startswith("dense(k=3,") and p.spec.startswith("dense(k=50,")
    assert (Dense(k=50) >> AveragePRF(k=3) >> Rescore()).explain(resources).startswith("dense(k=50,")
    # "ranking" setting: the 50 first-pass candidates re-scored with q' (not a new search).
    rerank = (Dense(k=50) >> AveragePRF(k=3) >> Rescore()).run(resources, scifact.queries, k=50,
                                                                query_vectors=Q)
    for i, qid in enumerate(scifact.queries.ids):
        got_i, got_s = ranked(rerank, qid, doc_pos)
        assert set(got_i) == set(first[i])
        S = D[first[i]].astype(np.float64) @ q2[i]
        order = np.argsort(-S, kind="stable")
        assert_same_ranking(got_i, got_s, first[i][order], S[order])


# ---- BM25 + RM3 ----------------------------------------------------------------------------------

@pytest.mark.parametrize("params", [{}, dict(fb_docs=5, fb_terms=20, original_query_weight=0.3)])
def test_bm25_rm3_bm25_equals_rm3_search(scifact, bm25, resources, doc_pos, params):
    texts = scifact.queries.texts
    want_s, want_i = bm25.search(texts, k=100, rm3=params or True)
    run = (BM25() >> RM3(**params) >> BM25(k=100)).run(resources, scifact.queries, k=100)
    for i, qid in enumerate(scifact.queries.ids):
        got_i, got_s = ranked(run, qid, doc_pos)
        keep = want_i[i] >= 0
        np.testing.assert_array_equal(got_i, want_i[i][keep])
        np.testing.assert_array_equal(got_s.astype(np.float32), want_s[i][keep])


def test_bm25_k1_b_guard(resources, scifact):
    with pytest.raises(ValueError, match="k1 = 1.2"):
        BM25(k1=1.2).run(resources, {"q": "cancer"})
    run = BM25(k1=0.9, b=0.4).run(resources, {"q": "cancer"}, k=5)
    assert len(run.to_dict()["q"]) == 5


# ---- fusion ----------------------------------------------------------------------------------------

def test_rrf_node_equals_ranx(scifact, vectors, resources, doc_pos):
    ranx = pytest.importorskip("ranx")
    _, Q = vectors
    dense = Dense(k=100).run(resources, scifact.queries, k=100, query_vectors=Q).to_dict()
    sparse = BM25(k=100).run(resources, scifact.queries, k=100).to_dict()
    # ranx orders ties arbitrarily: compare on queries whose inputs have no tied scores.
    keep = [q for q in dense if len(set(dense[q].values())) == len(dense[q])
            and len(set(sparse.get(q, {}).values())) == len(sparse.get(q, {})) and sparse.get(q)]
    assert len(keep) >= 120  # quantised BM25 norms tie more often
    got = fuse(RRF(), Dense(k=100), BM25(k=100)).run(resources, scifact.queries, k=0,
                                                        query_vectors=Q).to_dict()
    want = ranx.fuse([ranx.Run({q: dense[q] for q in keep}), ranx.Run({q: sparse[q] for q in keep})],
                     method="rrf", params={"k": 60}).to_dict()
    for q in keep:
        assert set(got[q]) == set(want[q])
        for d, s in want[q].items():
            assert got[q][d] == pytest.approx(s, rel=1e-6)


def test_interpolation_node_equals_numpy(scifact, vectors, resources, doc_pos):
    _, Q = vectors
    dense = Dense(k=100).run(resources, scifact.queries, k=100, query_vectors=Q).to_dict()
    sparse = BM25(k=100).run(resources, scifact.queries, k=100).to_dict()
    p = fuse(Interpolate(weights=[0.7, 0.3], norm="minmax", missing="zero"), Dense(k=100), BM25(k=100))
    assert p.spec == ("fuse(interpolate(weights=[0.7,0.3],norm=minmax,missing=zero,depth=0,top=0),"
                      "dense(k=100,ef_search=0),bm25(k=100,k1=index,b=index))")
    got = p.run(resources, scifact.queries, k=0, query_vectors=Q).to_dict()

    def minmax(d):
        v = np.array(list(d.values()), dtype=np.float64)
        lo, hi = v.min(), v.max()
        return {k: ((s - lo) / (hi - lo) if hi > lo else 1.0) for k, s in d.items()}

    for q in scifact.queries.ids:
        a, b = minmax(dense[q]), minmax(sparse[q]) if sparse.get(q) else {}
        want = {d: 0.7 * a.get(d, 0.0) + 0.3 * b.get(d, 0.0) for d in set(a) | set(b)}
        assert set(got[q]) == set(want)
        for d, s in want.items():
            assert got[q][d] == pytest.approx(s, abs=1e-6)


def test_prf_after_fusion_refines_from_the_fused_ranking(scifact, vectors, resources, doc_pos):
    D, Q = vectors
    fused = fuse(RRF(), Dense(k=100), BM25(k=100))
    run = (fused >> AveragePRF(k=3) >> Dense(k=10)).run(resources, scifact.queries, k=10,
                                                        query_vectors=Q)
    first = fused.run(resources, scifact.queries, k=3, query_vectors=Q)
    for i, qid in enumerate(scifact.queries.ids):
        top3, _ = ranked(first, qid, doc_pos)
        q2 = np.vstack([Q[i][None, :], D[top3]]).astype(np.float64).mean(axis=0)
        want_s, want_i = np_search(q2[None, :], D, 10)
        got_i, got_s = ranked(run, qid, doc_pos)
        assert_same_ranking(got_i, got_s, want_i[0], want_s[0], D.astype(np.float64) @ q2)


# ---- text PRF (needs the libtorch encoder) ------------------------------------------------------

def test_text_prf_equals_encoding_the_concatenation(scifact, vectors, flat, doc_pos):
    pytest.importorskip("torch")
    try:
        enc = densefb.Encoder.from_pretrained("sentence-transformers/all-MiniLM-L6-v2")
    except (ImportError, FileNotFoundError, OSError, KeyError) as e:
        pytest.skip(f"encoder unavailable: {e}")
    D, Q = vectors
    n = 24
    queries = {scifact.queries[i][0]: scifact.queries[i][1] for i in range(n)}
    res = Resources(corpus=scifact.corpus, encoder=enc, dense_index=flat)
    run = (Dense(k=10) >> TextPRF(k=3) >> Dense(k=10)).run(res, queries, k=10)
    texts = scifact.corpus.texts()
    q1 = enc.encode_queries(list(queries.values()))
    _, first = np_search(q1, D, 3)
    joint = [q + "".join(" [SEP] " + texts[d] for d in first[i]) for i, q in enumerate(queries.values())]
    q2 = enc.encode_queries(joint)
    want_s, want_i = np_search(q2, D, 10)
    for i, qid in enumerate(queries):
        got_i, got_s = ranked(run, qid, doc_pos)
        assert_same_ranking(got_i, got_s, want_i[i], want_s[i], D.astype(np.float64) @ q2[i], atol=1e-4)
    # and the text pipeline starts from the encoder's own query vectors
    plain = Dense(k=10).run(res, queries, k=10)
    s0, i0 = np_search(q1, D, 10)
    for i, qid in enumerate(queries):
        got_i, got_s = ranked(plain, qid, doc_pos)
        assert_same_ranking(got_i, got_s, i0[i], s0[i], D.astype(np.float64) @ q1[i], atol=1e-4)


# ---- HNSW and the cross-encoder ----------------------------------------------------------------

def test_dense_on_hnsw_passes_ef_search(scifact, vectors, bm25, doc_pos):
    D, Q = vectors
    hnsw = densefb.HnswIndex(D.shape[1], metric="ip", M=8, ef_construction=40, num_threads=1)
    hnsw.add(D)
    res = Resources(corpus=scifact.corpus, dense_index=hnsw)
    for ef in (10, 200):
        want_s, want_i = hnsw.search(Q, k=10, ef=ef)
        run = Dense(k=10, ef_search=ef).run(res, scifact.queries, k=10, query_vectors=Q)
        for i, qid in enumerate(scifact.queries.ids):
            got_i, got_s = ranked(run, qid, doc_pos)
            np.testing.assert_array_equal(got_i, want_i[i])
            np.testing.assert_array_equal(got_s.astype(np.float32), want_s[i])


def test_rerank_cross_equals_scoring_the_pairs(scifact, resources, bm25, doc_pos, tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from test_colbert_cross import make_cross_encoder  # the small random BERT checkpoint

    make_cross_encoder(tmp_path, 1, seed=5)
    ce = densefb.CrossEncoder.from_pretrained(tmp_path)
    res = Resources(corpus=scifact.corpus, bm25=bm25, cross_encoder=ce)
    n = 8
    queries = {scifact.queries[i][0]: scifact.queries[i][1] for i in range(n)}
    run = (BM25(k=50) >> densefb.CrossEncoderRerank(k=20, batch_size=7)).run(res, queries, k=0)
    first = BM25(k=20).run(res, queries, k=0)
    texts = scifact.corpus.texts()
    for qid, text in queries.items():
        cand, _ = ranked(first, qid, doc_pos)
        scores = ce.predict([(text, texts[d]) for d in cand])
        order = sorted(range(len(cand)), key=lambda j: (-scores[j], cand[j]))
        got_i, got_s = ranked(run, qid, doc_pos)
        np.testing.assert_array_equal(got_i, cand[order])
        np.testing.assert_allclose(got_s, scores[order], atol=1e-5)


# ---- determinism ------------------------------------------------------------------------------------

def test_identical_across_thread_counts_and_python_threads(scifact, vectors, resources):
    _, Q = vectors
    p = Pipeline.parse("fuse(interpolate, dense, bm25) >> avg(k=3) >> fuse(interpolate, dense, bm25 >> rm3 >> bm25)")
    want = p.run(resources, scifact.queries, k=100, num_threads=1, query_vectors=Q).to_dict()
    assert p.run(resources, scifact.queries, k=100, num_threads=2, query_vectors=Q).to_dict() == want
    results = [None] * 4
    errors = []

    def work(t):
        try:
            results[t] = p.run(resources, scifact.queries, k=100, num_threads=t % 2 + 1,
                               query_vectors=Q).to_dict()
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    assert all(r == want for r in results)


# ---- the Python API -------------------------------------------------------------------------------

def test_composition_and_canonical_specs():
    p = Dense() >> Rocchio(alpha=0.4, beta=0.6, topk=5) >> Dense()
    assert p.spec == ("dense(k=1000,ef_search=0) >> rocchio(alpha=0.4,beta=0.6,gamma=0.1,topk=5,"
                      "bottomk=0,depth=0,normalize=false) >> dense(k=1000,ef_search=0)")
    assert Pipeline.parse(p.spec) == p
    assert p == Pipeline.parse("dense >> rocchio(alpha=0.4,beta=0.6,topk=5) >> dense")
    assert p.requires == frozenset({"dense_index", "encoder"})
    assert (Dense() | BM25()).spec == fuse(RRF(k=60), Dense(), BM25()).spec == \
        Pipeline.parse("fuse(rrf,dense,bm25)").spec
    assert fuse("interpolate(weights=[0.3,0.7])", "dense", BM25()).spec.startswith(
        "fuse(interpolate(weights=[0.3,0.7],norm=minmax")
    assert ("bm25" >> RM3() >> BM25()).spec == Pipeline.parse("bm25 >> rm3 >> bm25").spec
    assert (BM25() >> Cut(10)).spec == "bm25(k=1000,k1=index,b=index) >> cut(k=10)"
    assert TextPRF().spec == 'text_prf(k=3,sep="[SEP]")'
    assert densefb.Stage("avg", k=5).spec == "avg(k=5,normalize=false)"
    assert (fuse(RRF(), Dense(), BM25()) >> AveragePRF() >> Dense()).requires == \
        frozenset({"dense_index", "encoder", "bm25"})
    stages = densefb.pipeline_stages()
    assert {"dense", "bm25", "rm3", "avg", "rocchio", "rescore", "text_prf", "rerank_cross", "cut"} <= set(stages)
    assert "alpha=0.9" in stages["rocchio"]
    for cls in (Dense, BM25, RM3, AveragePRF, Rocchio, Rescore, TextPRF, densefb.CrossEncoderRerank):
        assert "default" in cls.__doc__
    # the run-fusion form of densefb.fuse still works
    a = densefb.Run.from_dict({"q": {"d1": 2.0, "d2": 1.0}})
    b = densefb.Run.from_dict({"q": {"d2": 3.0, "d3": 1.0}})
    assert set(fuse([a, b], method="rrf").to_dict()["q"]) == {"d1", "d2", "d3"}


def test_errors_name_the_problem(resources):
    with pytest.raises(ValueError, match=r"column 10: .*unknown stage 'foo'"):
        Pipeline.parse("dense >> foo")
    with pytest.raises(ValueError, match=r"no argument 'alpah'.*alpha"):
        Rocchio() >> "rocchio(alpah=1)"
    with pytest.raises(ValueError, match="needs a ranking"):
        Pipeline.parse("avg >> dense")
    with pytest.raises(ValueError, match=r"resource 'encoder'"):
        Dense().run(resources, {"q": "text"})
    with pytest.raises(ValueError, match=r"resource 'cross_encoder'"):
        (BM25() >> densefb.CrossEncoderRerank()).run(resources, {"q": "cancer"})
    with pytest.raises(ValueError, match="document names"):
        BM25().run(Resources(), {"q": "x"})
    with pytest.raises(TypeError, match="dense_index"):
        Resources(dense_index="not an index")
    with pytest.raises(ValueError, match="dimension"):
        Dense().run(resources, {"q": "x"}, query_vectors=np.ones((1, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="rows"):
        Dense().run(resources, {"q": "x"}, query_vectors=np.ones((2, 384), dtype=np.float32))


# ---- reliability of the spec grammar (issue 12) ---------------------------------------------

def _nested_fuse(leaf: str, depth: int) -> str:
    s = leaf
    for _ in range(depth):
        s = f"fuse(rrf, {s}, bm25)"
    return s


def test_deep_specs_are_column_errors_not_crashes():
    # In a child process: these overflowed the stack (exit 139), which would end this session.
    code = r"""
import densefb
for spec in ["(" * 10000 + "dense" + ")" * 10000,
             "fuse(rrf(weights=" + "[" * 10000 + "1" + "]" * 10000 + "), dense, bm25)"]:
    try:
        densefb.Pipeline.parse(spec)
    except ValueError as e:
        print(e)
"""
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("pipeline spec column 65: more than 64 nested levels")
    assert lines[1].startswith("pipeline spec column 82: lists nested more than 64 deep")


def test_nesting_limit_and_exponential_fuse():
    # Depth 28 took seconds (exponential); the documented limit parses and round-trips.
    limit = _nested_fuse("dense", 64)
    p = Pipeline.parse(limit)
    assert Pipeline.parse(p.spec).spec == p.spec
    assert p.spec.count("fuse(") == 64
    with pytest.raises(ValueError, match=r"column 645: more than 64 nested levels"):
        Pipeline.parse(_nested_fuse("dense", 65))
    # Composing with >> adds no nesting: canonical specs are not wrapped in parentheses.
    q = Pipeline(limit)
    for _ in range(100):
        q = q >> Cut(k=10)
    assert q.spec.count(">> cut(k=10)") == 100
    assert fuse(RRF(), Pipeline(_nested_fuse("dense", 63)), BM25()).spec.count("fuse(") == 64


def test_non_ascii_in_a_spec_is_a_column_error():
    # A pasted no-break space raised UnicodeDecodeError (a lone byte in the message).
    with pytest.raises(ValueError, match=r"^pipeline spec column 6: unexpected character U\+00A0 "
                                         r"\(no-break space\).*columns count characters"):
        Pipeline.parse("dense\u00a0>> avg")
    with pytest.raises(ValueError, match=r"column 32: unexpected character '\$'"):
        Pipeline.parse("dense >> text_prf(sep='éé') >> $")
    with pytest.raises(ValueError, match=r"column 9: unexpected character U\+201C"):
        Pipeline.parse("dense(k=\u201c3\u201d)")
    with pytest.raises(ValueError, match=r"column 3: character U\+D800 .*surrogate"):
        Pipeline.parse("de\ud800nse")
    with pytest.raises(ValueError, match=r"column 1: character U\+DC80"):
        Pipeline("\udc80")
    with pytest.raises(TypeError, match="a pipeline spec is a str, not bytes"):
        Pipeline.parse(b"dense")
    assert Pipeline.parse("dense >> text_prf(sep='é') >> dense").spec == \
        'dense(k=1000,ef_search=0) >> text_prf(k=3,sep="é") >> dense(k=1000,ef_search=0)'


@pytest.mark.parametrize("spec, message", [
    ("fuse(rrf(weights=[]), dense, bm25)", r"weights=\[\] is an empty list"),
    ("fuse(rrf(weights=[1,1,1]), dense, bm25)", r"weights=\[1,1,1\] has 3 weights for 2"),
    ("fuse(interpolate(weights=[-1,1]), dense, bm25)", r"weights=\[-1,1\] has weight 1 = -1"),
    ("fuse(rrf(weights=[0,0]), dense, bm25)", r"weights=\[0,0\] is all 0"),
    ("fuse(rrf(weights=[nan,1]), dense, bm25)", r"argument weights=\[nan,1\] is a list"),
    ("fuse(rrf(weights=[1e999,1]), dense, bm25)", r"'1e999' is not a finite"),
    ("dense(k=1e30)", r"argument k=1e30 is too large for an integer"),
    ("dense(k=99999999999999999999)", r"argument k=99999999999999999999 is too large"),
    ("dense(k=0)", r"k = 0 is out of range"),
    ("dense(k=0x10)", r"'0x10' is not a finite decimal number"),
    ("bm25(k1=-1)", r"k1 = -1 must be in \[0, "),
])
def test_spec_arguments_are_refused_naming_them(spec, message):
    with pytest.raises(ValueError, match=r"^pipeline spec column \d+: .*" + message):
        Pipeline.parse(spec)


def test_empty_weights_from_python_are_refused():
    with pytest.raises(ValueError, match=r"weights=\[\] is an empty list"):
        fuse(RRF(weights=[]), Dense(), BM25())
    with pytest.raises(ValueError, match=r"weights=\[1\] has 1 weights for 2"):
        fuse(Interpolate(weights=[1]), Dense(), BM25())


def test_huge_k_is_capped_by_the_index():
    # dense(k=1073741824) passed validation, then raised bad_alloc (queries x 2^30 results).
    rng = np.random.default_rng(0)
    docs = rng.standard_normal((5, 8)).astype(np.float32)
    index = densefb.FlatIndex(8, metric="ip")
    index.add(docs)
    bm25 = densefb.Bm25Index.build([("a", "apple banana"), ("b", "apple"), ("c", "cherry"),
                                     ("d", "date"), ("e", "elder")])
    res = Resources(dense_index=index, bm25=bm25)
    run = Pipeline.parse("dense(k=1073741824,ef_search=1073741824)").run(
        res, {"q": "x"}, k=0, query_vectors=docs[:1])
    assert len(run.to_dict()["q"]) == 5
    run = Pipeline.parse("bm25(k=2147483648)").run(res, {"q": "apple"}, k=0)
    assert set(run.to_dict()["q"]) == {"a", "b"}
