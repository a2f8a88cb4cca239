"""LLM relevance judgments, and agreement between two sets of judgments.

* :func:`judge` grades the unjudged documents of runs' top ``k`` with a generator, using the
  UMBRELA-style 0-3 prompt of ``rerank_pointwise(mode=grade)`` (``densefb.default_judge_prompt()``;
  3 = perfectly relevant, 2 = highly relevant, 1 = related, 0 = irrelevant), and returns the
  qrels: the given human judgments plus the generated ones.
* :func:`compare_qrels` compares two qrels sets: Cohen's kappa on the (query, document) pairs
  both judge, and Kendall's tau-b between the rankings of a set of runs that each induces under
  a measure (``densefb.stats.cohen_kappa`` / ``kendall_tau``, as sklearn and scipy compute them).

``densefb judge`` and ``densefb eval --compare-qrels`` are these on the command line.
"""
from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Sequence

from densefb import _core
from densefb.evaluation import _as_qrels, _as_run, evaluate

__all__ = ["judge", "compare_qrels", "default_judge_prompt"]


def default_judge_prompt() -> str:
    """The judging prompt (``{query}``, ``{passage}``): rerank_pointwise's grade prompt."""
    return _core.default_judge_prompt()


def judge(runs: Sequence[Any], corpus, queries, generator, *, k: int = 10, qrels=None,
          prompt: str = "", max_words: int = 300, max_tokens: int = 16) -> Dict[str, Any]:
    """Grades the unjudged documents of each run's top ``k`` per query with ``generator``.

    Args:
        runs: runs (:class:`densefb.Run`, dicts or TREC run paths).
        corpus: the :class:`densefb.Corpus` the runs' documents come from (passage texts).
        queries: a :class:`densefb.Queries` or ``{query id: text}``.
        generator: a :class:`densefb.Generator`.
        k: depth judged in each run (default 10).
        qrels: existing judgments (kept; their pairs are not asked again), or None.
        prompt: template with ``{query}`` and ``{passage}``; empty = :func:`default_judge_prompt`.

    Returns ``{"qrels": {qid: {docid: grade}}, "generated": n, "unparseable": n,
    "pairs": [(qid, docid), ...]}``: answers without a grade are left unjudged (counted).
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    texts = dict(zip(queries.ids, queries.texts)) if hasattr(queries, "ids") else dict(queries)
    human = _as_qrels(qrels).to_dict() if qrels is not None else {}
    out = {q: dict(d) for q, d in human.items()}
    pairs = []
    seen = set()
    for run in runs:
        for qid, docs in _as_run(run).to_dict().items():
            if qid not in texts:
                raise ValueError(f"query {qid!r} of a run is not among the queries")
            for doc, _ in sorted(docs.items(), key=lambda x: (-x[1], x[0]))[:k]:
                if (qid, doc) in seen or doc in human.get(qid, {}):
                    continue
                seen.add((qid, doc))
                pairs.append((qid, doc))
    all_texts = corpus.texts()
    passages = []
    for qid, doc in pairs:
        try:
            passages.append(all_texts[corpus.position(doc)])
        except KeyError:
            raise ValueError(f"document {doc!r} (query {qid!r}) is not in the corpus") from None
    grades, unparseable = _core.grade_pairs(generator, [texts[q] for q, _ in pairs], passages, prompt,
                                            max_words, max_tokens)
    generated = 0
    for (qid, doc), g in zip(pairs, grades):
        if g >= 0:
            out.setdefault(qid, {})[doc] = g
            generated += 1
    return {"qrels": out, "generated": generated, "unparseable": unparseable, "pairs": pairs}


def compare_qrels(a, b, runs: Optional[Mapping[str, Any]] = None, metric: str = "nDCG@10") -> Dict[str, Any]:
    """Agreement of two qrels sets.

    Returns ``{"pairs": n, "kappa": ..., "kappa_binary": ...}`` over the pairs both judge
    (``kappa_binary``: grades >= 1 against 0), and with ``runs`` (``{name: run}``) also
    ``"tau"``: Kendall's tau-b between the runs' mean ``metric`` under ``a`` and under ``b``,
    with both lists of scores.
    """
    qa, qb = _as_qrels(a).to_dict(), _as_qrels(b).to_dict()
    shared = [(q, d) for q in qa for d in qa[q] if d in qb.get(q, {})]
    out: Dict[str, Any] = {"pairs": len(shared)}
    if shared:
        ga = [int(qa[q][d]) for q, d in shared]
        gb = [int(qb[q][d]) for q, d in shared]
        out["kappa"] = _core.cohen_kappa(ga, gb)
        out["kappa_binary"] = _core.cohen_kappa([int(g >= 1) for g in ga], [int(g >= 1) for g in gb])
    else:
        out["kappa"] = out["kappa_binary"] = float("nan")
    if runs:
        names = list(runs)
        sa = [evaluate(runs[n], qa, [metric])[metric] for n in names]
        sb = [evaluate(runs[n], qb, [metric])[metric] for n in names]
        out.update(metric=metric, systems=names, scores_a=sa, scores_b=sb, tau=_core.kendall_tau(sa, sb))
    return out
