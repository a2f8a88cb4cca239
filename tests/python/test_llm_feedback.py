"""Generative feedback (query2doc, HyDE, PromptPRF, LLM expansion terms) on SciFact queries with
a deterministic generator: each formula is recomputed here with numpy from the same generated
texts and the same encoder (or BM25 index scores), and the pipeline's ranking must match it."""
import re
import zlib

import numpy as np
import pytest

import densefb
from densefb import Encoder

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
NQ = 12


def words(text):
    return re.split(r"[ \t\n\v\f\r]+", text.strip(" \t\n\v\f\r"))


def fake_text(seed_text, sample=0, n=12):
    """Deterministic 'generated' text: words of the seed text picked by a hash."""
    w = words(seed_text)
    h = zlib.crc32(f"{sample}:{seed_text}".encode())
    return " ".join(w[(h + 7 * i) % len(w)] for i in range(n))


class Fake(densefb.Generator):
    """Answers from the text after the last 'Query:', 'Question:' or 'Passage:' line."""
    name = "fake"

    def __init__(self):
        super().__init__()
        self.calls = []

    def complete(self, prompts, options):
        out = []
        for p in prompts:
            self.calls.append((p, dict(options)))
            m = re.search(r"^(?:Query|Question|Passage): (.*)$", p, re.M)
            out.append(fake_text(m.group(1), options["sample"]))
        return out


@pytest.fixture(scope="module")
def enc():
    return Encoder.from_pretrained(MINILM)


@pytest.fixture(scope="module")
def sub(scifact):
    ids, texts = scifact.queries.ids[:NQ], scifact.queries.texts[:NQ]
    return ids, texts


@pytest.fixture(scope="module")
def doc_vectors(vectors):
    return vectors[0]


def top10(scores):
    order = np.argsort(-scores, kind="stable")[:10]
    return order, scores[order]


def check_run(run, qids, ref_scores, corpus_ids, atol=2e-4):
    d = run.to_dict()
    for qid, scores in zip(qids, ref_scores):
        order, s = top10(scores)
        got = sorted(d[qid].items(), key=lambda x: -x[1])
        assert [corpus_ids[i] for i in order[:5]] == [g[0] for g in got[:5]], qid
        np.testing.assert_allclose([g[1] for g in got], s, atol=atol)


def test_hyde_is_the_mean_of_query_and_passage_encodings(scifact, scifact_flat, enc, sub, doc_vectors):
    ids, texts = sub
    gen = Fake()
    res = densefb.Resources(corpus=scifact.corpus, dense_index=scifact_flat, encoder=enc, generator=gen)
    counters = {}
    run = (densefb.HyDE(n=3) >> densefb.Dense(k=10)).run(res, dict(zip(ids, texts)), k=10, counters=counters)
    # Three batches (one per sample), each with every query, at temperature 0.7.
    assert len(gen.calls) == 3 * NQ
    assert {o["sample"] for _, o in gen.calls} == {0, 1, 2}
    assert {o["temperature"] for _, o in gen.calls} == {0.7}
    (c,) = counters.values()
    assert c["calls"] == 3 * NQ and c["empty"] == 0
    q = enc.encode_queries(texts)
    ref = []
    for i, t in enumerate(texts):
        passages = [fake_text(t, s) for s in range(3)]
        v = (q[i] + enc.encode(passages).sum(0)) / 4
        ref.append(doc_vectors @ v)
    check_run(run, ids, ref, scifact.corpus.ids)


def test_query2doc_text_for_dense_and_for_bm25(scifact, scifact_flat, scifact_bm25, enc, sub, doc_vectors):
    ids, texts = sub
    gen = Fake()
    res = densefb.Resources(corpus=scifact.corpus, dense_index=scifact_flat, encoder=enc, generator=gen,
                            bm25=scifact_bm25)
    run = (densefb.Query2Doc() >> densefb.Dense(k=10)).run(res, dict(zip(ids, texts)), k=10)
    expanded = [f"{t} [SEP] {fake_text(t)}" for t in texts]
    ref = [doc_vectors @ v for v in enc.encode_queries(expanded)]
    check_run(run, ids, ref, scifact.corpus.ids)
    assert all(o["max_tokens"] == 128 for _, o in gen.calls)

    run = (densefb.Query2Doc(query_repeat=5, sep="") >> densefb.BM25(k=10)).run(res, dict(zip(ids, texts)), k=10)
    all_docs = np.arange(len(scifact.corpus))
    ref = [scifact_bm25.score(" ".join([t] * 5 + [fake_text(t)]), all_docs) for t in texts]
    check_run(run, ids, ref, scifact.corpus.ids, atol=1e-4)


def test_prompt_prf_mixes_feature_encodings_with_rocchio_weights(scifact, scifact_flat, enc, sub, doc_vectors):
    ids, texts = sub
    gen = Fake()
    res = densefb.Resources(corpus=scifact.corpus, dense_index=scifact_flat, encoder=enc, generator=gen)
    counters = {}
    run = (densefb.Dense(k=10) >> densefb.PromptPRF(k=3, alpha=0.6, beta=0.4) >> densefb.Dense(k=10)).run(
        res, dict(zip(ids, texts)), k=10, counters=counters)
    q = enc.encode_queries(texts)
    corpus_texts = scifact.corpus.texts()
    first = [np.argsort(-(doc_vectors @ v), kind="stable")[:3] for v in q]
    distinct = {int(d) for f in first for d in f}
    # One call per distinct feedback passage, whatever the number of queries that share it.
    (c,) = counters.values()
    assert c["calls"] == len(distinct) == len(gen.calls)
    ref = []
    for i in range(NQ):
        feats = [fake_text(" ".join(words(corpus_texts[d])[:300])) for d in first[i]]
        v = 0.6 * q[i] + 0.4 * enc.encode(feats).mean(0)
        ref.append(doc_vectors @ v)
    check_run(run, ids, ref, scifact.corpus.ids)
    # Defaults: Rocchio's weights.
    import inspect
    sig = inspect.signature(densefb.PromptPRF).parameters
    assert (sig["alpha"].default, sig["beta"].default) == (densefb.stage_defaults("rocchio")["alpha"],
                                                           densefb.stage_defaults("rocchio")["beta"])


def test_llm_terms_weight_generated_terms(scifact, scifact_bm25, sub):
    ids, texts = sub
    gen = Fake()
    res = densefb.Resources(corpus=scifact.corpus, bm25=scifact_bm25, generator=gen)
    run = (densefb.LLMTerms(term_weight=0.3) >> densefb.BM25(k=10)).run(res, dict(zip(ids, texts)), k=10)
    all_docs = np.arange(len(scifact.corpus))
    ref = []
    for t in texts:
        q = dict(scifact_bm25.analyze_query(t))
        for term, n in dict(scifact_bm25.analyze_query(fake_text(t))).items():
            q[term] = q.get(term, 0.0) + 0.3 * n
        ref.append(scifact_bm25.score(q, all_docs))
    check_run(run, ids, ref, scifact.corpus.ids, atol=1e-4)


def test_feedback_without_ranking_may_start_a_pipeline_but_prompt_prf_may_not(scifact):
    res = densefb.Resources(corpus=scifact.corpus)
    for spec in ("prompt_prf >> dense", "rerank_listwise >> dense"):
        with pytest.raises(ValueError, match="needs a ranking"):
            densefb.Pipeline(spec).run(res, {"q": "x"})
    for spec in ("hyde >> dense", "query2doc >> bm25"):  # fail later, for want of a generator
        with pytest.raises(ValueError, match="generator"):
            densefb.Pipeline(spec).run(res, {"q": "x"})
    with pytest.raises(ValueError, match="keywords, entities, summary, essay"):
        densefb.PromptPRF(feature="title")
