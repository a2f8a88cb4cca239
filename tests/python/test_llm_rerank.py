"""LLM rerankers on SciFact's dense top-100 with an oracle stand-in model that answers from the
qrels, and noisy versions of it.

* With the oracle, the sliding-window, FIRST and setwise rerankers reach the nDCG@10 of an oracle
  ordering of the candidates the windows cover (here all 100: windows of 20, 10 apart, from the
  bottom up, carry the best 10 to the top). The bound is computed here with numpy from the
  qrels, independently of densefb's evaluation.
* With 20% of the answers random they land strictly between dense retrieval and the bound.
* Cost counts are exact: one model call per window, the calls batched across queries.
"""
import math
import random
import re
import zlib

import numpy as np
import pytest

import densefb

K = 100
WS = re.compile(r"[ \t\n\v\f\r]+")


def words_key(text, n=12):
    """The first n words as the C++ stages split them (ASCII whitespace)."""
    return " ".join(WS.split(text.strip(" \t\n\v\f\r"))[:n])


@pytest.fixture(scope="module")
def setup(scifact, vectors, scifact_flat):
    _, Q = vectors
    qrels = scifact.qrels.to_dict()
    by_key = {}
    for pos, text in enumerate(scifact.corpus.texts()):
        by_key.setdefault(words_key(text), []).append(scifact.corpus.ids[pos])
    qid_by_text = {t: q for q, t in zip(scifact.queries.ids, scifact.queries.texts)}
    dense = densefb.Dense(k=K).run(densefb.Resources(corpus=scifact.corpus, dense_index=scifact_flat),
                                   scifact.queries, k=K, query_vectors=Q)
    return dict(qrels=qrels, by_key=by_key, qid_by_text=qid_by_text, dense=dense, Q=Q)


class Oracle:
    """Answers from the qrels: the grade of a shown passage is its document's grade for the
    prompt's query (0 if unjudged). With `noise`, that share of the answers (chosen by a hash of
    the prompt, so reruns agree) is random instead."""

    def __init__(self, setup, noise=0.0):
        self.s, self.noise = setup, noise
        self.batches = []

    def grade(self, qid, passage):
        docs = self.s["by_key"][words_key(passage)]
        return max(self.s["qrels"].get(qid, {}).get(d, 0) for d in docs)

    def noisy(self, prompt):
        r = random.Random(zlib.crc32(prompt.encode()))
        return r if r.random() < self.noise else None

    def parse(self, prompt):
        if prompt.startswith("Given the query"):
            query = re.match(r'Given the query "(.*)", which of the following', prompt).group(1)
            shown = re.findall(r"^Passage ([A-Z]): (.*)$", prompt, re.M)
        else:
            query = re.search(r"Search query: (.*)\.\n", prompt).group(1)
            shown = re.findall(r"^\[([A-Z0-9]+)\] (.*)$", prompt, re.M)
        qid = self.s["qid_by_text"][query]
        return [self.grade(qid, text) for _, text in shown]

    def complete(self, prompts, options):
        self.batches.append(len(prompts))
        out = []
        for p in prompts:
            grades = self.parse(p)
            order = sorted(range(len(grades)), key=lambda j: -grades[j])  # stable: ties keep order
            r = self.noisy(p)
            if r is not None:
                r.shuffle(order)
            if p.startswith("Given the query"):
                out.append("Passage " + "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[order[0]])
            else:
                out.append(" > ".join(f"[{j + 1}]" for j in order))
        return out

    def logprobs(self, prompts, labels, options):
        self.batches.append(len(prompts))
        out = []
        for p in prompts:
            grades = self.parse(p)
            r = self.noisy(p)
            out.append([r.random() if r is not None else float(g) for g in grades])
        return out


def make_generator(oracle):
    class G(densefb.Generator):
        name = "oracle"

        def complete(self, prompts, options):
            return oracle.complete(prompts, options)

        def logprobs(self, prompts, labels, options):
            return oracle.logprobs(prompts, labels, options)
    return G()


def ndcg10_bound(setup):
    """Mean nDCG@10 (trec_eval: linear gains, log2 discounts, ideal from all judgments) of the
    dense candidates sorted by their true grades."""
    qrels, dense = setup["qrels"], setup["dense"].to_dict()
    values = []
    for qid, judged in qrels.items():
        cands = dense.get(qid, {})
        gains = sorted((judged.get(d, 0) for d in cands), reverse=True)[:10]
        ideal = sorted(judged.values(), reverse=True)[:10]
        disc = 1 / np.log2(np.arange(2, 12))
        dcg = float(np.sum(np.array(gains, dtype=float) * disc[:len(gains)]))
        idcg = float(np.sum(np.array([g for g in ideal if g > 0], dtype=float) * disc[:len([g for g in ideal if g > 0])]))
        values.append(dcg / idcg if idcg > 0 else 0.0)
    return float(np.mean(values))


def run_stage(scifact, scifact_flat, setup, stage, oracle):
    gen = make_generator(oracle)
    res = densefb.Resources(corpus=scifact.corpus, dense_index=scifact_flat, generator=gen)
    counters = {}
    run = (densefb.Dense(k=K) >> stage).run(res, scifact.queries, k=K, query_vectors=setup["Q"],
                                            counters=counters)
    (stage_counters,) = counters.values()
    return run, stage_counters, gen.stats()


def ndcg10(run, setup):
    return densefb.evaluate(run, setup["qrels"], ["nDCG@10"])["nDCG@10"]


STAGES = {
    "listwise": lambda: densefb.ListwiseRerank(k=K),
    "first": lambda: densefb.FirstRerank(k=K),
    "setwise": lambda: densefb.SetwiseRerank(k=K),
}


@pytest.mark.parametrize("name", list(STAGES))
def test_oracle_reaches_the_bound_and_noise_lands_between(name, scifact, scifact_flat, setup):
    bound = ndcg10_bound(setup)
    dense = ndcg10(setup["dense"], setup)
    assert bound > dense + 0.1  # room to move (SciFact dense@10 ~0.65, its top-100 bound ~0.85)
    nq = len(scifact.queries)

    oracle = Oracle(setup)
    run, counters, stats = run_stage(scifact, scifact_flat, setup, STAGES[name](), oracle)
    assert ndcg10(run, setup) == pytest.approx(bound, abs=1e-9)
    # Every candidate kept once.
    d = run.to_dict()
    assert all(len(v) == K for v in d.values()) and len(d) == nq
    if name in ("listwise", "first"):
        # 9 windows per query over 100 candidates, round r of every query in one batch.
        windows = 1 + math.ceil((K - 20) / 10)
        assert counters["windows"] == stats["requests"] == windows * nq
        assert oracle.batches == [nq] * windows
        if name == "listwise":
            assert counters["unparseable"] == counters["repaired_missing"] == counters["repaired_duplicates"] == 0
    else:
        # Knockout tournament over 100 in sets of 4: 25 + 6 + 2 + 1 calls, then each of the other
        # 9 places replays the champion's path (1 to 4 calls).
        per_query = stats["requests"] / nq
        assert counters["comparisons"] == stats["requests"]
        assert 34 + 9 <= per_query <= 34 + 9 * 4
        assert oracle.batches[:4] == [25 * nq, 6 * nq, 2 * nq, 1 * nq]
        assert counters["unparseable"] == 0

    noisy = Oracle(setup, noise=0.2)
    run, counters, stats = run_stage(scifact, scifact_flat, setup, STAGES[name](), noisy)
    score = ndcg10(run, setup)
    assert dense < score < bound - 1e-6


def test_pointwise_grades_from_the_oracle_give_the_bound(scifact, scifact_flat, setup):
    class Grader(densefb.Generator):
        name = "grader"

        def complete(self, prompts, options):
            out = []
            for p in prompts:
                query = re.search(r"^Query: (.*)$", p, re.M).group(1)
                passage = re.search(r"^Passage: (.*)$", p, re.M).group(1)
                out.append(str(Oracle(setup).grade(setup["qid_by_text"][query], passage)))
            return out

    res = densefb.Resources(corpus=scifact.corpus, dense_index=scifact_flat, generator=Grader())
    counters = {}
    run = (densefb.Dense(k=K) >> densefb.PointwiseRerank(k=K, mode="grade")).run(
        res, scifact.queries, k=K, query_vectors=setup["Q"], counters=counters)
    assert ndcg10(run, setup) == pytest.approx(ndcg10_bound(setup), abs=1e-9)
    (c,) = counters.values()
    assert c["calls"] == K * len(scifact.queries) and c["unparseable"] == 0


def test_stage_signatures_and_specs():
    import inspect
    sig = inspect.signature(densefb.ListwiseRerank)
    assert [p for p in sig.parameters][:3] == ["k", "window", "step"]
    assert sig.parameters["window"].default == 20 and sig.parameters["step"].default == 10
    assert inspect.signature(densefb.SetwiseRerank).parameters["set_size"].default == 4
    assert inspect.signature(densefb.PointwiseRerank).parameters["mode"].default == "yes_no"
    assert str(densefb.FirstRerank(k=30)) .startswith("rerank_first(k=30,window=20,step=10")
    with pytest.raises(ValueError, match="step = 30 exceeds window = 20"):
        densefb.Pipeline("bm25 >> rerank_listwise(step=30)")
    with pytest.raises(ValueError, match=r"\{doc\}"):
        densefb.PointwiseRerank(prompt="{query} {doc}")


def test_missing_generator_and_failing_model_are_named(scifact, scifact_flat, setup):
    res = densefb.Resources(corpus=scifact.corpus, dense_index=scifact_flat)
    queries = {"q1": scifact.queries.texts[0]}
    with pytest.raises(Exception, match="generator"):
        (densefb.Dense(k=10) >> densefb.ListwiseRerank(k=10)).run(res, queries, k=10,
                                                                   query_vectors=setup["Q"][:1])

    class Down(densefb.Generator):
        def complete(self, prompts, options):
            raise ConnectionError("model server is down")

    res = densefb.Resources(corpus=scifact.corpus, dense_index=scifact_flat, generator=Down())
    with pytest.raises(Exception, match="model server is down"):
        (densefb.Dense(k=10) >> densefb.SetwiseRerank(k=10)).run(res, queries, k=10,
                                                                  query_vectors=setup["Q"][:1])
