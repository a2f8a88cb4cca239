"""Rank fusion and per-query score normalisation of runs (computed by the C++ core).

    from densefb.fusion import fuse, normalize
    hybrid = fuse([dense_run, bm25_run], "rrf", k=60, top=1000)
    mixed = fuse([dense_run, bm25_run], "interpolate", weights=[0.7, 0.3])

Formulas, defaults and how they differ from Pyserini, ranx and pyterrier-alpha: docs/fusion.md.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Dict, Optional, Sequence, Union

from densefb import _core
from densefb._core import Run
from densefb._spec import call_spec

__all__ = ["FUSION_METHODS", "NORMALIZATIONS", "fuse", "normalize"]

#: The built-in fusion methods (``densefb.stage_defaults(name)`` gives each one's parameters).
FUSION_METHODS = tuple(s["name"] for s in _core.pipeline_stages() if s["role"] == "fusion")
#: Accepted values of ``norm=`` / ``normalize(method=...)``.
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


def _method(method: Any, params: Dict[str, Any]) -> Any:
    """The fusion method as the core takes it: a spec string or a ``densefb.Fusion`` object."""
    from densefb.pipeline import FusionMethod  # pipeline imports this module

    if isinstance(method, (FusionMethod, _core.Fusion)):
        if params:
            raise TypeError(f"parameters {sorted(params)} go to the method object, not to fuse()")
        return method.spec if isinstance(method, FusionMethod) else method
    if not isinstance(method, str):
        raise TypeError(f"a fusion method is a name such as 'rrf', a densefb.RRF/Interpolate/..., or a "
                        f"densefb.Fusion, not {type(method).__name__}")
    if "(" in method:
        if params:
            raise TypeError(f"fusion method {method!r} already has its arguments; got {sorted(params)} too")
        return method
    if "normalization" in params:  # the older name of norm
        if "norm" in params:
            raise TypeError("give norm= or normalization=, not both")
        value = params.pop("normalization")
        params["norm"] = "none" if value is None else value
    return call_spec(method, params)


def fuse(runs: Sequence[RunLike], method: Any = "rrf", *, name: Optional[str] = None, **params: Any) -> Run:
    """Fuses runs query by query and returns a new :class:`densefb.Run`.

    The method is the registered fusion method of pipelines (``fuse(rrf(k=60), dense, bm25)``):
    the same object, parameters and defaults (:func:`densefb.stage_defaults` lists them). Each
    input list is first ranked (score descending, ties by doc id descending, as trec_eval ranks),
    normalised over the whole list (score methods) and cut to its best ``depth`` documents; the
    candidates of a query are the union of the lists. Queries are the union of the runs' queries
    (first run's order first); a query absent from a run is an empty list there.

    Args:
        runs: one or more ``densefb.Run``, ``{query id: {doc id: score}}`` dicts, or objects
            with a ``to_dict()`` giving such a dict (e.g. ``ranx.Run``).
        method: a method name (default ``"rrf"``), a method with its arguments
            (``"interpolate(weights=[0.3,0.7])"``), a :class:`densefb.RRF` / ``Interpolate`` /
            ``CombSUM`` / ``CombMNZ`` / ``CombMAX`` / ``Borda``, or a :class:`densefb.Fusion`
            subclass instance (user-defined; it receives per-query numbered candidates).
            Built-in names: ``"rrf"``: ``sum_i w_i / (k + rank_i(d))`` with 1-based ranks,
            absent documents add 0. ``"interpolate"`` (also ``"interpolation"``):
            ``sum_i w_i * x_i(d)``, ``x_i`` the normalised score or, for a document absent from
            list i, the ``missing`` fill. ``"combsum"``: ``sum`` of ``w_i * norm_i(s)`` over the
            lists containing d. ``"combmnz"``: combsum times the number of lists containing d.
            ``"combmax"``: the max of ``w_i * norm_i(s)`` over those lists. ``"borda"``: ranx's
            Borda count, ``C - rank + 1`` points in a list (C = number of candidates),
            ``(C - len(list) + 1) / 2`` when absent, weighted sum.
        name: the returned run's name (TREC tag); default: the method's canonical spec, e.g.
            ``"rrf(k=60,weights=[1,1],depth=0,top=0)"``.
        **params: the method's parameters, e.g. ``k`` (RRF constant, > 0; 60 as Cormack et al.,
            Pyserini and ranx; pyterrier-alpha ranks from 0, which equals k - 1 here),
            ``weights`` (one finite weight >= 0 per run; default all 1, so
            ``weights=[alpha, 1 - alpha]`` is Pyserini's interpolation), ``norm`` (per-query
            normalisation of score methods: ``"minmax"``, ``"zscore"`` (population std),
            ``"sum"`` (ranx's ``(s - min) / sum(s - min)``), ``"centered-minmax"`` (Pyserini's
            hybrid) or ``"none"``; ``normalization=`` is the older name), ``missing``
            (interpolation's fill: ``"zero"`` or ``"min"``, Pyserini's HybridSearcher), ``depth``
            (input lists cut to their best depth; 0 = all) and ``top`` (fused lists cut to top;
            0 = all, as ranx; Pyserini's fusion keeps 1000).

    Returns:
        A ``densefb.Run`` whose lists are stored best first (ties by doc id descending).

    Raises:
        ValueError: unknown method, parameter or value (the message names it and the column of
            the method spec), no runs, a weight count different from the number of runs, a
            non-finite weight or score, ``k <= 0``, negative depth or top, or a document listed
            twice for a query.
        TypeError: a run or method of an unsupported type.
    """
    if isinstance(runs, (Run, Mapping)):
        raise TypeError("fuse() takes a sequence of runs, e.g. fuse([run_a, run_b])")
    core_runs = [_as_run(r, i) for i, r in enumerate(runs)]
    if not core_runs:
        raise ValueError("fuse() needs at least one run")
    fused = _core.fuse_runs(core_runs, _method(method, dict(params)))
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
