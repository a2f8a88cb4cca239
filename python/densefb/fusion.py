"""Rank fusion and per-query score normalisation of runs (computed by the C++ core).

    from densefb.fusion import fuse, normalize
    hybrid = fuse([dense_run, bm25_run], method="rrf", k=60, top=1000)
    mixed = fuse([dense_run, bm25_run], method="interpolation", weights=[0.7, 0.3])

Formulas, defaults and how they differ from Pyserini, ranx and pyterrier-alpha: docs/fusion.md.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional, Sequence, Union

from densefb import _core
from densefb._core import Run

__all__ = ["FUSION_METHODS", "NORMALIZATIONS", "fuse", "normalize"]

#: Accepted values of ``fuse(method=...)``.
FUSION_METHODS = ("rrf", "interpolation", "combsum", "combmnz", "combmax", "borda")
#: Accepted values of ``normalization=`` / ``normalize(method=...)``.
NORMALIZATIONS = ("none", "minmax", "zscore", "sum", "centered-minmax")

RunLike = Union[Run, Mapping, Any]


def _as_run(run: RunLike, position: int) -> Run:
    if isinstance(run, Run):
        return run
    if isinstance(run, Mapping):
        return Run.from_dict({str(q): {str(d): float(s) for d, s in docs.items()} for q, docs in run.items()})
    if hasattr(run, "to_dict"):  # e.g. a ranx.Run
        return _as_run(run.to_dict(), position)
    raise TypeError(f"run {position} is a {type(run).__name__}; expected a densefb.Run or "
                    "a dict {query id: {doc id: score}}")


def fuse(
    runs: Sequence[RunLike],
    method: str = "rrf",
    k: float = 60,
    weights: Optional[Sequence[float]] = None,
    normalization: Optional[str] = "minmax",
    missing: str = "zero",
    depth: int = 0,
    top: int = 1000,
    name: Optional[str] = None,
) -> Run:
    """Fuses runs query by query and returns a new :class:`densefb.Run`.

    Each input list is first ranked (score descending, ties by doc id descending, as trec_eval
    ranks) and cut to its best ``depth`` documents; the candidates of a query are the union of
    the lists. Queries are the union of the runs' queries (first run's order first); a query
    absent from a run is an empty list there.

    Args:
        runs: one or more ``densefb.Run``, ``{query id: {doc id: score}}`` dicts, or objects
            with a ``to_dict()`` giving such a dict (e.g. ``ranx.Run``).
        method: ``"rrf"`` (default): ``sum_i w_i / (k + rank_i(d))`` with 1-based ranks, absent
            documents add 0. ``"interpolation"``: ``sum_i w_i * x_i(d)``, ``x_i`` the normalised
            score or, for a document absent from list i, the ``missing`` fill. ``"combsum"``:
            ``sum`` of ``w_i * norm_i(s)`` over the lists containing d. ``"combmnz"``: combsum
            times the number of lists containing d. ``"combmax"``: the max of ``w_i * norm_i(s)``
            over those lists. ``"borda"``: ranx's Borda count, ``C - rank + 1`` points in a list
            (C = number of candidates), ``(C - len(list) + 1) / 2`` when absent, weighted sum.
        k: RRF constant, > 0 (default 60, as Cormack et al., Pyserini and ranx). pyterrier-alpha
            ranks from 0, which equals k - 1 here. Used by ``"rrf"`` only.
        weights: one finite weight per run; None (default) means every weight is 1, so
            ``weights=[alpha, 1 - alpha]`` gives Pyserini's interpolation. Used by all methods.
        normalization: per-query normalisation of each list before score methods combine it:
            ``"minmax"`` (default; a list of equal scores becomes all 1.0), ``"zscore"``
            (population std; equal scores become 0), ``"sum"`` (``s / sum(s)``; sum 0 gives 0),
            ``"centered-minmax"`` (Pyserini's hybrid ``(s - (min+max)/2) / (max - min)``),
            ``"none"`` or None. Ignored by ``"rrf"`` and ``"borda"``.
        missing: what a document absent from a list contributes to ``"interpolation"``:
            ``"zero"`` (default) or ``"min"`` (that list's minimum normalised score, as
            Pyserini's HybridSearcher). Ignored by the other methods.
        depth: each input list is cut to its best ``depth`` documents first; 0 (default) = all.
        top: each fused list is cut to its best ``top`` documents; 0 = all; default 1000.
        name: the returned run's name (TREC tag); default: the method with every parameter,
            e.g. ``"rrf(k=60,weights=ones,depth=0,top=1000)"``.

    Returns:
        A ``densefb.Run`` whose lists are stored best first (ties by doc id descending).

    Raises:
        ValueError: unknown method / normalization / missing rule, no runs, a weight count
            different from the number of runs, a non-finite weight or score, ``k <= 0``,
            negative depth or top, or a document listed twice for a query.
        TypeError: a run of an unsupported type.
    """
    if isinstance(runs, (Run, Mapping)):
        raise TypeError("fuse() takes a sequence of runs, e.g. fuse([run_a, run_b])")
    core_runs = [_as_run(r, i) for i, r in enumerate(runs)]
    if not core_runs:
        raise ValueError("fuse() needs at least one run")
    if method not in FUSION_METHODS:
        raise ValueError(f"unknown fusion method {method!r}; expected one of {', '.join(FUSION_METHODS)}")
    fused = _core.fuse_runs(
        core_runs,
        method,
        float(k),
        None if weights is None else [float(w) for w in weights],
        "none" if normalization is None else normalization,
        missing,
        depth,  # checked by the core (an integer; 2.5 or True is refused, not truncated)
        top,
    )
    if name is not None:
        fused.name = name
    return fused


def normalize(run: RunLike, method: Optional[str] = "minmax") -> Run:
    """A copy of ``run`` whose every query's scores are normalised, in the stored order.

    Args:
        run: a ``densefb.Run``, a ``{query id: {doc id: score}}`` dict, or an object with
            ``to_dict()``.
        method: ``"minmax"`` (default), ``"zscore"``, ``"sum"``, ``"centered-minmax"`` or
            ``"none"``/None; formulas and degenerate cases as in :func:`fuse`. Each query is
            normalised over its whole list as given (no depth cut).

    Returns:
        A new ``densefb.Run`` with the same name, queries and documents.
    """
    return _core.normalize_run(_as_run(run, 0), "none" if method is None else method)
