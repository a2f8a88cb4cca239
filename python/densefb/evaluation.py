"""Evaluation of runs against relevance judgments, computed exactly as trec_eval does.

The work happens in C++ (``densefb._core.evaluate``); this module only converts inputs:
runs and qrels may be densefb objects, pytrec_eval-style dicts, or file paths.

Conventions (as trec_eval, pytrec_eval and ir_measures): each query's documents are ranked
by score descending, ties by document id descending (the run's own order is ignored); only
queries in both the run and the qrels are evaluated, unless ``average_over_qrels`` (trec_eval
``-c``) makes every qrels query count, missing ones as 0; ``rel_level`` (trec_eval ``-l``) is
the grade from which a document is relevant for AP, R, P and RR, while nDCG uses the raw
grades as gains. Judged@k follows ir_measures (see ``include/densefb/eval.h``).
"""
from __future__ import annotations

import os
from typing import Dict, Iterable, Mapping, Tuple, Union

from densefb import _core
from densefb._core import Measure
from densefb.data import Qrels, Run, read_qrels, read_trec_run

__all__ = ["Measure", "evaluate"]

RunLike = Union[Run, Mapping[str, Mapping[str, float]], str, "os.PathLike[str]"]
QrelsLike = Union[Qrels, Mapping[str, Mapping[str, int]], str, "os.PathLike[str]"]
MetricsLike = Union[str, Measure, Iterable[Union[str, Measure]]]
PerQuery = Dict[str, Dict[str, float]]


def _plain_dict(d: Mapping) -> dict:
    """A dict of dicts, as the C++ from_dict expects (other mappings are copied)."""
    if type(d) is dict and all(type(v) is dict for v in d.values()):
        return d
    return {q: dict(docs) for q, docs in d.items()}


def _as_run(run: RunLike) -> Run:
    if isinstance(run, Run):
        return run
    if isinstance(run, Mapping):
        return Run.from_dict(_plain_dict(run))
    if isinstance(run, (str, os.PathLike)):
        return read_trec_run(run)
    raise TypeError(f"run must be a densefb.Run, a dict {{qid: {{docid: score}}}} or a path, "
                    f"not {type(run).__name__}")


def _as_qrels(qrels: QrelsLike) -> Qrels:
    if isinstance(qrels, Qrels):
        return qrels
    if isinstance(qrels, Mapping):
        return Qrels.from_dict(_plain_dict(qrels))
    if isinstance(qrels, (str, os.PathLike)):
        return read_qrels(qrels)  # TREC qrels or BEIR .tsv, told apart by the first line
    raise TypeError(f"qrels must be a densefb.Qrels, a dict {{qid: {{docid: grade}}}} or a path, "
                    f"not {type(qrels).__name__}")


def _metric_names(metrics: MetricsLike) -> list:
    if isinstance(metrics, (str, Measure)):
        metrics = [metrics]
    names = [str(m) if isinstance(m, Measure) else m for m in metrics]
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"a metric must be a name or a Measure, not {type(name).__name__}")
    if not names:
        raise ValueError("no metric given")
    return names


def evaluate(run: RunLike, qrels: QrelsLike, metrics: MetricsLike, *, rel_level: int = 1,
             average_over_qrels: bool = False, per_query: bool = False
             ) -> Union[Dict[str, float], Tuple[Dict[str, float], PerQuery]]:
    """Evaluates a run against relevance judgments, with trec_eval's exact conventions.

    Args:
        run: a :class:`densefb.Run`, a dict ``{qid: {docid: score}}`` (pytrec_eval's
            convention) or the path of a TREC run file (``qid Q0 docid rank score tag``).
        qrels: a :class:`densefb.Qrels`, a dict ``{qid: {docid: grade}}`` or the path of TREC
            qrels (``qid iter docid grade``) or a BEIR qrels .tsv (with its header line).
        metrics: one name or a list, in ir_measures notation (``"nDCG@10"``, ``"AP"``,
            ``"AP@100"``, ``"RR@10"``, ``"R@100"``, ``"P@5"``, ``"Judged@10"``,
            ``"AP(rel=2)"``, ``"R(rel=2)@1000"``) or trec_eval's (``"ndcg_cut_10"``, ``"map"``,
            ``"recip_rank"``, ``"recall_100"``, ``"P_10"``); :class:`Measure` objects work too.
        rel_level: the grade from which a document is relevant (trec_eval ``-l``); applies to
            AP, R, P and RR unless the measure names its own ``rel``. nDCG ignores it.
        average_over_qrels: average over every qrels query, those missing from the run
            scoring 0 (trec_eval ``-c``); by default only queries in both are averaged.
        per_query: also return the value of each metric on each evaluated query.

    Returns:
        ``{metric: mean}`` keyed by the names as given, or with ``per_query=True`` the pair
        ``(means, {qid: {metric: value}})`` with queries in qrels order.

    Raises:
        ValueError: an unknown or malformed metric name, a NaN score or a document listed
            twice for one query, a ``rel_level`` below 1, or a malformed file.
        FileNotFoundError: a path that does not exist.
    """
    names = _metric_names(metrics)
    result = _core.evaluate(_as_run(run), _as_qrels(qrels), names, rel_level=rel_level,
                            average_over_qrels=average_over_qrels)
    means = dict(zip(names, result.mean))
    if not per_query:
        return means
    rows = {qid: dict(zip(names, values))
            for qid, values in zip(result.query_ids, result.per_query)}
    return means, rows
