"""Experiments: several pipelines on a dataset's queries, a table of metrics, paired
significance tests against a baseline, and runs that record how they were made.

    exp = densefb.Experiment("scifact", ["dense", "dense >> rocchio >> dense", "bm25"],
                             model="sentence-transformers/all-MiniLM-L6-v2",
                             metrics=["nDCG@10", "R@100", "AP"])
    result = exp.run()
    print(result)                       # console table, significance marked
    result.save_markdown("table.md"); result.save_json("table.json")

Resources are assembled from what the pipelines require (``Pipeline.requires``): the corpus
encoded with ``model`` into a dense index, cached on disk under ``cache_dir`` keyed by the
corpus contents, the model files and the index options; a BM25 index, cached the same way;
ColBERT-style token encoder and cross-encoder when asked for. Every run file written gets a
JSON sidecar (``<run>.json``) with the canonical pipeline spec (every parameter), the model
and its resolved path, the index parameters, the dataset path and split, seeds, the densefb
version, the date and the command line, so a result can be reproduced from the file alone
(:func:`reproduce_run`).

Statistics (``densefb.stats``, computed in C++ as scipy computes them): for each pipeline
after the baseline and each metric, a paired two-sided t-test and a Wilcoxon signed-rank test
on the per-query values of the queries evaluated for both, then Holm-Bonferroni correction
across the compared pipelines (per metric and per test).
"""
from __future__ import annotations

import datetime as _datetime
import hashlib
import json
import math
import os
import re
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from densefb import __version__
from densefb.data import BeirDataset, Run, load_beir, write_trec_run
from densefb.evaluation import Measure, evaluate
from densefb.stats import bonferroni, holm_bonferroni, paired_ttest, wilcoxon

__all__ = ["Experiment", "ExperimentResult", "SystemResult", "Comparison", "default_cache_dir",
           "reproduce_run", "SIDECAR_FORMAT"]

PathLike = Union[str, "os.PathLike[str]"]
SIDECAR_FORMAT = "densefb-run"
SIDECAR_VERSION = 1
RESULT_FORMAT = "densefb-experiment"
TESTS = ("t-test", "wilcoxon")
CORRECTIONS = ("holm", "bonferroni", "none")
INDEX_KINDS = ("flat", "hnsw")
# The resource names a pipeline may require (include/densefb/pipeline.h, Resources::Names()).
RESOURCE_NAMES = ("corpus", "encoder", "dense_index", "bm25", "token_encoder", "multivector",
                  "cross_encoder")


def default_cache_dir() -> Path:
    """Where indexes built by experiments are kept: ``$DENSEFB_CACHE``, else
    ``$XDG_CACHE_HOME/densefb`` (``~/.cache/densefb``)."""
    if os.environ.get("DENSEFB_CACHE"):
        return Path(os.environ["DENSEFB_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(base) / "densefb"


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

    def _rows(self, markdown: bool = False) -> List[List[str]]:
        rows = []
        for s in self.systems:
            rows.append([s.name] + [_fmt(s.means[m]) + self._marks(s.name, m, markdown)
                                    for m in self.metrics])
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
        header = ["pipeline"] + self.metrics
        out = [_text_table(header, self._rows(), right_from=1)]
        legend = self._legend()
        if legend:
            out.append(legend)
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
        header = ["pipeline"] + self.metrics
        lines = [_md_table(header, [[_md_code(r[0])] + r[1:] for r in self._rows(markdown=True)],
                           right_from=1)]
        legend = self._legend(markdown=True)
        if legend:
            lines += ["", legend]
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


# BM25 index options (densefb.Bm25Index.build): type and allowed values.
BM25_OPTIONS = {"k1": "a number >= 0", "b": "a number in [0, 1]", "stopwords": "true or false",
                "stemmer": "porter or none", "lucene_norms": "true or false"}


def check_bm25_args(args: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
    """Validated BM25 options: known keys with values of the right type and range; ValueError
    naming the option otherwise (never the binding's "incompatible function arguments")."""
    out: Dict[str, Any] = {}
    for key, value in dict(args or {}).items():
        if key not in BM25_OPTIONS:
            raise ValueError(f"unknown BM25 option {key!r}: expected one of {', '.join(BM25_OPTIONS)}")
        if key in ("k1", "b"):
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) \
                and math.isfinite(value) and value >= 0 and (key == "k1" or value <= 1)
            value = float(value) if ok else value
        elif key == "stemmer":
            ok = value in ("porter", "none")
        else:
            ok = isinstance(value, bool)
        if not ok:
            raise ValueError(f"BM25 option {key}={value!r}: expected {BM25_OPTIONS[key]}")
        out[key] = value
    return out


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


# ---- fingerprints and caching ----------------------------------------------------------------

def _corpus_fingerprint(corpus) -> str:
    h = hashlib.sha256()
    for doc_id, text in zip(corpus.ids, corpus.texts()):
        h.update(doc_id.encode("utf-8"))
        h.update(b"\x00")
        h.update(text.encode("utf-8"))
        h.update(b"\x01")
    return h.hexdigest()


def _model_fingerprint(model_dir: Path) -> str:
    """Config and tokenizer files by content, weight files by name and size."""
    h = hashlib.sha256()
    for p in sorted(model_dir.rglob("*")):
        if not p.is_file():
            continue
        rel = p.relative_to(model_dir).as_posix()
        h.update(rel.encode())
        if p.suffix in (".json", ".txt") and p.stat().st_size < 4 << 20:
            h.update(p.read_bytes())
        else:
            h.update(str(p.stat().st_size).encode())
    return h.hexdigest()


def _slug(text: str, limit: int = 40) -> str:
    s = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")
    return (s or "x")[:limit]


def _key(parts: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def _show_progress(quiet: Optional[bool]) -> bool:
    return not quiet and sys.stderr.isatty()


def _progress(iterable, total: int, desc: str, show: bool):
    if not show:
        return iterable
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency of the package
        return iterable
    return tqdm(iterable, total=total, desc=desc, leave=False)


# ---- the experiment --------------------------------------------------------------------------

PipelineLike = Any  # a spec string or a densefb.Pipeline (anything with .spec/.requires/.run)


def _as_pipeline(p: PipelineLike):
    if isinstance(p, str):
        from densefb.pipeline import Pipeline
        return Pipeline.parse(p)
    if all(hasattr(p, a) for a in ("spec", "requires", "run")):
        return p
    raise TypeError(f"a pipeline must be a spec string or a densefb.Pipeline, not {type(p).__name__}")


class Experiment:
    """Runs several pipelines on a dataset's queries and compares them with the first.

    Args:
        dataset: a BEIR folder, a collection name under ``$DENSEFB_DATA``, or a loaded
            :class:`densefb.BeirDataset` (then ``dataset_path`` names it in sidecars).
        pipelines: spec strings or :class:`densefb.Pipeline` objects, or a mapping
            ``{name: pipeline}``; the first is the baseline of the significance tests.
        model: bi-encoder name or folder (resolved offline by :func:`densefb.resolve_model`),
            needed by pipelines that use the encoder or the dense index.
        metrics: ir_measures names (default ``nDCG@10``, ``R@100``, ``AP``).
        names: display names of the pipelines (default: the specs as given).
        split: qrels split whose queries are run (default ``"test"``).
        k: depth of each run (default 1000).
        cache_dir: where built indexes are kept (default :func:`default_cache_dir`); None with
            ``use_cache=False`` builds in memory only.
        index: dense index kind, ``"flat"`` (exact, default) or ``"hnsw"``.
        index_args: options of the dense index (hnsw: ``M``, ``ef_construction``,
            ``ef_search``, ``seed``; both: ``metric``).
        bm25_args: options of :meth:`densefb.Bm25Index.build` (``k1``, ``b``, ``stopwords``,
            ``stemmer``, ``lucene_norms``).
        token_model: ColBERT-style token encoder for ``token_encoder``/``multivector``
            (default: ``model``).
        token_args: keyword arguments of :meth:`densefb.ColbertEncoder.from_pretrained` for the
            token encoder, e.g. ``{"format": "bert", "doc_maxlen": 180}`` to use a plain BERT's
            token embeddings (part of the multi-vector cache key).
        cross_encoder: cross-encoder name or folder for ``rerank_cross``.
        resources: pre-built resources by name (``{"dense_index": index, ...}``) used instead
            of assembling them; their provenance is recorded as given by the caller.
        query_vectors: ``(num_queries, dim)`` query vectors computed elsewhere, in the order of
            the dataset's queries, used by the dense stages instead of encoding the texts
            (recorded in sidecars as given by the caller).
        tests: ``"t-test"`` and/or ``"wilcoxon"`` (default both).
        correction: ``"holm"`` (default), ``"bonferroni"`` or ``"none"``, across pipelines.
        alpha: significance level of the table's markers (default 0.05).
        batch_size: texts per encoder batch (default 32).
        num_threads: threads of searches and scoring, 0 = all (default).
        save_runs: folder where each run is written as TREC with a JSON sidecar, plus
            ``per-query.tsv`` (default: not written).
        quiet: True: no progress bars or status lines; None (default): both only when stderr
            is a terminal; False: status lines always, bars on a terminal.
        command_line: recorded in sidecars (default: this process's ``sys.argv``).
    """

    def __init__(self, dataset: Union[PathLike, BeirDataset],
                 pipelines: Union[Sequence[PipelineLike], Mapping[str, PipelineLike]], *,
                 model: Optional[PathLike] = None,
                 metrics: Sequence[str] = ("nDCG@10", "R@100", "AP"),
                 names: Optional[Sequence[str]] = None, split: str = "test", k: int = 1000,
                 cache_dir: Optional[PathLike] = None, use_cache: bool = True,
                 index: str = "flat", index_args: Optional[Mapping[str, Any]] = None,
                 bm25_args: Optional[Mapping[str, Any]] = None,
                 token_model: Optional[PathLike] = None,
                 token_args: Optional[Mapping[str, Any]] = None,
                 cross_encoder: Optional[PathLike] = None,
                 resources: Optional[Mapping[str, Any]] = None,
                 query_vectors: Optional[Any] = None,
                 tests: Sequence[str] = TESTS, correction: str = "holm", alpha: float = 0.05,
                 batch_size: int = 32, num_threads: int = 0,
                 save_runs: Optional[PathLike] = None, quiet: Optional[bool] = None,
                 command_line: Optional[str] = None, dataset_path: Optional[PathLike] = None):
        if isinstance(pipelines, Mapping):
            if names is not None:
                raise ValueError("names cannot be given with a mapping of pipelines")
            names = list(pipelines.keys())
            pipelines = list(pipelines.values())
        pipelines = list(pipelines)
        if not pipelines:
            raise ValueError("no pipeline given")
        self.pipelines = [_as_pipeline(p) for p in pipelines]
        if names is None:
            names = [p if isinstance(p, str) else q.spec for p, q in zip(pipelines, self.pipelines)]
        names = [str(n) for n in names]
        if len(names) != len(self.pipelines):
            raise ValueError(f"{len(names)} names for {len(self.pipelines)} pipelines")
        if len(set(names)) != len(names):
            dup = next(n for n in names if names.count(n) > 1)
            raise ValueError(f"two pipelines are named {dup!r}; give distinct names")
        self.names = names
        self.metrics = list(dict.fromkeys(str(m) for m in metrics))
        if not self.metrics:
            raise ValueError("no metric given")
        for m in self.metrics:
            Measure(m)  # ValueError naming an unknown metric, before any work
        if index not in INDEX_KINDS:
            raise ValueError(f"unknown index kind {index!r}: expected flat or hnsw")
        if correction not in CORRECTIONS:
            raise ValueError(f"unknown correction {correction!r}: expected one of {', '.join(CORRECTIONS)}")
        for t in tests:
            if t not in TESTS:
                raise ValueError(f"unknown test {t!r}: expected t-test or wilcoxon")
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {alpha}")
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        self.query_vectors = None
        if query_vectors is not None:
            import numpy as np
            self.query_vectors = np.ascontiguousarray(query_vectors, dtype=np.float32)
            if self.query_vectors.ndim != 2:
                raise ValueError(f"query_vectors must be 2-D, got shape {self.query_vectors.shape}")
        self.given_resources = dict(resources or {})
        for name in self.given_resources:
            if name not in RESOURCE_NAMES:
                raise ValueError(f"unknown resource {name!r}: expected one of {', '.join(RESOURCE_NAMES)}")

        if isinstance(dataset, BeirDataset):
            self.dataset = dataset
            self.dataset_path = None if dataset_path is None else str(Path(dataset_path).resolve())
        else:
            path = Path(dataset)
            self.dataset = load_beir(path, split)
            if not path.exists() and os.environ.get("DENSEFB_DATA"):
                path = Path(os.environ["DENSEFB_DATA"]) / path
            self.dataset_path = str(path.resolve())
        if self.query_vectors is not None and len(self.query_vectors) != len(self.dataset.queries):
            raise ValueError(f"query_vectors has {len(self.query_vectors)} rows for "
                             f"{len(self.dataset.queries)} queries")
        self.split = split
        self.model = None if model is None else str(model)
        self.token_model = None if token_model is None else str(token_model)
        self.token_args = dict(token_args or {})
        self.cross_encoder_name = None if cross_encoder is None else str(cross_encoder)
        self.k = int(k)
        self.use_cache = use_cache
        self.cache_dir = (Path(cache_dir) if cache_dir is not None
                          else default_cache_dir()).expanduser().resolve()
        self.index_kind = index
        self.index_args = dict(index_args or {})
        self.bm25_args = check_bm25_args(bm25_args)
        self.tests = list(tests)
        self.correction = correction
        self.alpha = float(alpha)
        self.batch_size = int(batch_size)
        self.num_threads = int(num_threads)
        self.save_runs = None if save_runs is None else Path(save_runs)
        self.quiet = quiet
        self.command_line = command_line if command_line is not None else \
            " ".join(shlex.quote(a) for a in [os.path.basename(sys.argv[0] or "python")] + sys.argv[1:])
        self._resources: Dict[str, Any] = {}
        self._provenance: Dict[str, Any] = {}
        self._corpus_sha: Optional[str] = None

    # -- resources --

    def requires(self) -> List[str]:
        """Resource names needed by the pipelines, in :data:`RESOURCE_NAMES` order."""
        needed = {"corpus"}  # always: it names the documents of the runs
        for p in self.pipelines:
            needed |= set(p.requires)
        return [n for n in RESOURCE_NAMES if n in needed]

    def _note(self, message: str) -> None:
        # quiet=None: status lines on a terminal only; False: always; True: never.
        if self.quiet is False or (self.quiet is None and sys.stderr.isatty()):
            print(message, file=sys.stderr)

    def _corpus_sha256(self) -> str:
        if self._corpus_sha is None:
            self._corpus_sha = _corpus_fingerprint(self.dataset.corpus)
        return self._corpus_sha

    def _dataset_slug(self) -> str:
        return _slug(Path(self.dataset_path).name if self.dataset_path else "dataset")

    def _model_dir(self, name: Optional[str], what: str) -> Path:
        from densefb.models import resolve_model
        if name is None:
            raise ValueError(f"a pipeline needs {what} but no model was given (model=...)")
        return Path(resolve_model(name)).resolve()

    def _encoder(self):
        if "encoder" not in self._resources:
            from densefb.encoders import Encoder
            model_dir = self._model_dir(self.model, "a bi-encoder")
            self._resources["encoder"] = Encoder.from_pretrained(str(model_dir))
            self._provenance["encoder"] = {"model": self.model, "path": str(model_dir),
                                           "dim": self._resources["encoder"].dim}
        return self._resources["encoder"]

    def _load_or_build(self, what, path, prov, load, build, doing):
        """The index cached at ``path`` if there is one (and the cache is on), else ``build()``,
        saved there with an ``index.json`` describing it; ``prov`` gets ``cache``/``cached``."""
        if self.use_cache and path.is_file():
            self._note(f"{what}: loading {path}")
            prov["cache"] = str(path)
            prov["cached"] = True
            return load(str(path))
        self._note(f"{what}: {doing}")
        index = build()
        if self.use_cache:
            path.parent.mkdir(parents=True, exist_ok=True)
            index.save(str(path))
            _write_text_atomic(path.parent / "index.json", json.dumps(
                {"format": "densefb-index-cache", "dataset": self.dataset_path,
                 "densefb_version": __version__, **prov}, indent=2) + "\n")
            prov["cache"] = str(path)
        prov["cached"] = False
        return index

    def _dense_index(self):
        from densefb.index import FlatIndex, HnswIndex
        from densefb.indexing import build_index
        enc = self._encoder()
        model_dir = Path(self._provenance["encoder"]["path"])
        args = dict(self.index_args)
        metric = args.pop("metric", "ip")
        if self.index_kind == "hnsw":
            args.setdefault("M", 16)
            args.setdefault("ef_construction", 200)
            args.setdefault("seed", 100)
        params = {"kind": self.index_kind, "metric": metric, **args}
        key = _key({"corpus_sha256": self._corpus_sha256(), "model": _model_fingerprint(model_dir),
                    "index": params, "densefb": __version__})
        folder = self.cache_dir / "dense" / f"{self._dataset_slug()}-{_slug(model_dir.name)}-{key}"
        path = folder / f"index.{self.index_kind}"
        prov = {"kind": self.index_kind, "params": params, "model": self.model,
                "model_path": str(model_dir), "corpus_sha256": self._corpus_sha256(),
                "num_docs": len(self.dataset.corpus)}
        cls = HnswIndex if self.index_kind == "hnsw" else FlatIndex
        index = self._load_or_build(
            "dense index", path, prov, cls.load,
            lambda: build_index(enc, self.dataset.corpus, kind=self.index_kind, metric=metric,
                                batch_size=self.batch_size,
                                show_progress=_show_progress(self.quiet), **args),
            f"encoding {len(self.dataset.corpus)} documents with {self.model} ({self.index_kind})")
        self._provenance["dense_index"] = prov
        return index

    def _bm25(self):
        from densefb.sparse import DEFAULT_LUCENE_NORMS, Bm25Index
        params = {"k1": 0.9, "b": 0.4, "stopwords": True, "stemmer": "porter",
                  "lucene_norms": DEFAULT_LUCENE_NORMS}
        params.update(self.bm25_args)
        key = _key({"corpus_sha256": self._corpus_sha256(), "bm25": params,
                    "densefb": __version__})
        folder = self.cache_dir / "bm25" / f"{self._dataset_slug()}-{key}"
        path = folder / "index.bm25"
        prov = {"params": params, "corpus_sha256": self._corpus_sha256(),
                "num_docs": len(self.dataset.corpus)}
        index = self._load_or_build(
            "BM25 index", path, prov, Bm25Index.load,
            lambda: Bm25Index.build(self.dataset.corpus, num_threads=self.num_threads, **params),
            f"indexing {len(self.dataset.corpus)} documents")
        self._provenance["bm25"] = prov
        return index

    def _token_encoder(self):
        if "token_encoder" not in self._resources:
            from densefb.encoders import ColbertEncoder
            name = self.token_model or self.model
            model_dir = self._model_dir(name, "a token encoder")
            self._resources["token_encoder"] = ColbertEncoder.from_pretrained(
                str(model_dir), **self.token_args)
            self._provenance["token_encoder"] = {"model": name, "path": str(model_dir),
                                                 "options": dict(self.token_args)}
        return self._resources["token_encoder"]

    def _cross_encoder(self):
        from densefb.encoders import CrossEncoder
        model_dir = self._model_dir(self.cross_encoder_name, "a cross-encoder (cross_encoder=...)")
        self._provenance["cross_encoder"] = {"model": self.cross_encoder_name,
                                             "path": str(model_dir)}
        return CrossEncoder.from_pretrained(str(model_dir))

    def _multivector(self):
        from densefb.multivector import MultiVectorIndex, build_multivector_index
        enc = self._token_encoder()
        model_dir = Path(self._provenance["token_encoder"]["path"])
        params = {"token_index": "flat", "batch_size": self.batch_size,
                  "encoder_options": dict(self.token_args)}
        key = _key({"corpus_sha256": self._corpus_sha256(), "model": _model_fingerprint(model_dir),
                    "index": params, "densefb": __version__})
        folder = self.cache_dir / "multivector" / f"{self._dataset_slug()}-{_slug(model_dir.name)}-{key}"
        path = folder / "index.mvec"
        prov = {"token_model": self._provenance["token_encoder"], "params": params,
                "corpus_sha256": self._corpus_sha256(), "num_docs": len(self.dataset.corpus)}
        index = self._load_or_build(
            "multi-vector index", path, prov, MultiVectorIndex.load,
            lambda: build_multivector_index(enc, self.dataset.corpus.texts(),
                                            batch_size=self.batch_size,
                                            show_progress=_show_progress(self.quiet)),
            f"encoding {len(self.dataset.corpus)} documents")
        self._provenance["multivector"] = prov
        return index

    def resources(self):
        """Assembles (once) the :class:`densefb.Resources` the pipelines need."""
        from densefb.pipeline import Resources
        builders = {"corpus": lambda: self.dataset.corpus, "encoder": self._encoder,
                    "dense_index": self._dense_index, "bm25": self._bm25,
                    "token_encoder": self._token_encoder, "multivector": self._multivector,
                    "cross_encoder": self._cross_encoder}
        for name in self.requires():
            if name in self._resources:
                continue
            if name in self.given_resources:
                self._resources[name] = self.given_resources[name]
                self._provenance[name] = _describe_given(name, self.given_resources[name])
            else:
                self._resources[name] = builders[name]()
        if "corpus" in self._resources:
            self._provenance["corpus"] = {"num_docs": len(self.dataset.corpus),
                                          "sha256": self._corpus_sha256()}
        return Resources(**{n: self._resources[n] for n in self.requires()})

    # -- running --

    def sidecar(self, index: int, run_file: Optional[str] = None) -> Dict[str, Any]:
        """The provenance record of pipeline ``index`` (what its run's sidecar holds)."""
        p = self.pipelines[index]
        used = {n: self._provenance[n] for n in sorted(set(p.requires)) if n in self._provenance}
        if "corpus" in self._provenance:
            used.setdefault("corpus", self._provenance["corpus"])
        seeds = {}
        dense = used.get("dense_index", {})
        if dense.get("kind") == "hnsw":
            seeds["hnsw"] = dense.get("params", {}).get("seed")
        for m in re.finditer(r"\b(\w*seed)=([0-9]+)", p.spec):
            seeds[m.group(1)] = int(m.group(2))
        return {
            "format": SIDECAR_FORMAT, "version": SIDECAR_VERSION,
            "run_file": run_file,
            "name": self.names[index],
            "pipeline": p.spec,
            "requires": sorted(p.requires),
            "k": self.k,
            "dataset": {"path": self.dataset_path, "split": self.split,
                        "num_queries": len(self.dataset.queries),
                        "num_docs": len(self.dataset.corpus)},
            "model": ({"name": self.model, "path": self._provenance.get("encoder", {}).get("path")}
                      if self.model else None),
            "resources": used,
            "seeds": seeds,
            "query_vectors": None if self.query_vectors is None else "given by the caller",
            "batch_size": self.batch_size,
            "densefb_version": __version__,
            "date": _datetime.datetime.now(_datetime.timezone.utc).isoformat(timespec="seconds"),
            "command_line": self.command_line,
        }

    def _run_one(self, pipeline, resources) -> Run:
        return pipeline.run(resources, self.dataset.queries, k=self.k,
                            num_threads=self.num_threads, batch_size=self.batch_size,
                            query_vectors=self.query_vectors)

    def run(self) -> ExperimentResult:
        """Runs every pipeline, evaluates, tests; with save_runs, writes runs, sidecars and
        per-query.tsv into a temporary folder beside it, moved into it only when every run is
        done (a failure or Ctrl-C leaves the folder as it was)."""
        if self.save_runs is None:
            return self._run(None)
        from densefb import _cli_util

        with _cli_util.staged_files(self.save_runs) as stage:
            return self._run(stage)

    def _run(self, stage: Optional[Path]) -> ExperimentResult:
        resources = self.resources()
        show = _show_progress(self.quiet)
        systems: List[SystemResult] = []
        for i in _progress(range(len(self.pipelines)), len(self.pipelines), "pipelines", show):
            p = self.pipelines[i]
            start = time.perf_counter()
            run = self._run_one(p, resources)
            seconds = time.perf_counter() - start
            means, rows = evaluate(run, self.dataset.qrels, self.metrics, per_query=True)
            s = SystemResult(self.names[i], p.spec, means, rows, seconds, run=run)
            if stage is not None:
                run_name = f"{i:02d}-{_slug(self.names[i], 60)}.trec"
                run.name = _slug(self.names[i], 60)
                write_trec_run(stage / run_name, run)
                side = self.sidecar(i, run_name)
                side["mean"] = means
                side["seconds"] = round(seconds, 3)
                (stage / f"{run_name}.json").write_text(json.dumps(side, indent=2) + "\n",
                                                       encoding="utf-8")
                s.run_path = str(self.save_runs / run_name)
                s.sidecar_path = f"{s.run_path}.json"
            self._note(f"[{i + 1}/{len(self.pipelines)}] {self.names[i]}: "
                       + "  ".join(f"{m} {_fmt(means[m])}" for m in self.metrics)
                       + f"  ({seconds:.1f}s)")
            systems.append(s)
        comparisons = compare_systems(systems, self.metrics, self.tests, self.correction) \
            if len(systems) > 1 else []
        provenance = {
            "dataset": {"path": self.dataset_path, "split": self.split,
                        "num_queries": len(self.dataset.queries),
                        "num_docs": len(self.dataset.corpus)},
            "model": self.model, "k": self.k, "resources": dict(self._provenance),
            "densefb_version": __version__,
            "date": _datetime.datetime.now(_datetime.timezone.utc).isoformat(timespec="seconds"),
            "command_line": self.command_line,
        }
        result = ExperimentResult(systems, comparisons, self.metrics, alpha=self.alpha,
                                  correction=self.correction, provenance=provenance)
        if stage is not None:
            _write_per_query_tsv(stage / "per-query.tsv", systems, self.metrics)
        return result


def _describe_given(name: str, obj: Any) -> Dict[str, Any]:
    info: Dict[str, Any] = {"given": type(obj).__name__}
    for attr in ("dim", "ntotal", "metric", "M", "ef_construction", "ef_search", "seed", "k1",
                 "b", "num_docs", "model_dir"):
        try:
            value = getattr(obj, attr)
        except Exception:  # noqa: BLE001 - properties of foreign objects may raise
            continue
        if isinstance(value, (int, float, str, bool)):
            info[attr] = value
    return info


def _write_per_query_tsv(path: Path, systems: Sequence[SystemResult], metrics: Sequence[str]) -> None:
    lines = ["\t".join(["pipeline", "query"] + list(metrics))]
    for s in systems:
        for qid, values in s.per_query.items():
            lines.append("\t".join([s.name, qid] + [repr(float(values[m])) for m in metrics]))
    _write_text_atomic(path, "\n".join(lines) + "\n")


def reproduce_run(sidecar: PathLike, *, cache_dir: Optional[PathLike] = None,
                  quiet: Optional[bool] = True) -> Run:
    """Runs again the pipeline a run's JSON sidecar describes, on the dataset, split, model,
    index options and depth it records, and returns the new run."""
    side = json.loads(Path(sidecar).read_text(encoding="utf-8"))
    if side.get("format") != SIDECAR_FORMAT:
        raise ValueError(f"{sidecar}: not a densefb run sidecar")
    ds = side["dataset"]
    if not ds.get("path"):
        raise ValueError(f"{sidecar}: the dataset was given in memory; its path is unknown")
    res = side.get("resources", {})
    dense = res.get("dense_index", {})
    params = dict(dense.get("params", {}))
    kind = params.pop("kind", "flat")
    bm25 = res.get("bm25", {}).get("params")
    model = (side.get("model") or {}).get("path") or (side.get("model") or {}).get("name")
    exp = Experiment(ds["path"], [side["pipeline"]], model=model, split=ds["split"],
                     k=side["k"], cache_dir=cache_dir, index=kind, index_args=params,
                     bm25_args=bm25, batch_size=side.get("batch_size", 32), quiet=quiet,
                     metrics=list((side.get("mean") or {"nDCG@10": 0}).keys()))
    resources = exp.resources()
    return exp._run_one(exp.pipelines[0], resources)
