"""Dense vector pseudo-relevance feedback (computed by the C++ core, GIL released).

Pyserini's ``--prf-method avg`` and ``--prf-method rocchio`` (``pyserini/search/faiss/_prf.py``):
new query vectors from the vectors stored in the index for the first-pass results, then a
second search::

    from densefb.feedback import AveragePrf, RocchioPrf, prf_search
    scores, ids = prf_search(index, query_vectors, AveragePrf(k=3), k=1000)   # "Average PRF 3"
    model = RocchioPrf(alpha=0.4, beta=0.6, topk=5)       # "Rocchio PRF 5 A0.4 B0.6"
    first_scores, first_ids = index.search(query_vectors, k=5)
    new_q = model.refine(query_vectors, first_ids, index)  # (n, d) float32

First-pass lists: row i of the id matrix is query i's list, best first; ``-1`` entries
(padding) are skipped. A list shorter than the feedback depth uses what it has; a query with no
feedback document keeps its vector unchanged. Document vectors are those stored in the index,
exactly as added (for a cosine index: not normalised). q' is not re-normalised unless
``normalize=True`` (Pyserini: not re-normalised).
"""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from densefb import _core

__all__ = ["VectorFeedback", "AveragePrf", "RocchioPrf", "prf_search"]

VectorFeedback = _core.VectorFeedback


class _RefineMixin:
    def refine(self, query_vectors, first_pass_ids, index) -> np.ndarray:
        """New query vectors.

        Args:
            query_vectors: (n, d) float32 array (or one (d,) vector).
            first_pass_ids: (n, depth) int64 ids of each query's first-pass list, best first,
                e.g. the ids returned by ``index.search(query_vectors, k=depth)``; -1 = padding.
            index: the ``densefb.FlatIndex`` / ``densefb.HnswIndex`` holding the documents.

        Returns:
            (n, d) float32 array (a (d,) array for a 1-d input).

        Raises:
            ValueError: wrong dimensions, non-finite values or an invalid parameter.
            KeyError: an id (other than -1) that the index does not hold.
        """
        return self._refine(index, query_vectors, first_pass_ids)

    @property
    def name(self) -> str:
        """Every parameter, for run provenance (same as ``str(model)``)."""
        return str(self)


class AveragePrf(_RefineMixin, _core.AveragePrf):
    """Average vector PRF: ``q' = (q + d_1 + ... + d_k') / (k' + 1)``.

    Pyserini ``--prf-method avg --prf-depth k`` ("Average PRF 3" is k=3); PyTerrier
    ``pyterrier_dr.AveragePrf(k)``.

    Args:
        k: number of first-pass documents averaged with the query (>= 1; default 3).
            k' = min(k, length of the query's first-pass list without -1 padding); with no
            document the query is unchanged.
        normalize: L2-normalise q' afterwards (default False, as Pyserini).

    Methods: ``refine(query_vectors, first_pass_ids, index)``; ``required_depth`` (= k) is the
    first-pass depth read; ``str(model)`` lists every parameter, e.g.
    ``avg(k=3,normalize=false)``.
    """

    def __init__(self, k: int = 3, normalize: bool = False):
        super().__init__(k, bool(normalize))  # k checked by the core: an integer, never truncated
        self.validate()


class RocchioPrf(_RefineMixin, _core.RocchioPrf):
    """Rocchio vector PRF:
    ``q' = alpha*q + beta*mean(positives) - gamma*mean(negatives)``.

    Pyserini ``--prf-method rocchio``; the defaults are Pyserini's CLI defaults. Its published
    setting "Rocchio PRF 5 A0.4 B0.6" is ``RocchioPrf(alpha=0.4, beta=0.6, topk=5)``; the
    setting with negatives of Pyserini PR #1108 is
    ``RocchioPrf(alpha=0.4, beta=0.6, gamma=0.6, topk=5, bottomk=5, depth=1000)``.

    Let L be the query's first-pass list (best first, -1 padding skipped) cut to its first
    ``depth`` entries. Positives are the first ``topk`` of L, negatives the last ``bottomk`` of
    L (the tail of the first-pass list of depth ``depth``, not of the final ranking); a shorter
    L uses what it has, and the two sets overlap when ``len(L) < topk + bottomk`` (as in
    Pyserini). With an empty L the query is unchanged.

    Args:
        alpha: weight of the original query vector (default 0.9).
        beta: weight of the mean of the positive document vectors (default 0.1).
        gamma: weight of the mean of the negative document vectors, subtracted; used only when
            bottomk > 0 (default 0.1).
        topk: number of positives, the first topk of the list (>= 1; default 3).
        bottomk: number of negatives, the last bottomk of the list of depth ``depth``
            (>= 0; default 0 = no negatives).
        depth: first-pass depth the list is cut to before taking positives and negatives
            (default 0 = the whole list given); if > 0, topk and bottomk must not exceed it.
        normalize: L2-normalise q' afterwards (default False, as Pyserini).

    Methods: ``refine(query_vectors, first_pass_ids, index)``; ``required_depth`` (depth, or
    max(topk, bottomk) when depth is 0); ``str(model)`` lists every parameter, e.g.
    ``rocchio(alpha=0.9,beta=0.1,gamma=0.1,topk=3,bottomk=0,depth=0,normalize=false)``.
    """

    def __init__(self, alpha: float = 0.9, beta: float = 0.1, gamma: float = 0.1, topk: int = 3,
                 bottomk: int = 0, depth: int = 0, normalize: bool = False):
        # Integer parameters are checked by the core (a float or bool is refused, naming it).
        super().__init__(float(alpha), float(beta), float(gamma), topk, bottomk, depth,
                         bool(normalize))
        self.validate()


def prf_search(index, query_vectors, model, first_k: Optional[int] = None, k: int = 1000,
               rerank: bool = False, num_threads: int = 0, ef_search: int = 0
               ) -> Tuple[np.ndarray, np.ndarray]:
    """Dense retrieval with vector PRF: first pass, feedback, second pass.

    rerank=False (Pyserini's flow): search the top ``first_k`` (default: ``model.required_depth``),
    build q' with ``model``, then search the whole index again with q' for the top ``k``; the
    second list replaces the first.

    rerank=True (the "ranking" setting of the Vector-PRF paper): search the top ``first_k``
    candidates (default: ``k``), build q' from them, and re-score only those candidates with q'
    (the index metric on the stored vectors); returns ``min(first_k, k)`` columns.

    Args:
        index: a ``densefb.FlatIndex`` or ``densefb.HnswIndex``.
        query_vectors: (n, d) float32.
        model: an ``AveragePrf`` or ``RocchioPrf``.
        first_k: first-pass depth (>= model.required_depth).
        k: results per query of the final list (default 1000).
        rerank: re-score the first-pass candidates instead of searching again.
        num_threads: 0 = all cores; ef_search: HNSW only (0 = index default).

    Returns:
        (scores float32 (n, k'), ids int64 (n, k')), best first, k' <= min(k, index.ntotal)
        (a larger k allocates nothing more); -inf / -1 padding where a list is shorter.
    """
    if first_k is None:
        first_k = 0
    return _core.prf_search(index, query_vectors, model, first_k, k, bool(rerank), num_threads,
                            ef_search)
