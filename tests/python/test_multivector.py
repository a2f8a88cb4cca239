"""Multi-vector (ColBERT) index, MaxSim and ColBERT-PRF against numpy references on SciFact.

Token embeddings: the packaged all-MiniLM-L6-v2 used as a plain-BERT ColBERT encoder
(``format="bert"``, doc_maxlen 180, punctuation masked) over the first 500 SciFact documents
and the test queries, cached under build/test-cache. The references below are written out
here: MaxSim as ``sum_i w_i max_j <q_i, d_j>`` in float64, document frequencies by a direct
count, and ColBERT-PRF step by step (the documented k-means seeding and Lloyd iterations, the
10 nearest token embeddings by exhaustive search, the token vote, IDF ranking, expansion).
"""
import hashlib
import math
import os

import numpy as np
import pytest

import densefb
from densefb import ColbertPrf, MultiVectorIndex, maxsim_rerank

from conftest import CACHE, packaged_minilm

N_DOCS = 500
N_QUERIES = 24
DOC_MAXLEN = 180
QUERY_MAXLEN = 32


# ---- data -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def encoder():
    pytest.importorskip("torch")
    return densefb.ColbertEncoder.from_pretrained(packaged_minilm(), format="bert", doc_maxlen=DOC_MAXLEN,
                                                  query_maxlen=QUERY_MAXLEN, mask_punctuation=True)


@pytest.fixture(scope="module")
def tokens(scifact, encoder):
    """(doc vectors list, doc token ids list, query vectors list, query texts) on SciFact."""
    texts = scifact.corpus.texts()[:N_DOCS]
    queries = list(scifact.queries.texts[:N_QUERIES])
    key = hashlib.sha1("\x00".join(texts + queries + [f"minilm-bert-{DOC_MAXLEN}-{QUERY_MAXLEN}-punct"])
                       .encode()).hexdigest()[:16]
    path = CACHE / f"scifact_colbert_minilm_{N_DOCS}_{key}.npz"
    if path.exists():
        with np.load(path) as z:  # each z[...] reads the member again: read once
            off, qoff = z["offsets"], z["query_offsets"]
            vectors, all_ids, qv = z["vectors"], z["ids"], z["query_vectors"]
        docs = [vectors[off[i]:off[i + 1]] for i in range(len(off) - 1)]
        ids = [all_ids[off[i]:off[i + 1]] for i in range(len(off) - 1)]
        qs = [qv[qoff[i]:qoff[i + 1]] for i in range(len(qoff) - 1)]
        return docs, ids, qs, queries
    docs, ids = encoder.encode_documents_with_ids(texts, batch_size=32, show_progress=False)
    qs = encoder.encode_queries(queries, show_progress=False)
    CACHE.mkdir(parents=True, exist_ok=True)
    offsets = np.concatenate([[0], np.cumsum([len(d) for d in docs])]).astype(np.int64)
    qoffsets = np.concatenate([[0], np.cumsum([len(q) for q in qs])]).astype(np.int64)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, vectors=np.concatenate(docs), ids=np.concatenate(ids), offsets=offsets,
             query_vectors=np.concatenate(qs), query_offsets=qoffsets)
    os.replace(tmp, path)
    return docs, ids, qs, queries


@pytest.fixture(scope="module")
def excluded(encoder):
    return densefb.excluded_token_ids(encoder.model_dir)


@pytest.fixture(scope="module")
def index(tokens, excluded):
    docs, ids, _, _ = tokens
    idx = MultiVectorIndex(docs[0].shape[1])
    idx.add(docs, ids)
    idx.excluded_token_ids = excluded
    idx.build_token_index("flat")
    return idx


def ref_maxsim(q, d, w=None):
    if len(d) == 0 or len(q) == 0:
        return 0.0
    s = q.astype(np.float64) @ d.astype(np.float64).T
    best = s.max(axis=1)
    w = np.ones(len(q)) if w is None else np.asarray(w, dtype=np.float64)
    return float((w * best).sum())


# ---- the numpy reference of densefb's k-means ---------------------------------------------------

MASK64 = (1 << 64) - 1


class SplitMix64:
    def __init__(self, seed):
        self.state = seed & MASK64

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    def uniform(self):
        return (self.next() >> 11) / 2.0 ** 53


def ref_kmeans(points, k, seed=42, max_iter=300, tol=1e-4):
    """scikit-learn's KMeans (greedy k-means++, Lloyd, relative tol, strict convergence, empty
    clusters to the farthest points) with the SplitMix64 stream, in float64."""
    x = points.astype(np.float64)
    n, dim = x.shape
    k = min(k, n)
    rng = SplitMix64(seed)
    trials = 2 + int(math.log(k))
    centers = np.empty((k, dim))
    first = min(int(rng.uniform() * n), n - 1)
    centers[0] = x[first]
    closest = ((x - x[first]) ** 2).sum(axis=1)
    potential = np.cumsum(closest)[-1]
    for c in range(1, k):
        cums = np.cumsum(closest)
        best, best_pot, best_d = None, math.inf, None
        for _ in range(trials):
            r = rng.uniform() * potential
            cand = min(int(np.searchsorted(cums, r, side="left")), n - 1)
            d = np.minimum(closest, ((x - x[cand]) ** 2).sum(axis=1))
            pot = np.cumsum(d)[-1]
            if pot < best_pot:
                best, best_pot, best_d = cand, pot, d
        centers[c] = x[best]
        potential, closest = best_pot, best_d
    threshold = tol * x.var(axis=0).mean()
    sq = (x ** 2).sum(axis=1)
    old = np.full(n, -1)
    strict = False

    def assign(cs):
        dist = sq[:, None] - 2.0 * (x @ cs.T) + (cs ** 2).sum(axis=1)[None, :]
        lab = dist.argmin(axis=1)
        return lab, dist[np.arange(n), lab]

    for _ in range(max_iter):
        labels, mind = assign(centers)
        new = np.zeros_like(centers)
        np.add.at(new, labels, x)
        counts = np.bincount(labels, minlength=k)
        empty = np.flatnonzero(counts == 0)
        if len(empty):
            far = np.argsort(-mind, kind="stable")
            for e, c in enumerate(empty):
                p = far[e]
                new[labels[p]] -= x[p]
                counts[labels[p]] -= 1
                new[c] = x[p]
                counts[c] = 1
                labels[p] = c
        nz = counts > 0
        new[nz] /= counts[nz, None]
        shift = ((new - centers) ** 2).sum()
        centers = new
        if (labels == old).all():
            strict = True
            break
        if shift <= threshold:
            break
        old = labels.copy()
    if not strict:
        labels, _ = assign(centers)
    return centers.astype(np.float32), labels


def direct_df(ids, token):
    return sum(1 for d in ids if token in set(d.tolist()))


# ---- tests ----------------------------------------------------------------------------------

def test_maxsim_matches_numpy_on_scifact(index, tokens):
    docs, _, qs, _ = tokens
    rng = np.random.default_rng(0)
    for qi in range(5):
        cand = rng.choice(len(docs), 60, replace=False)
        got = index.score(qs[qi], cand)
        want = [ref_maxsim(qs[qi], docs[d]) for d in cand]
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)
        w = rng.uniform(0.1, 3.0, len(qs[qi])).astype(np.float32)
        got_w = index.score(qs[qi], cand, weights=w)
        np.testing.assert_allclose(got_w, [ref_maxsim(qs[qi], docs[d], w) for d in cand], rtol=1e-5, atol=1e-4)


def test_stored_tokens_and_idf(index, tokens):
    docs, ids, _, _ = tokens
    assert len(index) == N_DOCS
    assert index.num_tokens == sum(len(d) for d in docs)
    np.testing.assert_array_equal(index.token_ids, np.concatenate(ids))
    np.testing.assert_array_equal(index.document(7), docs[7])
    every = np.concatenate(ids)
    sample = np.unique(every)[::37]
    for t in sample.tolist() + [0, 999999]:
        df = direct_df(ids, t)
        assert index.document_frequency(t) == df
        assert index.idf(t) == pytest.approx(math.log((1 + N_DOCS) / (df + 1)), rel=1e-12)


def test_token_ids_match_the_tokenizer(encoder, scifact, tokens):
    """The ids the encoder reports are the WordPiece ids of the kept tokens (punctuation dropped)."""
    _, ids, _, _ = tokens
    transformers = pytest.importorskip("transformers")
    tok = transformers.AutoTokenizer.from_pretrained(str(packaged_minilm()))
    skip = {tok.convert_tokens_to_ids(c) for c in "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"}
    for d in (3, 17, 250):
        enc = tok(scifact.corpus.texts()[d], truncation=True, max_length=DOC_MAXLEN)["input_ids"]
        assert ids[d].tolist() == [i for i in enc if i not in skip]


def test_filtered_search(index, tokens):
    """A small allowed set is scored exhaustively (exact MaxSim top-k among it); a large one keeps
    the token candidates it allows: the unfiltered ranking's allowed documents."""
    docs, _, qs, _ = tokens
    q = qs[:8]
    n = len(index)
    rng = np.random.default_rng(3)
    few = [rng.choice(n, max(1, n // 40), replace=False) for _ in q]
    scores, got = index.search(q, k=10, token_k=64, filter=few)
    for i, qv in enumerate(q):
        exhaustive = np.array([ref_maxsim(qv, docs[d]) for d in few[i]])
        want = few[i][np.lexsort((few[i], -exhaustive))][:10]
        assert set(got[i][got[i] >= 0]) == set(want)
        np.testing.assert_allclose(scores[i][:len(want)], np.sort(exhaustive)[::-1][:10], rtol=1e-5, atol=1e-4)
    mask = rng.random((len(q), n)) < 0.5
    _, got = index.search(q, k=10, token_k=64, filter=mask)
    _, every = index.search(q, k=n, token_k=64)
    for i in range(len(q)):
        allowed = [d for d in every[i] if d >= 0 and mask[i, d]]
        np.testing.assert_array_equal(got[i][got[i] >= 0], allowed[:10])


def test_end_to_end_recall_vs_exhaustive(index, tokens):
    docs, _, qs, _ = tokens
    q = qs[:12]
    scores, got = index.search(q, k=10, token_k=64)
    recalls = []
    for i, qv in enumerate(q):
        exhaustive = np.array([ref_maxsim(qv, d) for d in docs])
        top = set(np.argsort(-exhaustive, kind="stable")[:10].tolist())
        recalls.append(len(top & set(got[i].tolist())) / 10)
        # Returned scores are exact MaxSim.
        np.testing.assert_allclose(scores[i], exhaustive[got[i]], rtol=1e-5, atol=1e-4)
    assert np.mean(recalls) >= 0.9, recalls
    # With every token row fetched, candidate generation is exhaustive.
    s_all, ids_all = index.search(q[:2], k=10, token_k=index.num_tokens)
    for i in range(2):
        exhaustive = np.array([ref_maxsim(q[i], d) for d in docs])
        np.testing.assert_allclose(s_all[i], np.sort(exhaustive)[::-1][:10], rtol=1e-5, atol=1e-4)


def test_candidates_are_documents_of_nearest_tokens(index, tokens):
    docs, _, qs, _ = tokens
    offsets = index.doc_offsets
    all_tokens = np.concatenate(docs).astype(np.float64)
    row_doc = np.searchsorted(offsets, np.arange(index.num_tokens), side="right") - 1
    cands = index.candidates(qs[:3], token_k=5)
    for i in range(3):
        sims = qs[i].astype(np.float64) @ all_tokens.T
        top = np.argsort(-sims, axis=1, kind="stable")[:, :5]
        assert set(cands[i].tolist()) == set(row_doc[top.ravel()].tolist())


def prf_pipeline(first: str, prf: str, then: str):
    return densefb.Pipeline(f"{first} >> {prf} >> {then}")


def test_deterministic_for_any_thread_count(index, tokens, encoder):
    _, _, qs, texts = tokens
    s1, i1 = index.search(qs, k=50, token_k=32, num_threads=1)
    res = densefb.Resources(multivector=index, token_encoder=encoder)
    ranker = prf_pipeline("maxsim(k=50,token_k=32)", "colbert_prf", "maxsim(k=50,token_k=32)")
    r1 = ranker.rank(res, texts, k=50, num_threads=1)
    for t in (2, 4):
        st, it = index.search(qs, k=50, token_k=32, num_threads=t)
        np.testing.assert_array_equal(it, i1)
        np.testing.assert_array_equal(st, s1)
        rt = ranker.rank(res, texts, k=50, num_threads=t)
        np.testing.assert_array_equal(rt[0], r1[0])
        np.testing.assert_array_equal(rt[1], r1[1])


def test_kmeans_matches_numpy_reference(index, tokens):
    docs, _, _, _ = tokens
    for first in (0, 10, 20):
        pts = np.concatenate(docs[first:first + 3])
        c, labels, _ = densefb.kmeans(pts, 24, seed=42)
        rc, rl = ref_kmeans(pts, 24, seed=42)
        np.testing.assert_array_equal(labels, rl)
        np.testing.assert_allclose(c, rc, atol=1e-6)
    c2, _, _ = densefb.kmeans(pts, 24, seed=7)
    assert not np.allclose(c2, c)  # the seed matters


@pytest.mark.parametrize("mode", ["rerank", "rank"])
def test_colbert_prf_matches_numpy_reference(index, tokens, excluded, encoder, mode):
    """The expansion step by step, and the pipelines built on it: the reranker
    ``maxsim(k=0) >> colbert_prf >> rerank_maxsim`` (the whole first-pass candidate set, as
    pyterrier_colbert) and the ranker ``maxsim >> colbert_prf >> maxsim``."""
    docs, ids, qs, texts = tokens
    fb_docs, k, fb_embs, beta = 3, 24, 10, 0.5
    prf = ColbertPrf(fb_docs=fb_docs, k=k, fb_embs=fb_embs, beta=beta)
    assert repr(prf) == "colbert_prf(fb_docs=3,k=24,fb_embs=10,beta=0.5,seed=42)"
    queries = qs[:8]
    _, first = index.search(queries, k=100, token_k=32)
    expanded, details = prf.expand(index, queries, first)
    all_tokens = np.concatenate(docs).astype(np.float64)
    all_ids = np.concatenate(ids)
    excluded_set = set(excluded)
    n = len(docs)
    spec = prf_pipeline("maxsim(k=0,token_k=32)" if mode == "rerank" else "maxsim(k=100,token_k=32)",
                        repr(prf), "rerank_maxsim" if mode == "rerank" else "maxsim(k=100,token_k=32)")
    _, got_ids = spec.rank(densefb.Resources(multivector=index, token_encoder=encoder), texts[:8], k=100)
    cands = index.candidates(queries, token_k=32)
    for qi, q in enumerate(queries):
        fb = np.concatenate([docs[d] for d in first[qi][:fb_docs]])
        centroids, _ = ref_kmeans(fb, k)
        np.testing.assert_allclose(details[qi]["centroids"], centroids, atol=1e-6)
        sims = centroids.astype(np.float64) @ all_tokens.T
        nearest = np.argsort(-sims, axis=1, kind="stable")[:, :10]
        toks, idfs = [], []
        for c in range(k):
            counts = {}
            for row in nearest[c]:
                t = int(all_ids[row])
                if t in excluded_set:
                    continue
                counts[t] = counts.get(t, 0) + 1
            tok = max(counts, key=counts.get) if counts else -1  # first met on ties
            toks.append(tok)
            idfs.append(math.log((1 + n) / (direct_df(ids, tok) + 1)) if tok >= 0 else 0.0)
        assert details[qi]["centroid_tokens"] == toks
        np.testing.assert_allclose(details[qi]["centroid_idf"], idfs, rtol=1e-12)
        order = sorted([c for c in range(k) if toks[c] >= 0], key=lambda c: -idfs[c])[:fb_embs]
        assert details[qi]["selected"] == order
        vectors, weights, exp_tokens = expanded[qi]
        want_vectors = np.concatenate([q, centroids[order]])
        want_weights = np.concatenate([np.ones(len(q)), beta * np.array([idfs[c] for c in order])])
        np.testing.assert_allclose(vectors, want_vectors, atol=1e-6)
        np.testing.assert_allclose(weights, want_weights, rtol=1e-6)
        assert exp_tokens.tolist() == [toks[c] for c in order]
        # Scores: weighted MaxSim of the expanded query over the whole first-pass candidate set
        # (rerank: every candidate of the original query's token_k nearest tokens) or over all
        # documents (rank, compared on the returned documents).
        ref = {d: ref_maxsim(want_vectors, docs[d], want_weights) for d in range(n)}
        pool = cands[qi] if mode == "rerank" else np.arange(n)
        want_order = sorted(pool.tolist(), key=lambda d: (-ref[d], d))
        got = got_ids[qi][:10].tolist()
        assert len(set(got) & set(want_order[:10])) >= 9
        if mode == "rerank":
            assert len(pool) > 100  # more than the cut first pass
            returned = got_ids[qi][got_ids[qi] >= 0].tolist()
            assert len(returned) == 100 and set(returned) <= set(pool.tolist())
            assert len(set(returned) & set(want_order[:100])) >= 98


def test_colbert_prf_reranker_scores_the_candidates_it_is_given(index, tokens, encoder):
    """``maxsim(k=0)`` keeps the whole candidate set, so ``maxsim(k=0) >> colbert_prf >>
    rerank_maxsim`` re-scores all of it (pyterrier_colbert's reranker, whose first pass is not
    cut); after a cut first pass the reranker re-scores just that list. token_k defaults to
    1000 (pyterrier_colbert's faiss_depth)."""
    _, _, qs, texts = tokens
    assert densefb.multivector.DEFAULT_TOKEN_K == 1000
    assert densefb.stage_defaults("maxsim")["token_k"] == 1000
    res = densefb.Resources(multivector=index, token_encoder=encoder)
    queries = texts[:6]
    cands = index.candidates(qs[:6], token_k=32)
    whole = prf_pipeline("maxsim(k=0,token_k=32)", "colbert_prf(beta=0.5)", "rerank_maxsim").rank(res, queries, k=0)
    _, shallow = index.search(qs[:6], k=20, token_k=32)
    cut = prf_pipeline("maxsim(k=20,token_k=32)", "colbert_prf(beta=0.5)", "rerank_maxsim").rank(res, queries, k=0)
    for i in range(len(queries)):
        assert set(whole[1][i][whole[1][i] >= 0].tolist()) == set(cands[i].tolist())
        assert set(cut[1][i][cut[1][i] >= 0].tolist()) == set(shallow[i].tolist())
        # the same expanded query scores both: a document's score does not depend on the depth
        both = dict(zip(whole[1][i].tolist(), whole[0][i].tolist()))
        for d, v in zip(cut[1][i].tolist(), cut[0][i].tolist()):
            assert v == both[d]
    with pytest.raises(ValueError, match="candidates"):
        ColbertPrf(candidates="all")


def test_maxsim_rerank_encodes_missing_documents(tokens, encoder, scifact):
    docs, ids, qs, _ = tokens
    texts = scifact.corpus.texts()[:N_DOCS]
    partial = MultiVectorIndex(docs[0].shape[1])
    partial.add(docs[:400], ids[:400])
    cand = [np.arange(380, 420), np.arange(390, 430)]
    with pytest.raises(KeyError, match="not in the multi-vector index"):
        maxsim_rerank(qs[:2], cand, index=partial)
    scores, got = maxsim_rerank(qs[:2], cand, index=partial, encoder=encoder, texts=texts)
    for i in range(2):
        ref = {d: ref_maxsim(qs[i], docs[d]) for d in cand[i]}
        np.testing.assert_allclose(scores[i], [ref[d] for d in got[i]], rtol=1e-4, atol=1e-3)
    # No index at all: everything encoded on the fly.
    s2, g2 = maxsim_rerank(qs[:1], [np.arange(5)], encoder=encoder, texts=texts, k=3)
    assert s2.shape == (1, 3)
    np.testing.assert_allclose(s2[0], sorted([ref_maxsim(qs[0], docs[d]) for d in range(5)], reverse=True)[:3],
                               rtol=1e-4, atol=1e-3)


def test_save_load_round_trip_and_corruption(index, tokens, tmp_path):
    docs, _, qs, _ = tokens
    path = tmp_path / "scifact.mvec"
    index.save(path)
    assert (tmp_path / "scifact.mvec.tokens").exists()
    loaded = MultiVectorIndex.load(path)
    assert loaded.memory_mapped and loaded.has_token_index
    assert len(loaded) == len(index) and loaded.num_tokens == index.num_tokens
    assert loaded.excluded_token_ids == index.excluded_token_ids
    np.testing.assert_array_equal(loaded.document(123), docs[123])
    a = index.search(qs[:4], k=20, token_k=16)
    b = loaded.search(qs[:4], k=20, token_k=16)
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_array_equal(a[0], b[0])
    with pytest.raises(FileNotFoundError):
        MultiVectorIndex.load(tmp_path / "missing.mvec")
    raw = path.read_bytes()
    (tmp_path / "trunc.mvec").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(OSError, match="trunc.mvec"):
        MultiVectorIndex.load(tmp_path / "trunc.mvec")
    flipped = bytearray(raw)
    flipped[len(raw) // 3] ^= 0x10
    (tmp_path / "flip.mvec").write_bytes(bytes(flipped))
    with pytest.raises(OSError, match="checksum"):
        MultiVectorIndex.load(tmp_path / "flip.mvec")


def test_bad_input_errors(index, tokens):
    docs, ids, qs, _ = tokens
    with pytest.raises(ValueError, match="dimensions"):
        index.score(np.zeros((3, 5), np.float32), [0])
    with pytest.raises(ValueError, match="weights"):
        index.score(qs[0], [0], weights=np.ones(len(qs[0]) + 1, np.float32))
    with pytest.raises(ValueError, match="fb_embs"):
        ColbertPrf(k=10, fb_embs=10)
    with pytest.raises(ValueError, match="mode"):
        ColbertPrf(mode="sideways")
    fresh = MultiVectorIndex(docs[0].shape[1])
    fresh.add(docs[:3], ids[:3])
    with pytest.raises(ValueError, match="token index"):
        fresh.search(qs[:1], k=5)
    with pytest.raises(ValueError, match="token ids"):
        fresh.add([docs[0]], [ids[0][:-1]])


def test_pipeline_stages(index, encoder, scifact, tokens):
    """maxsim, rerank_maxsim and colbert_prf as pipeline stages give what the expansion and exact
    MaxSim give."""
    if not hasattr(densefb, "Pipeline"):
        pytest.skip("no pipeline module")
    _, _, qs, qtexts = tokens
    # ColBERT-PRF is a feedback model: the reranker re-scores the whole first pass with the
    # expanded query (pyterrier_colbert's reranker), the ranker would retrieve again (>> maxsim).
    p = densefb.Pipeline.parse("maxsim(k=50,token_k=32) >> colbert_prf(beta=0.5) >> rerank_maxsim")
    assert densefb.Pipeline.parse(p.spec).spec == p.spec
    assert {"multivector", "token_encoder"} <= set(p.requires)
    res = densefb.Resources(corpus=scifact.corpus, token_encoder=encoder, multivector=index)
    pairs = [(f"q{i}", t) for i, t in enumerate(qtexts[:4])]
    run = p.run(res, pairs, k=10)
    _, first = index.search(qs[:4], k=50, token_k=32)
    expanded, _ = ColbertPrf(beta=0.5).expand(index, qs[:4], first)
    names = scifact.corpus.ids
    for i in range(4):
        vectors, weights, _ = expanded[i]
        exact = index.score(vectors, first[i], weights=weights)  # the expanded query over maxsim's 50
        want = [names[first[i][j]] for j in np.argsort(-exact, kind="stable")[:10]]
        got_ids = [d for d, _ in run.get(f"q{i}")]
        assert len(set(got_ids[:10]) & set(want)) >= 9
    # rerank_maxsim over maxsim's own list keeps its scores.
    r2 = densefb.Pipeline.parse("maxsim(k=20,token_k=32) >> rerank_maxsim").run(res, pairs[:2], k=20)
    r1 = densefb.Pipeline.parse("maxsim(k=20,token_k=32)").run(res, pairs[:2], k=20)
    for qid in ("q0", "q1"):
        a, b = dict(r1.get(qid)), dict(r2.get(qid))
        assert a.keys() == b.keys()
        for d in a:
            assert b[d] == pytest.approx(a[d], rel=1e-6)
    with pytest.raises(ValueError, match="fb_embs"):
        densefb.Pipeline.parse("maxsim >> colbert_prf(k=8,fb_embs=10)")
    with pytest.raises(ValueError, match="mode"):  # not a parameter of the feedback model
        densefb.Pipeline.parse("maxsim >> colbert_prf(mode=rerank)")
    # default candidate depth: token_k 1000 (pyterrier_colbert's faiss_depth); k = 0 keeps every
    # candidate, the set pyterrier_colbert's ColBERT-PRF reranker re-scores
    assert densefb.Pipeline.parse("maxsim").spec == "maxsim(k=1000,token_k=1000,ef_search=0)"
    assert densefb.Pipeline.parse("maxsim(k=0) >> colbert_prf >> rerank_maxsim").spec.startswith(
        "maxsim(k=0,token_k=1000,ef_search=0) >> colbert_prf(")


def test_live_updates_equal_a_fresh_index(tokens, excluded, tmp_path):
    """Random deletes, updates (token counts change) and adds, with the token index kept
    current: after every step, search, document frequencies, IDF and the ColBERT-PRF expansion
    equal those of a fresh index of the live documents (its positions mapped back to ids)."""
    docs, ids, qs, _ = tokens
    rng = np.random.default_rng(11)
    q = qs[:8]
    idx = MultiVectorIndex(docs[0].shape[1])
    idx.add(docs[:400], ids[:400])
    idx.excluded_token_ids = excluded
    idx.build_token_index("flat")
    live = {d: (docs[d], ids[d]) for d in range(400)}
    prf = ColbertPrf(fb_docs=3, k=16, fb_embs=8, beta=0.5)

    def fresh():
        order = sorted(live)
        f = MultiVectorIndex(docs[0].shape[1])
        f.add([live[d][0] for d in order], [live[d][1] for d in order])
        f.excluded_token_ids = excluded
        f.build_token_index("flat")
        return f, np.array(order)

    def check(step):
        f, order = fresh()
        s1, i1 = idx.search(q, k=10, token_k=64)
        s2, i2 = f.search(q, k=10, token_k=64)
        np.testing.assert_array_equal(i1, np.where(i2 >= 0, order[np.maximum(i2, 0)], -1), err_msg=f"step {step}")
        np.testing.assert_array_equal(s1, s2)
        assert idx.num_documents == len(live) and not np.isin(i1, idx_deleted).any()
        probe = np.unique(np.concatenate([live[d][1] for d in list(live)[:5]]))
        np.testing.assert_array_equal(idx.document_frequencies(probe), f.document_frequencies(probe))
        for t in probe[:5]:
            assert idx.idf(int(t)) == f.idf(int(t))
        _, d1 = prf.expand(idx, q[:3], i1[:3])
        _, d2 = prf.expand(f, q[:3], i2[:3])
        for a, b in zip(d1, d2):
            assert a["centroid_tokens"] == b["centroid_tokens"]
            np.testing.assert_array_equal(a["centroid_idf"], b["centroid_idf"])

    idx_deleted = []
    next_doc = 400
    for step in range(8):
        gone = rng.choice(sorted(live), 25, replace=False)
        idx.delete(gone)
        for d in gone:
            del live[int(d)]
        idx_deleted.extend(int(d) for d in gone)
        changed = rng.choice(sorted(live), 10, replace=False)
        # Other documents' tokens, scaled so that no token vector is an exact duplicate.
        src = rng.choice(len(docs), 10, replace=False)
        new_docs = [docs[s] * np.float32(1.0 + 0.01 * (j + 1)) for j, s in enumerate(src)]
        idx.update(changed, new_docs, [ids[s] for s in src])
        live.update({int(d): (v, ids[s]) for d, v, s in zip(changed, new_docs, src)})
        idx.add(docs[next_doc:next_doc + 12], ids[next_doc:next_doc + 12])
        live.update({next_doc + j: (docs[next_doc + j], ids[next_doc + j]) for j in range(12)})
        next_doc += 12
        check(step)
    assert idx.num_garbage_tokens > 0
    with pytest.raises(KeyError):
        idx.document(idx_deleted[0])
    with pytest.raises(KeyError):
        idx.delete([idx_deleted[0]])
    # Saved with its tombstones and garbage rows (format version 2), loaded back alike.
    idx.save(tmp_path / "live.mvec")
    loaded = MultiVectorIndex.load(tmp_path / "live.mvec")
    assert loaded.num_deleted == idx.num_deleted and loaded.has_token_index
    np.testing.assert_array_equal(loaded.search(q, k=10, token_k=64)[1], idx.search(q, k=10, token_k=64)[1])
    before = idx.search(q, k=10, token_k=64)
    idx.compact()
    assert idx.num_garbage_tokens == 0 and idx.num_tokens == sum(len(v[1]) for v in live.values())
    after = idx.search(q, k=10, token_k=64)
    np.testing.assert_array_equal(after[1], before[1])
    np.testing.assert_array_equal(after[0], before[0])
    check("compacted")


# ---- on a torch device ----------------------------------------------------------------------

def _devices():
    torch = pytest.importorskip("torch")
    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def assert_rankings_agree(s_ref, i_ref, s_got, i_got, near=2e-6):
    """Equal ids but where the reference's scores at the differing slots are near ties; scores
    within 1e-5."""
    np.testing.assert_allclose(s_got, s_ref, atol=1e-5, rtol=0)
    for q, j in np.argwhere(i_ref != i_got):
        row = list(i_ref[q])
        assert i_got[q, j] in row, (q, j)
        assert abs(s_ref[q, row.index(i_got[q, j])] - s_ref[q, j]) < near, (q, j)


def test_torch_token_collection_gives_the_host_results(index, tokens, encoder):
    """Candidate generation, MaxSim, token statistics and both ColBERT-PRF pipelines on the
    device copy give the host index's results (exact token index), on every device present."""
    docs, ids, qs, texts = tokens
    host_res = densefb.Resources(multivector=index, token_encoder=encoder)
    reranker = prf_pipeline("maxsim(k=50,token_k=32)", "colbert_prf(beta=0.5)", "rerank_maxsim")
    ranker = prf_pipeline("maxsim(k=50,token_k=32)", "colbert_prf", "maxsim(k=50,token_k=32)")
    want = {p: p.rank(host_res, texts, k=20) for p in (reranker, ranker)}
    all_ids = np.unique(np.concatenate(ids))
    for device in _devices():
        dc = index.to_device(device, rerank_block=37)
        assert isinstance(dc, densefb.TorchTokenCollection) and dc.device == device
        assert (dc.size, dc.num_documents, dc.num_tokens, dc.dim) == (len(index), index.num_documents,
                                                                      index.num_tokens, index.dim)
        assert np.array_equal(dc.document_frequencies(all_ids), index.document_frequencies(all_ids))
        q_all = np.concatenate(qs[:6])
        hs, hr, hd, ht = index.neighbours(q_all, k=40)
        ds, dr, dd, dt = dc.neighbours(q_all, k=40)
        assert_rankings_agree(hs, hr, ds, dr)
        same = dr == hr
        assert np.array_equal(dd[same], hd[same]) and np.array_equal(dt[same], ht[same])
        _, first = index.search(qs, k=100, token_k=32)
        assert_rankings_agree(*index._impl.rerank(qs, None, first), *dc.rerank(qs, None, first))
        for i in (0, 3):
            assert all(np.array_equal(a, b) for a, b in zip(dc.documents(first[i][:5]), index.documents(first[i][:5])))
        res = densefb.Resources(multivector=dc, token_encoder=encoder)
        for p, (ws, wi) in want.items():
            gs, gi = p.rank(res, texts, k=20)
            assert_rankings_agree(ws, wi, gs, gi)


def test_torch_token_collection_snapshot_deleted_documents_and_memory(tokens):
    docs, ids, qs, _ = tokens
    host = MultiVectorIndex(docs[0].shape[1])
    host.add(docs[:60], ids[:60])
    host.delete(np.array([3, 7]))
    dc = host.to_device("cpu")
    assert dc.num_documents == 58 and dc.size == 60
    assert dc.num_tokens == sum(len(d) for i, d in enumerate(docs[:60]) if i not in (3, 7))
    with pytest.raises(KeyError, match="deleted"):
        dc.documents(np.array([7]))
    cands = [np.arange(60)] * 2
    s, got = dc.rerank(qs[:2], None, cands)
    assert 3 not in got and 7 not in got
    assert_rankings_agree(*host._impl.rerank(qs[:2], None, cands), s, got)
    host.delete(np.array([10]))  # a snapshot: the device copy still has document 10
    assert 10 in dc.rerank(qs[:1], None, [np.array([10])])[1]
    live = dc.num_tokens - len(docs[10])
    with pytest.raises(MemoryError, match=f"{live} vectors of dim 384 need {live * 384 * 4} bytes"):
        host.to_device("cpu", memory_limit=1000)
