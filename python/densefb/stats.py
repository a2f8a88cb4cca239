"""Paired significance tests for comparing systems query by query, computed in C++
(``include/densefb/stats.h``) exactly as scipy.stats computes them.

* :func:`paired_ttest` = ``scipy.stats.ttest_rel``;
* :func:`wilcoxon` = ``scipy.stats.wilcoxon`` with its defaults (zero differences dropped,
  exact null distribution for small samples without ties or zeros, the exact sign-flip
  permutation distribution for n <= 13 with ties or zeros, otherwise the normal approximation
  with tie correction and no continuity correction);
* :func:`holm_bonferroni` = statsmodels' ``multipletests(p, method="holm")[1]``.
"""
from __future__ import annotations

from typing import List, Sequence

import numpy as np

from densefb import _core
from densefb._core import TTestResult, WilcoxonResult

__all__ = ["TTestResult", "WilcoxonResult", "paired_ttest", "wilcoxon", "holm_bonferroni",
           "bonferroni", "cohen_kappa", "kendall_tau"]


def _values(x: Sequence[float], name: str) -> List[float]:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {a.shape}")
    return a.tolist()


def paired_ttest(x: Sequence[float], y: Sequence[float],
                 alternative: str = "two-sided") -> TTestResult:
    """Paired t-test of ``x`` against ``y`` (per-query scores of two systems), as
    ``scipy.stats.ttest_rel(x, y)``.

    Args:
        x, y: equally long sequences of finite numbers, paired by position.
        alternative: ``"two-sided"`` (default), ``"less"`` (mean of x - y below 0) or
            ``"greater"``.

    Returns:
        a result with ``statistic`` (t), ``pvalue``, ``df`` (n - 1), ``mean_difference`` and
        ``n``. Identical samples give NaN t and p (as scipy).

    Raises:
        ValueError: different lengths, no pair, a NaN or infinite value, unknown alternative.
    """
    return _core.paired_ttest(_values(x, "x"), _values(y, "y"), alternative)


def wilcoxon(x: Sequence[float], y: Sequence[float], *, zero_method: str = "wilcox",
             correction: bool = False, alternative: str = "two-sided",
             method: str = "auto") -> WilcoxonResult:
    """Wilcoxon signed-rank test of ``x`` against ``y``, as ``scipy.stats.wilcoxon(x, y)``.

    Args:
        x, y: equally long sequences of finite numbers, paired by position.
        zero_method: ``"wilcox"`` (default: drop zero differences), ``"pratt"`` or ``"zsplit"``.
        correction: continuity correction of the normal approximation (default False).
        alternative: ``"two-sided"`` (default), ``"less"`` or ``"greater"``.
        method: ``"auto"`` (default; as scipy: n > 50 -> normal approximation; no ties and no
            zeros -> exact distribution; n <= 13 -> exact permutation distribution; else the
            normal approximation), ``"exact"`` or ``"asymptotic"``.

    Returns:
        a result with ``statistic`` (min(R+, R-) two-sided, R+ one-sided), ``pvalue``,
        ``zstatistic`` (NaN unless the normal approximation was used), ``method`` (the one
        used), ``n`` and ``n_zero``.
    """
    return _core.wilcoxon(_values(x, "x"), _values(y, "y"), zero_method=zero_method,
                          correction=correction, alternative=alternative, method=method)


def holm_bonferroni(pvalues: Sequence[float]) -> List[float]:
    """Holm's step-down adjusted p-values, in the order given (NaN stays NaN and is not
    counted among the hypotheses)."""
    return _core.holm_bonferroni(_values(pvalues, "pvalues"))


def bonferroni(pvalues: Sequence[float]) -> List[float]:
    """Bonferroni adjusted p-values ``min(1, m * p)`` (NaN stays NaN, not counted in m)."""
    return _core.bonferroni(_values(pvalues, "pvalues"))


def cohen_kappa(a: Sequence[int], b: Sequence[int]) -> float:
    """Cohen's kappa of two labelings of the same items, as
    ``sklearn.metrics.cohen_kappa_score(a, b)`` (unweighted); NaN when both give every item one
    and the same label."""
    return _core.cohen_kappa([int(x) for x in a], [int(x) for x in b])


def kendall_tau(x: Sequence[float], y: Sequence[float]) -> float:
    """Kendall's tau-b of two score vectors, as ``scipy.stats.kendalltau(x, y).statistic``; NaN
    when either is constant."""
    return _core.kendall_tau(_values(x, "x"), _values(y, "y"))
