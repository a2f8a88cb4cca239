"""Interoperability: pandas DataFrames in PyTerrier's column convention, and torch tensors.

DataFrames (pandas is optional; imported only by these functions):

* runs (PyTerrier "R" frames): columns ``qid, docno, score, rank``; ``qid``/``docno`` strings,
  ``score`` float64, ``rank`` int64 starting at 0 (PyTerrier's ``FIRST_RANK``), each query's
  rows ordered by rank, i.e. by score descending with ties by document id descending
  (trec_eval's order, the order of :func:`densefb.write_trec_run`);
* qrels: ``qid, docno, label``; queries (topics): ``qid, query``.

``Run.to_dataframe()``, ``Run.from_dataframe(df)``, ``Qrels.to_dataframe()`` and
``Qrels.from_dataframe(df)`` are the same functions as methods.

Torch tensors: every function of densefb that takes a float32 or int64 array (``index.add``,
``index.search``, ``model.refine``, ``make_run``, ...) also takes a CPU ``torch.Tensor``. A
C-contiguous tensor of the right dtype is read in place through ``Tensor.__array__`` (no
copy); other layouts or dtypes are converted once. A tensor that requires grad is read
detached, and a CUDA tensor (any non-CPU device) is copied to host memory once (indexes live
there).
Results are numpy arrays; ``torch.from_numpy(a)`` (or :func:`as_tensor`) wraps one without a
copy.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

import numpy as np

from densefb._core import Qrels, Queries, Run

if TYPE_CHECKING:  # pragma: no cover
    import pandas

__all__ = [
    "as_tensor",
    "qrels_from_dataframe",
    "qrels_to_dataframe",
    "queries_to_dataframe",
    "run_from_dataframe",
    "run_to_dataframe",
]


def _pandas():
    try:
        import pandas
    except ImportError as error:  # pragma: no cover - pandas is installed in development
        raise ImportError("DataFrame conversion needs pandas (pip install pandas)") from error
    return pandas


def _require_columns(df, needed, what: str) -> None:
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise ValueError(f"{what} DataFrame lacks column(s) {', '.join(missing)} "
                         f"(has: {', '.join(map(str, df.columns))})")


def run_to_dataframe(run: Run) -> "pandas.DataFrame":
    """A run as a PyTerrier result frame: columns ``qid, docno, score, rank``.

    Queries in the run's order; within a query, rows sorted by score descending, ties by
    document id descending (trec_eval's order), ``rank`` 0, 1, 2, ... (PyTerrier's convention:
    the first rank is 0). The run itself is not modified.
    """
    pd = _pandas()
    qids, docnos, scores, ranks = [], [], [], []
    for qid in run.query_ids:
        entries = sorted(run.get(qid), key=lambda e: (e[1], e[0]), reverse=True)
        qids.extend([qid] * len(entries))
        docnos.extend(e[0] for e in entries)
        scores.extend(e[1] for e in entries)
        ranks.extend(range(len(entries)))
    return pd.DataFrame({"qid": pd.Series(qids, dtype=object), "docno": pd.Series(docnos, dtype=object),
                         "score": np.asarray(scores, dtype=np.float64),
                         "rank": np.asarray(ranks, dtype=np.int64)})


def run_from_dataframe(df: "pandas.DataFrame", name: str = "densefb") -> Run:
    """A :class:`densefb.Run` from a frame with columns ``qid, docno, score`` (e.g. PyTerrier's
    ``transform`` output; other columns such as ``rank``, ``query``, ``docid`` are ignored).

    ``qid`` and ``docno`` are converted to strings (as PyTerrier's
    ``coerce_dataframe_types``). Queries keep their first-appearance order, rows their order
    within a query. The scores define the ranking (evaluation re-sorts as trec_eval does).

    Raises:
        ValueError: a missing column, a missing (NaN) value, or a document listed twice for
            one query.
    """
    _require_columns(df, ("qid", "docno", "score"), "run")
    frame = df[["qid", "docno", "score"]]
    if frame.isna().any().any():
        column = next(c for c in ("qid", "docno", "score") if frame[c].isna().any())
        raise ValueError(f"run DataFrame has missing values in column {column!r}")
    run = Run()
    run.name = name
    qids = frame["qid"].astype(str).to_numpy()
    docnos = frame["docno"].astype(str).to_numpy()
    scores = frame["score"].to_numpy(dtype=np.float64)
    order = {}
    for i, qid in enumerate(qids):
        order.setdefault(qid, []).append(i)
    for qid, rows in order.items():
        docs = docnos[rows].tolist()
        if len(set(docs)) != len(docs):
            seen = set()
            dup = next(d for d in docs if d in seen or seen.add(d))
            raise ValueError(f"run DataFrame lists document {dup!r} twice for query {qid!r}")
        run.add(qid, docs, scores[rows].tolist())
    return run


def qrels_to_dataframe(qrels: Qrels) -> "pandas.DataFrame":
    """Judgments as a PyTerrier qrels frame: columns ``qid, docno, label`` (label int64)."""
    pd = _pandas()
    rows = [(qid, doc, grade) for qid, docs in qrels.to_dict().items() for doc, grade in docs.items()]
    return pd.DataFrame({"qid": pd.Series([r[0] for r in rows], dtype=object),
                         "docno": pd.Series([r[1] for r in rows], dtype=object),
                         "label": np.asarray([r[2] for r in rows], dtype=np.int64)})


def qrels_from_dataframe(df: "pandas.DataFrame") -> Qrels:
    """A :class:`densefb.Qrels` from a frame with columns ``qid, docno, label`` (PyTerrier's
    qrels); a pair given twice keeps its last label, as trec_eval does.

    Raises:
        ValueError: a missing column or value, or a label that is not an integer.
    """
    _require_columns(df, ("qid", "docno", "label"), "qrels")
    frame = df[["qid", "docno", "label"]]
    if frame.isna().any().any():
        raise ValueError("qrels DataFrame has missing values")
    labels = frame["label"].to_numpy()
    if labels.dtype.kind not in "iu":
        if labels.dtype.kind != "f" or not np.all(np.equal(np.mod(labels, 1), 0)):
            raise ValueError(f"qrels labels must be integers, got dtype {labels.dtype}")
        labels = labels.astype(np.int64)
    qrels = Qrels()
    for qid, doc, label in zip(frame["qid"].astype(str), frame["docno"].astype(str), labels.tolist()):
        qrels.set(qid, doc, int(label))
    return qrels


def queries_to_dataframe(queries: Queries) -> "pandas.DataFrame":
    """Queries as a PyTerrier topics frame: columns ``qid, query``."""
    pd = _pandas()
    return pd.DataFrame({"qid": pd.Series(list(queries.ids), dtype=object),
                         "query": pd.Series(list(queries.texts), dtype=object)})


def as_tensor(array: Any, device: Optional[str] = None):
    """A torch tensor over a numpy array's memory (``torch.from_numpy``: no copy), optionally
    moved to ``device`` (a copy, e.g. ``"cuda"``)."""
    import torch

    tensor = torch.from_numpy(np.asarray(array))
    return tensor if device is None else tensor.to(device)


# The conversions as methods of the C++ classes.
Run.to_dataframe = run_to_dataframe
Run.from_dataframe = staticmethod(run_from_dataframe)
Qrels.to_dataframe = qrels_to_dataframe
Qrels.from_dataframe = staticmethod(qrels_from_dataframe)
Queries.to_dataframe = queries_to_dataframe
