"""BM25 and RM3 over a collection split into shards (densefb.sparse: local_stats,
merge_collection_stats, set_collection_stats, doc_term_vectors, rm3_expand), on SciFact: the
merged shard rankings against one index over the whole corpus, and weighted queries returned by a
Python feedback model."""
from __future__ import annotations

import heapq

import numpy as np
import pytest

import densefb
from densefb import BM25, Resources
from densefb.sparse import Bm25Index, merge_collection_stats, rm3_expand, RM3_DEFAULTS

K = 1000


class Sharded:
    """Uneven contiguous shards (20%, 50%, 30% of the corpus) with the collection's statistics;
    a shard's local position p is the global position offset + p."""

    def __init__(self, texts, ids, lucene_norms):
        n = len(texts)
        bounds = [0, n * 2 // 10, n * 7 // 10, n]
        self.offsets = bounds[:-1]
        self.shards = [Bm25Index.build(list(zip(ids[a:b], texts[a:b])), lucene_norms=lucene_norms)
                       for a, b in zip(bounds, bounds[1:])]
        self.stats = merge_collection_stats([s.local_stats() for s in self.shards])
        for s in self.shards:
            s.set_collection_stats(self.stats)

    def owner(self, gid):
        i = int(np.searchsorted(self.offsets, gid, side="right")) - 1
        return i, gid - self.offsets[i]

    def merge(self, per_shard, k):
        """Merged top-k of per-shard (scores, ids) rows: score descending, ties by the smaller
        global position (a single index's order)."""
        hits = []
        for off, (scores, ids) in zip(self.offsets, per_shard):
            hits += [(-float(s), off + int(i)) for s, i in zip(scores, ids) if i >= 0]
        best = heapq.nsmallest(k, hits)
        return np.array([g for _, g in best], dtype=np.int64), np.array([-s for s, _ in best], dtype=np.float32)

    def search(self, queries, k):
        rows = [s.search(queries, k) for s in self.shards]
        return [self.merge([(r[0][q], r[1][q]) for r in rows], k) for q in range(len(queries))]

    def search_weighted(self, queries, k):
        rows = [s.search_weighted(queries, k) for s in self.shards]
        return [self.merge([(r[0][q], r[1][q]) for r in rows], k) for q in range(len(queries))]

    def rm3_query(self, query, ranking, fb_docs):
        """RM3 of an analysed query from the merged first-pass ranking (ids, scores): each
        feedback document's term vector fetched from the shard holding it."""
        ids, scores = ranking
        feedback = []
        for gid, score in zip(ids[:fb_docs], scores[:fb_docs]):
            shard, local = self.owner(int(gid))
            feedback.append((float(score), *self.shards[shard].doc_term_vectors([local])[0]))
        return rm3_expand(query, feedback, self.stats["num_docs"], fb_docs=fb_docs)


@pytest.fixture(scope="module")
def corpus(scifact):
    return scifact.corpus.texts(), scifact.corpus.ids


@pytest.fixture(scope="module", params=[True, False], ids=["lucene_norms", "exact_norms"])
def setup(request, scifact, corpus):
    texts, ids = corpus
    single = Bm25Index.build(scifact.corpus, lucene_norms=request.param)
    return single, Sharded(texts, ids, request.param)


def test_merged_stats_are_the_single_index(setup):
    single, sharded = setup
    stats = sharded.stats
    assert stats == single.local_stats()
    assert sum(s.num_docs for s in sharded.shards) == single.num_docs == stats["num_docs"]
    for s in sharded.shards:
        assert s.has_collection_stats
        assert s.avgdl == single.avgdl
        # a term of a shard that is rarer there than in the collection
        term = next(t for t, df in s.local_stats()["doc_freqs"].items() if df < stats["doc_freqs"][t])
        assert s.idf(term) == single.idf(term)
        assert s.doc_freq(term) < single.doc_freq(term)


def test_sharded_search_equals_single_index(scifact, setup):
    single, sharded = setup
    queries = scifact.queries.texts
    s_scores, s_ids = single.search(queries, K)
    merged = sharded.search(queries, K)
    for q in range(len(queries)):
        ids, scores = merged[q]
        keep = s_ids[q] >= 0
        np.testing.assert_array_equal(ids, s_ids[q][keep], err_msg=f"query {q}")
        np.testing.assert_allclose(scores, s_scores[q][keep], rtol=0, atol=1e-6, err_msg=f"query {q}")
        # bit-equal in fact: the arithmetic is the single index's
        np.testing.assert_array_equal(scores, s_scores[q][keep])


def test_without_collection_stats_scores_differ(scifact, corpus):
    """The oracle above can fail: shards scoring with their own statistics do not merge into the
    single index's ranking."""
    texts, ids = corpus
    sharded = Sharded(texts, ids, True)
    for s in sharded.shards:
        s.clear_collection_stats()
    single = Bm25Index.build(scifact.corpus)
    queries = scifact.queries.texts[:50]
    s_scores, _ = single.search(queries, 10)
    merged = sharded.search(queries, 10)
    assert any(not np.array_equal(merged[q][1], s_scores[q][:len(merged[q][1])]) for q in range(len(queries)))


def test_sharded_score_and_rescore_equal_single_index(scifact, setup):
    single, sharded = setup
    for q, text in enumerate(scifact.queries.texts[:40]):
        _, s_ids = single.search([text], 50)
        gids = s_ids[0][s_ids[0] >= 0]
        want = single.score(text, gids.tolist())
        got = np.array([sharded.shards[sharded.owner(int(g))[0]].score(text, [sharded.owner(int(g))[1]])[0]
                        for g in gids], dtype=np.float32)
        np.testing.assert_array_equal(got, want, err_msg=f"query {q}")
        # rescore on the shard holding the best document
        shard, local = sharded.owner(int(gids[0]))
        r_scores, _ = sharded.shards[shard].rescore([text], np.array([[local]], dtype=np.int64))
        assert r_scores[0][0] == want[0]


def test_sharded_rm3_equals_single_index_rm3(scifact, setup):
    single, sharded = setup
    queries = scifact.queries.texts
    fb_docs = RM3_DEFAULTS["fb_docs"]
    # the single index: the pipeline bm25 >> rm3 >> bm25
    s_scores, s_ids = single.search(queries, K, rm3={})
    first = sharded.search(queries, fb_docs)
    expanded = []
    for q, text in enumerate(queries):
        exp = sharded.rm3_query(single.analyze_query(text), first[q], fb_docs)
        assert exp == list(single.rm3_query(text).items()), f"query {q}"
        expanded.append(dict(exp))
    merged = sharded.search_weighted(expanded, K)
    for q in range(len(queries)):
        ids, scores = merged[q]
        keep = s_ids[q] >= 0
        np.testing.assert_array_equal(ids, s_ids[q][keep], err_msg=f"query {q}")
        np.testing.assert_array_equal(scores, s_scores[q][keep], err_msg=f"query {q}")


class ShardedCollection(densefb.Bm25Collection):
    """The shards above as one Bm25Collection, in process: what the bm25 and rm3 stages read."""

    def __init__(self, sharded, num_docs, k1, b, lucene_norms, break_it=None):
        super().__init__(num_docs, sharded.stats["num_docs"], k1, b, lucene_norms)
        self.sharded, self.break_it = sharded, break_it

    def analyze_queries(self, texts):
        return [list(self.sharded.shards[0].analyze_query(t).items()) for t in texts]

    def _rows(self, lists):
        width = max([len(ids) for ids, _ in lists] + [0])
        scores = np.full((len(lists), width), -np.inf, np.float32)
        ids = np.full((len(lists), width), -1, np.int64)
        for q, (i, s) in enumerate(lists):
            ids[q, :len(i)], scores[q, :len(s)] = i, s
        if self.break_it == "ids":
            ids[0, 0] = 10 ** 9
        return scores, ids

    def search(self, texts, k, num_threads):
        return self._rows(self.sharded.search(list(texts), k))

    def search_weighted(self, queries, k, num_threads):
        return self._rows(self.sharded.search_weighted([dict(q) for q in queries], k))

    def score_documents(self, queries, ids):
        out = []
        for q, gids in zip(queries, ids):
            owners = [self.sharded.owner(int(g)) for g in gids]
            out.append(np.array([self.sharded.shards[s].score(dict(q), [p])[0] for s, p in owners], np.float32))
        return out

    def feedback_documents(self, ids):
        if self.break_it == "vectors":
            return [[] for _ in ids]
        return [[self.sharded.shards[s].doc_term_vectors([p])[0] for s, p in map(self.sharded.owner, map(int, gids))]
                for gids in ids]


def test_a_python_bm25_collection_runs_the_bm25_and_rm3_stages(scifact, setup):
    """The C++ bm25 and rm3 stages over a user-defined Bm25Collection (the shards) give the
    single index's rankings, scores=bm25 included; malformed answers are reported by name."""
    single, sharded = setup
    collection = ShardedCollection(sharded, len(scifact.corpus), single.k1, single.b, single.lucene_norms)
    queries = list(zip(scifact.queries.ids[:60], scifact.queries.texts[:60]))
    for spec in ("bm25 >> rm3 >> bm25", "bm25 >> rm3(scores=bm25,fb_docs=5) >> bm25(k=100)"):
        want = densefb.Pipeline(spec).run(Resources(corpus=scifact.corpus, bm25=single), queries, k=100).to_dict()
        got = densefb.Pipeline(spec).run(Resources(corpus=scifact.corpus, bm25=collection), queries, k=100).to_dict()
        assert got.keys() == want.keys()
        for q in want:
            assert list(got[q]) == list(want[q]), (spec, q)
            assert max(abs(got[q][d] - want[q][d]) for d in want[q]) <= 1e-6
    for broken, message in (("ids", "ShardedCollection.search returned document 1000000000"),
                            ("vectors", "ShardedCollection.feedback_documents returned 0 term vectors")):
        bad = ShardedCollection(sharded, len(scifact.corpus), single.k1, single.b, single.lucene_norms, broken)
        with pytest.raises(Exception, match=message):
            densefb.Pipeline("bm25 >> rm3 >> bm25").run(Resources(corpus=scifact.corpus, bm25=bad), queries, k=10)


def test_doc_term_vectors_use_collection_df(setup):
    single, sharded = setup
    shard = sharded.shards[2]
    local = 5
    gid = sharded.offsets[2] + local
    terms, tfs, dfs = shard.doc_term_vectors([local])[0]
    want = single.doc_vector(gid)
    assert dict(zip(terms, tfs)) == want
    assert dfs == [single.doc_freq(t) for t in terms]
    assert shard.doc_term_vectors([shard.doc_ids[local]]) == shard.doc_term_vectors([local])
    with pytest.raises(IndexError):
        shard.doc_term_vectors([shard.num_docs])


def test_bad_collection_stats_are_refused(setup):
    single, sharded = setup
    shard = sharded.shards[0]
    good = sharded.stats
    term = next(iter(shard.local_stats()["doc_freqs"]))
    missing = {**good, "doc_freqs": {t: v for t, v in good["doc_freqs"].items() if t != term}}
    with pytest.raises(ValueError, match=f'term "{term}".*missing'):
        shard.set_collection_stats(missing)
    small = {**good, "doc_freqs": {**good["doc_freqs"], term: 0}}
    with pytest.raises(ValueError, match=f'doc_freq of term "{term}" = 0 is smaller'):
        shard.set_collection_stats(small)
    with pytest.raises(ValueError, match="num_docs = 3 is smaller"):
        shard.set_collection_stats({**good, "num_docs": 3})
    with pytest.raises(ValueError, match="total_terms = -1 is negative"):
        shard.set_collection_stats({**good, "total_terms": -1})
    with pytest.raises(ValueError, match="missing key 'doc_freqs'"):
        shard.set_collection_stats({k: v for k, v in good.items() if k != "doc_freqs"})
    with pytest.raises(ValueError, match="shard 1: doc_freq of term \"x\" = -2 is negative"):
        merge_collection_stats([good, {**good, "doc_freqs": {"x": -2}}])
    # a refused call leaves the statistics as they were
    assert shard.avgdl == single.avgdl


def test_rm3_expand_is_checked():
    doc = (1.0, ["alpha", "beta"], [1, 2], [1, 1])
    assert rm3_expand([("alpha", 1.0)], [doc], 100) == rm3_expand({"alpha": 1.0}, [doc], 100)
    with pytest.raises(ValueError, match='feedback document 0: term "beta" is repeated'):
        rm3_expand([("alpha", 1.0)], [(1.0, ["beta", "beta"], [1, 1], [1, 1])], 100)
    with pytest.raises(ValueError, match=r'term "beta" has df = 101 outside \[1, num_docs = 100\]'):
        rm3_expand([("alpha", 1.0)], [(1.0, ["beta"], [1], [101])], 100)
    with pytest.raises(ValueError, match="one of each per term"):
        rm3_expand([("alpha", 1.0)], [(1.0, ["beta"], [1, 2], [1])], 100)
    with pytest.raises(ValueError, match="fb_terms = 0"):
        rm3_expand([("alpha", 1.0)], [doc], 100, fb_terms=0)


# ---- a Python feedback model returning weighted queries ------------------------------------------

class ShardedRm3(densefb.FeedbackModel):
    """RM3 whose feedback documents are read from shards: returns weighted BM25 queries."""

    def __init__(self, sharded, fb_docs):
        super().__init__()
        self.sharded, self.fb_docs = sharded, fb_docs
        self.depth_read = fb_docs
        self.seen = "not called"

    def refine(self, queries, scores, ids):
        self.seen = queries.bm25_queries
        # bm25 searched the texts without keeping an analysis: analyse them here (any shard's
        # analyser is the collection's)
        analysed = queries.bm25_queries or [list(self.sharded.shards[0].analyze_query(t).items())
                                            for t in queries.texts]
        return [self.sharded.rm3_query(analysed[q], (ids[q][ids[q] >= 0], scores[q][ids[q] >= 0]), self.fb_docs)
                for q in range(len(queries))]


class Capture(densefb.FeedbackModel):
    """Keeps the weighted queries it is given and passes them on unchanged."""

    def refine(self, queries, scores, ids):
        self.seen = queries.bm25_queries
        return queries.bm25_queries


def test_python_feedback_returning_weighted_queries(scifact, corpus):
    single = Bm25Index.build(scifact.corpus)
    texts, ids = corpus
    sharded = Sharded(texts, ids, True)
    model = ShardedRm3(sharded, RM3_DEFAULTS["fb_docs"])
    p = BM25(k=K) >> model >> BM25(k=K)
    run = p.run(Resources(bm25=single, corpus=scifact.corpus), scifact.queries, k=K)
    assert model.seen is None
    want = single.search_run(scifact.queries.texts, scifact.queries.ids, k=K, rm3={})
    got, exp = run.to_dict(), want.to_dict()
    assert got.keys() == exp.keys()
    for qid in exp:
        assert got[qid] == exp[qid], qid
    # after rm3 a Python stage sees the expansion, and what it returns is searched
    capture = Capture()
    again = (BM25(k=K) >> densefb.RM3() >> capture >> BM25(k=K)).run(Resources(bm25=single), scifact.queries, k=K)
    texts = scifact.queries.texts
    assert capture.seen == [list(single.rm3_query(t).items()) for t in texts]
    assert again.to_dict() == exp


class Returns(densefb.FeedbackModel):
    def __init__(self, value):
        super().__init__()
        self.value = value

    def refine(self, queries, scores, ids):
        return self.value(len(queries))


@pytest.mark.parametrize("value, message", [
    (lambda n: [[("a", 1.0)]] * (n + 1), "weighted queries for"),
    (lambda n: [[("a", float("nan"))]] * n, "query row 0; weights must be finite"),
    (lambda n: [[(1, 1.0)]] * n, "in query row 0; expected \\(term: str, weight: float\\)"),
    (lambda n: [[("a", 1.0)]] + [("b", 1.0)] * (n - 1), "query row 1"),
])
def test_python_feedback_weighted_queries_are_checked(scifact, value, message):
    single = Bm25Index.build([t for t in scifact.corpus.texts()[:200]])
    p = BM25(k=10) >> Returns(value) >> BM25(k=10)
    with pytest.raises(ValueError, match=message):
        p.run(Resources(bm25=single), scifact.queries, k=10)


def test_query_batch_has_no_bm25_queries_before_analysis():
    b = densefb.QueryBatch(["q"], ["text"], None, ["text"])
    assert b.bm25_queries is None
