"""Results of an experiment (:class:`ExperimentResult`: tables, JSON, Markdown, data frames),
paired significance tests across systems (:func:`compare_systems`) and the per-query TSV."""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

from densefb.data import Run
from densefb.stats import bonferroni, holm_bonferroni, paired_ttest, wilcoxon

__all__ = ["ExperimentResult", "SystemResult", "Comparison", "compare_systems"]

PathLike = Union[str, "os.PathLike[str]"]
RESULT_FORMAT = "densefb-experiment"
TESTS = ("t-test", "wilcoxon")
CORRECTIONS = ("holm", "bonferroni", "none")

# ---- results ---------------------------------------------------------------------------------

@dataclass
class SystemResult:
    """One pipeline's results: means and per-query values of each metric."""
    name: str
    spec: str                                   # canonical pipeline spec
    means: Dict[str, float]
    per_query: Dict[str, Dict[str, float]]      # {qid: {metric: value}}, qrels order
    seconds: float = 0.0                        # wall time of the pipeline run
    run_path: Optional[str] = None              # TREC run written (with save_runs)
    sidecar_path: Optional[str] = None
    run: Optional[Run] = field(default=None, repr=False)
    # LLM cost of the run, from the generator's counters: requests (calls made), cache_hits,
    # prompt_tokens, completion_tokens, seconds, retries, failures, queries; None without LLM
    llm: Optional[Dict[str, float]] = None
    # what the stages counted ({stage: {name: count}}, see densefb.Pipeline.run)
    counters: Dict[str, Dict[str, int]] = field(default_factory=dict)


@dataclass
class Comparison:
    """One paired test of a pipeline against the baseline on one metric."""
    system: str
    baseline: str
    metric: str
    test: str                 # "t-test" or "wilcoxon"
    n: int                    # paired queries
    mean_difference: float    # mean(system - baseline)
    statistic: float          # t, or the Wilcoxon statistic min(R+, R-)
    pvalue: float
    pvalue_corrected: float   # after the experiment's correction across pipelines
    method: str = ""          # Wilcoxon: "exact", "permutation" or "asymptotic"

    def significant(self, alpha: float) -> bool:
        return not math.isnan(self.pvalue_corrected) and self.pvalue_corrected < alpha


def _fmt(x: float, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "nan"
    return f"{x:.{digits}f}"


def _fmt_p(p: float) -> str:
    if p is None or math.isnan(p):
        return "nan"
    return f"{p:.2e}" if p < 1e-3 else f"{p:.4f}"


class ExperimentResult:
    """The outcome of :meth:`Experiment.run`: one :class:`SystemResult` per pipeline (the
    first is the baseline) and the paired :class:`Comparison` of every other pipeline with it.

    ``str(result)`` is the console table; :meth:`to_markdown`, :meth:`to_json` and
    :meth:`to_dataframe` give the other forms.
    """

    # Markers after a mean: significantly different from the baseline (corrected p < alpha).
    T_MARK = "*"    # paired t-test
    W_MARK = "†"    # Wilcoxon signed-rank test

    def __init__(self, systems: List[SystemResult], comparisons: List[Comparison],
                 metrics: List[str], *, alpha: float, correction: str,
                 provenance: Dict[str, Any]):
        self.systems = systems
        self.comparisons = comparisons
        self.metrics = metrics
        self.alpha = alpha
        self.correction = correction
        self.provenance = provenance

    @property
    def baseline(self) -> SystemResult:
        return self.systems[0]

    def __getitem__(self, name: str) -> SystemResult:
        for s in self.systems:
            if s.name == name:
                return s
        raise KeyError(f"no pipeline named {name!r} (have: {', '.join(s.name for s in self.systems)})")

    def comparison(self, system: str, metric: str, test: str = "t-test") -> Comparison:
        """The comparison of ``system`` with the baseline on ``metric`` by ``test``."""
        for c in self.comparisons:
            if c.system == system and c.metric == metric and c.test == test:
                return c
        raise KeyError(f"no {test} comparison of {system!r} on {metric!r}")

    def _t_mark(self, markdown: bool) -> str:
        return "\\" + self.T_MARK if markdown else self.T_MARK  # a bare * is emphasis in Markdown

    def _marks(self, system: str, metric: str, markdown: bool = False) -> str:
        marks = ""
        for test, mark in (("t-test", self._t_mark(markdown)), ("wilcoxon", self.W_MARK)):
            for c in self.comparisons:
                if c.system == system and c.metric == metric and c.test == test \
                        and c.significant(self.alpha):
                    marks += mark
        return marks

    def _legend(self, markdown: bool = False) -> str:
        tests = sorted({c.test for c in self.comparisons})
        if not tests:
            return ""
        parts = []
        if "t-test" in tests:
            parts.append(f"{self._t_mark(markdown)} paired t-test")
        if "wilcoxon" in tests:
            parts.append(f"{self.W_MARK} Wilcoxon signed-rank test")
        corr = {"holm": "Holm-Bonferroni corrected across pipelines",
                "bonferroni": "Bonferroni corrected across pipelines",
                "none": "uncorrected"}[self.correction]
        return (f"{' / '.join(parts)}: p < {self.alpha:g} against {self.baseline.name!r} "
                f"({corr}, two-sided, {self._num_queries()} queries)")

    def _num_queries(self) -> int:
        return len(self.baseline.per_query)

    _LLM_HEADER = ["LLM calls", "cached", "tokens in", "tokens out", "LLM s"]
    _LLM_LEGEND = ("LLM cost of each run: calls made to the model (answers from the response cache "
                   "counted apart), prompt and completion tokens as the server reported them, and "
                   "seconds spent in calls (summed over concurrent requests)")

    def _has_llm(self) -> bool:
        return any(s.llm is not None for s in self.systems)

    def _header(self) -> List[str]:
        return ["pipeline"] + self.metrics + (self._LLM_HEADER if self._has_llm() else [])

    def _rows(self, markdown: bool = False) -> List[List[str]]:
        rows = []
        for s in self.systems:
            row = [s.name] + [_fmt(s.means[m]) + self._marks(s.name, m, markdown)
                              for m in self.metrics]
            if self._has_llm():
                c = s.llm
                row += (["", "", "", "", ""] if c is None else
                        [str(c["requests"]), str(c["cache_hits"]), str(c["prompt_tokens"]),
                         str(c["completion_tokens"]), f"{c['seconds']:.1f}"])
            rows.append(row)
        return rows

    def _significance_rows(self) -> List[List[str]]:
        rows = []
        for s in self.systems[1:]:
            for m in self.metrics:
                row = [s.name, m]
                t = [c for c in self.comparisons if c.system == s.name and c.metric == m]
                delta = t[0].mean_difference if t else float("nan")
                row.append(f"{delta:+.4f}")
                for test in TESTS:
                    c = next((c for c in t if c.test == test), None)
                    if c is None:
                        row += ["", "", ""]
                    else:
                        stat = f"{c.statistic:.3f}" if test == "t-test" else f"{c.statistic:g}"
                        row += [stat, _fmt_p(c.pvalue), _fmt_p(c.pvalue_corrected)]
                rows.append(row)
        return rows

    _SIG_HEADER = ["pipeline", "metric", "Δ mean", "t", "p (t)", "p corr (t)", "W", "p (W)",
                   "p corr (W)"]

    def table(self) -> str:
        """The console table: means (with significance markers) and the tests, fixed width."""
        out = [_text_table(self._header(), self._rows(), right_from=1)]
        legend = self._legend()
        if legend:
            out.append(legend)
        if self._has_llm():
            out.append(self._LLM_LEGEND)
        if len(self.systems) > 1 and self.comparisons:
            out.append("")
            out.append(_text_table(self._SIG_HEADER, self._significance_rows(), right_from=2))
        return "\n".join(out)

    def __str__(self) -> str:
        return self.table()

    def __repr__(self) -> str:
        return (f"<densefb.ExperimentResult {len(self.systems)} pipelines x "
                f"{len(self.metrics)} metrics>")

    def to_markdown(self) -> str:
        """A Markdown table of the means (significance marked) and one of the tests."""
        lines = [_md_table(self._header(), [[_md_code(r[0])] + r[1:] for r in self._rows(markdown=True)],
                           right_from=1)]
        legend = self._legend(markdown=True)
        if legend:
            lines += ["", legend]
        if self._has_llm():
            lines += ["", self._LLM_LEGEND]
        if len(self.systems) > 1 and self.comparisons:
            rows = [[_md_code(r[0])] + r[1:] for r in self._significance_rows()]
            lines += ["", _md_table(self._SIG_HEADER, rows, right_from=2)]
        specs = [(s.name, s.spec) for s in self.systems if s.name != s.spec]
        if specs:
            lines += ["", "Canonical pipeline specs:", ""]
            lines += [f"- {_md_code(n)}: {_md_code(spec)}" for n, spec in specs]
        return "\n".join(lines) + "\n"

    def to_json(self) -> Dict[str, Any]:
        """Everything: means, per-query values, tests, settings and provenance."""
        def num(x):
            return None if x is None or (isinstance(x, float) and math.isnan(x)) else x

        return {
            "format": RESULT_FORMAT, "version": 1,
            "metrics": self.metrics,
            "baseline": self.baseline.name,
            "alpha": self.alpha,
            "correction": self.correction,
            "systems": [{
                "name": s.name, "pipeline": s.spec, "mean": s.means, "seconds": s.seconds,
                "run_file": s.run_path, "sidecar": s.sidecar_path,
                "num_queries": len(s.per_query), "per_query": s.per_query,
                "llm_cost": s.llm, "stage_counters": s.counters,
            } for s in self.systems],
            "tests": [{
                "system": c.system, "baseline": c.baseline, "metric": c.metric, "test": c.test,
                "n": c.n, "mean_difference": num(c.mean_difference),
                "statistic": num(c.statistic), "pvalue": num(c.pvalue),
                "pvalue_corrected": num(c.pvalue_corrected), "method": c.method,
                "significant": c.significant(self.alpha),
            } for c in self.comparisons],
            "provenance": self.provenance,
        }

    def save_json(self, path: PathLike) -> None:
        _write_text_atomic(Path(path), json.dumps(self.to_json(), indent=2, allow_nan=False) + "\n")

    def save_markdown(self, path: PathLike) -> None:
        _write_text_atomic(Path(path), self.to_markdown())

    def to_dataframe(self):
        """Means as a pandas DataFrame, one row per pipeline (pandas is optional)."""
        try:
            import pandas as pd
        except ImportError as error:  # pragma: no cover - depends on the environment
            raise ImportError("to_dataframe needs pandas (pip install pandas)") from error
        return pd.DataFrame([{"name": s.name, "pipeline": s.spec, **s.means} for s in self.systems])


def _text_table(header: List[str], rows: List[List[str]], right_from: int) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(header)]

    def line(cells):
        return "  ".join(c.rjust(w) if i >= right_from else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])


def _md_code(text: str) -> str:
    return "`" + text.replace("|", "\\|") + "`" if "`" not in text else text.replace("|", "\\|")


def _md_table(header: List[str], rows: List[List[str]], right_from: int) -> str:
    sep = ["---:" if i >= right_from else "---" for i in range(len(header))]
    return "\n".join("| " + " | ".join(r) + " |" for r in [header, sep] + rows)


def _write_text_atomic(path: Path, text: str) -> None:
    """Creates missing folders above ``path`` (the command line refuses them beforehand), then
    writes as densefb._cli_util.atomic_output does: complete or not at all, mode kept."""
    from densefb import _cli_util

    if os.fspath(path) != "-":
        Path(os.path.realpath(path)).parent.mkdir(parents=True, exist_ok=True)
    _cli_util.write_text_atomic(os.fspath(path), text)


# ---- statistics over systems -----------------------------------------------------------------

def compare_systems(systems: Sequence[SystemResult], metrics: Sequence[str],
                    tests: Sequence[str] = TESTS, correction: str = "holm") -> List[Comparison]:
    """Paired tests of ``systems[1:]`` against ``systems[0]`` on the queries evaluated for
    both, then the correction across the compared systems (per metric and per test)."""
    if correction not in CORRECTIONS:
        raise ValueError(f"unknown correction {correction!r}: expected one of {', '.join(CORRECTIONS)}")
    for t in tests:
        if t not in TESTS:
            raise ValueError(f"unknown test {t!r}: expected one of {', '.join(TESTS)}")
    base = systems[0]
    out: List[Comparison] = []
    for metric in metrics:
        for test in tests:
            group: List[Comparison] = []
            for s in systems[1:]:
                qids = [q for q in base.per_query if q in s.per_query]
                x = [s.per_query[q][metric] for q in qids]
                y = [base.per_query[q][metric] for q in qids]
                nan = float("nan")
                delta = (sum(x) - sum(y)) / len(qids) if qids else nan
                if len(qids) == 0:
                    stat, p, method = nan, nan, ""
                elif test == "t-test":
                    r = paired_ttest(x, y)
                    stat, p, method = r.statistic, r.pvalue, ""
                else:
                    r = wilcoxon(x, y)
                    stat, p, method = r.statistic, r.pvalue, r.method
                group.append(Comparison(s.name, base.name, metric, test, len(qids), delta,
                                        stat, p, p, method))
            raw = [c.pvalue for c in group]
            if correction == "holm":
                adjusted = holm_bonferroni(raw)
            elif correction == "bonferroni":
                adjusted = bonferroni(raw)
            else:
                adjusted = raw
            for c, p in zip(group, adjusted):
                c.pvalue_corrected = p
            out += group
    return out


def _write_per_query_tsv(path: Path, systems: Sequence[SystemResult], metrics: Sequence[str]) -> None:
    lines = ["\t".join(["pipeline", "query"] + list(metrics))]
    for s in systems:
        for qid, values in s.per_query.items():
            lines.append("\t".join([s.name, qid] + [repr(float(values[m])) for m in metrics]))
    _write_text_atomic(path, "\n".join(lines) + "\n")
