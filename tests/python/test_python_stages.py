"""Stages written in Python (densefb.Retriever, FeedbackModel, Reranker, Fusion) composed with the
built-ins, on real SciFact vectors, against numpy references written here."""
from __future__ import annotations

import threading

import numpy as np
import pytest

import densefb
from densefb import AveragePRF, BM25, Dense, Pipeline, Resources, fuse

from test_pipeline import assert_same_ranking, bm25, doc_pos, np_search, ranked, resources  # noqa: F401 (fixtures)


# ---- the user's stages -------------------------------------------------------------------------

class NumpyRetriever(densefb.Retriever):
    """Exact inner product over a matrix (a stand-in for a remote vector store)."""

    def __init__(self, docs: np.ndarray, k: int = 100):
        super().__init__()
        self.docs, self.k = docs, k

    @property
    def spec(self):
        return f"numpy_dense(k={self.k})"

    def retrieve(self, queries):
        assert queries.vectors is not None
        S = queries.vectors @ self.docs.T
        ids = np.argsort(-S, axis=1, kind="stable")[:, :self.k]
        return np.take_along_axis(S, ids, axis=1), ids


class MeanOfTop(densefb.FeedbackModel):
    """q' = (q + mean of the top-m documents) / 2, from the stored vectors."""

    depth_read = 3

    def __init__(self, docs: np.ndarray, m: int = 3):
        super().__init__()
        self.docs, self.m = docs, m

    def refine(self, queries, scores, ids):
        out = np.empty_like(queries.vectors)
        for i in range(len(queries)):
            top = ids[i][ids[i] >= 0][:self.m]
            out[i] = (queries.vectors[i] + self.docs[top].mean(axis=0)) / 2
        return out


class NegativeL2(densefb.Reranker):
    """Re-scores the top 20 by -||q - d||^2 with the given query vectors."""

    def __init__(self, docs: np.ndarray, queries: np.ndarray):
        super().__init__()
        self.docs, self.Q = docs, queries

    def rerank(self, queries, scores, ids):
        ids = ids[:, :20]
        s = np.full(ids.shape, -np.inf, dtype=np.float32)
        for i in range(ids.shape[0]):
            keep = ids[i] >= 0
            d = self.docs[ids[i][keep]] - self.Q[i]
            s[i][keep] = -(d * d).sum(axis=1)
        return s, ids


class MaxScore(densefb.Fusion):
    """Max of min-max normalised scores over the lists that hold a document."""

    def fuse(self, runs):
        n = runs[0][0].shape[0]
        out_s, out_i = [], []
        for q in range(n):
            best = {}
            for scores, ids in runs:
                keep = ids[q] >= 0
                s, d = scores[q][keep].astype(np.float64), ids[q][keep]
                if len(s) == 0:
                    continue
                lo, hi = s.min(), s.max()
                norm = (s - lo) / (hi - lo) if hi > lo else np.ones_like(s)
                for doc, v in zip(d, norm):
                    best[int(doc)] = max(best.get(int(doc), -np.inf), v)
            items = sorted(best.items(), key=lambda x: (-x[1], x[0]))
            out_i.append([d for d, _ in items])
            out_s.append([s for _, s in items])
        width = max(len(x) for x in out_i)
        S = np.full((n, width), -np.inf, dtype=np.float32)
        I = np.full((n, width), -1, dtype=np.int64)
        for q in range(n):
            S[q, :len(out_s[q])] = out_s[q]
            I[q, :len(out_i[q])] = out_i[q]
        return S, I


# ---- dense >> MyFeedback() >> dense --------------------------------------------------------------

def test_python_feedback_between_dense_retrievers(scifact, vectors, resources, doc_pos):
    D, Q = vectors
    p = Dense(k=100) >> MeanOfTop(D, m=3) >> Dense(k=50)
    assert p.spec == "dense(k=100,ef_search=0) >> MeanOfTop >> dense(k=50,ef_search=0)"
    # depth planning asks the Python model how deep it reads
    assert p.explain(resources).startswith("dense(k=3,")
    run = p.run(resources, scifact.queries, k=50, query_vectors=Q)
    _, first = np_search(Q, D, 3)
    q2 = np.stack([(Q[i].astype(np.float64) + D[first[i]].astype(np.float64).mean(axis=0)) / 2
                   for i in range(len(Q))])
    want_s, want_i = np_search(q2, D, 50)
    for i, qid in enumerate(scifact.queries.ids):
        got_i, got_s = ranked(run, qid, doc_pos)
        assert_same_ranking(got_i, got_s, want_i[i], want_s[i], D.astype(np.float64) @ q2[i])


def test_python_retriever_then_builtin_feedback(scifact, vectors, resources, doc_pos):
    D, Q = vectors
    p = NumpyRetriever(D, k=100) >> AveragePRF(k=3) >> Dense(k=20)
    run = p.run(resources, scifact.queries, k=20, query_vectors=Q)
    _, first = np_search(Q, D, 3)
    q2 = np.stack([np.vstack([Q[i][None, :], D[first[i]]]).astype(np.float64).mean(axis=0)
                   for i in range(len(Q))])
    want_s, want_i = np_search(q2, D, 20)
    for i, qid in enumerate(scifact.queries.ids):
        got_i, got_s = ranked(run, qid, doc_pos)
        assert_same_ranking(got_i, got_s, want_i[i], want_s[i], D.astype(np.float64) @ q2[i])


# ---- fuse(MyFusion(), dense, bm25) >> MyReranker() -----------------------------------------------

def test_python_fusion_and_reranker_with_builtins(scifact, vectors, resources, bm25, doc_pos):
    D, Q = vectors
    texts = scifact.queries.texts
    p = fuse(MaxScore(), Dense(k=100), BM25(k=100)) >> NegativeL2(D, Q)
    assert p.spec.startswith("fuse(MaxScore,dense(k=100")
    run = p.run(resources, scifact.queries, k=20, query_vectors=Q)
    dense_s, dense_i = np_search(Q, D, 100)
    bm_s, bm_i = bm25.search(texts, k=100)
    for i, qid in enumerate(scifact.queries.ids):
        best = {}
        for s, d in ((dense_s[i], dense_i[i]), (bm_s[i], bm_i[i])):
            keep = d >= 0
            s, d = s[keep].astype(np.float32).astype(np.float64), d[keep]
            if len(s):
                norm = (s - s.min()) / (s.max() - s.min()) if s.max() > s.min() else np.ones_like(s)
                for doc, v in zip(d, norm):
                    best[int(doc)] = max(best.get(int(doc), -np.inf), v)
        fused = [d for d, _ in sorted(best.items(), key=lambda x: (-x[1], x[0]))][:20]
        l2 = {d: -float(((D[d] - Q[i]) ** 2).sum()) for d in fused}
        want = sorted(fused, key=lambda d: (-l2[d], d))
        got_i, got_s = ranked(run, qid, doc_pos)
        assert set(got_i.tolist()) == set(want)
        np.testing.assert_allclose(got_s, [l2[d] for d in want], rtol=1e-5, atol=1e-5)


# ---- registration: specs build Python stages ---------------------------------------------------------

def test_registered_python_stages_in_specs(scifact, vectors, resources, doc_pos):
    D, Q = vectors

    class Mean(MeanOfTop):
        def __init__(self, m=3):
            super().__init__(D, m)

    class Max(MaxScore):
        pass

    densefb.register("mean_of_top", Mean, help="(q + mean of top m) / 2")
    densefb.register("max_score", Max)
    try:
        assert "mean_of_top" in densefb.pipeline_stages()
        spec = "fuse(max_score,dense(k=100) >> mean_of_top(m=2) >> dense(k=50),bm25(k=50))"
        p = Pipeline.parse(spec)
        assert "mean_of_top(m=2)" in p.spec and p.spec.startswith("fuse(max_score,")
        assert Pipeline.parse(p.spec).spec == p.spec
        by_spec = p.run(resources, scifact.queries, k=30, query_vectors=Q)
        by_objects = fuse(Max(), Dense(k=100) >> Mean(m=2) >> Dense(k=50), BM25(k=50)).run(
            resources, scifact.queries, k=30, query_vectors=Q)
        assert by_spec.to_dict() == by_objects.to_dict()
        with pytest.raises(ValueError, match="already registered"):
            densefb.register("mean_of_top", Mean)
    finally:
        densefb.unregister("mean_of_top")
        densefb.unregister("max_score", role="fusion")
    with pytest.raises(ValueError, match="unknown stage 'mean_of_top'"):
        Pipeline.parse("dense >> mean_of_top >> dense")


# ---- errors and threads ------------------------------------------------------------------------------

class Broken(densefb.Reranker):
    def rerank(self, queries, scores, ids):
        raise KeyError(f"no such passage for {queries.ids[0]}")


def test_python_exception_reaches_the_caller(scifact, vectors, resources):
    _, Q = vectors
    with pytest.raises(KeyError, match="no such passage for") as info:
        (Dense(k=10) >> Broken()).run(resources, scifact.queries, k=10, query_vectors=Q)
    # the traceback reaches into the stage's own code
    assert any(entry.name == "rerank" for entry in info.traceback)


class BadShape(densefb.Retriever):
    def retrieve(self, queries):
        return np.zeros((1, 3), np.float32), np.zeros((2, 3), np.int64)


def test_python_stage_bad_output_is_a_clear_error(scifact, resources):
    with pytest.raises(ValueError, match=r"BadShape.*retrieve returned arrays of shapes"):
        BadShape().__rshift__(Dense()).run(resources, scifact.queries)


def test_same_pipeline_from_four_threads(scifact, vectors, resources):
    D, Q = vectors
    p = fuse(MaxScore(), Dense(k=100) >> MeanOfTop(D) >> Dense(k=100), BM25(k=100)) >> NegativeL2(D, Q)
    want = p.run(resources, scifact.queries, k=20, query_vectors=Q).to_dict()
    got, errors = [None] * 4, []

    def work(t):
        try:
            got[t] = p.run(resources, scifact.queries, k=20, query_vectors=Q).to_dict()
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert all(g == want for g in got)
