"""Running an experiment: :class:`Experiment` runs its pipelines on the dataset's queries,
evaluates and tests them, and writes runs with JSON sidecars; :func:`reproduce_run` runs again
what a sidecar records."""
from __future__ import annotations

import datetime as _datetime
import json
import os
import re
import shlex
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

from densefb import __version__
from densefb.data import BeirDataset, Run, load_beir, write_trec_run
from densefb.evaluation import Measure, evaluate
from densefb.experiment_resources import (INDEX_KINDS, RESOURCE_NAMES, ExperimentResources,
                                          _progress, _show_progress, _slug, check_bm25_args,
                                          default_cache_dir)
from densefb.experiment_results import (CORRECTIONS, TESTS, ExperimentResult, SystemResult, _fmt,
                                        _write_per_query_tsv, compare_systems)

__all__ = ["Experiment", "reproduce_run", "SIDECAR_FORMAT"]

PathLike = Union[str, "os.PathLike[str]"]
SIDECAR_FORMAT = "densefb-run"
SIDECAR_VERSION = 1


# ---- the experiment --------------------------------------------------------------------------

PipelineLike = Any  # a spec string or a densefb.Pipeline (anything with .spec/.requires/.run)


def _as_pipeline(p: PipelineLike):
    if isinstance(p, str):
        from densefb.pipeline import Pipeline
        return Pipeline.parse(p)
    if all(hasattr(p, a) for a in ("spec", "requires", "run")):
        return p
    raise TypeError(f"a pipeline must be a spec string or a densefb.Pipeline, not {type(p).__name__}")


class Experiment(ExperimentResources):
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
        encoder_args: keyword arguments of :meth:`densefb.Encoder.from_pretrained` for the
            bi-encoder, e.g. ``{"precision": "int8"}`` or ``{"query_prefix": "query: "}``
            (part of the dense index's cache key; int8 also keys on the CPU's weight bits).
        token_model: ColBERT-style token encoder for ``token_encoder``/``multivector``
            (default: ``model``).
        token_args: keyword arguments of :meth:`densefb.ColbertEncoder.from_pretrained` for the
            token encoder, e.g. ``{"format": "bert", "doc_maxlen": 180}`` to use a plain BERT's
            token embeddings (part of the multi-vector cache key).
        cross_encoder: cross-encoder name or folder for ``rerank_cross``.
        cross_args: keyword arguments of :meth:`densefb.CrossEncoder.from_pretrained` for the
            cross-encoder, e.g. ``{"max_length": 512, "precision": "int8"}`` (recorded).
        llm: settings of the OpenAI-compatible client for the LLM stages (keyword arguments of
            :func:`densefb.OpenAIGenerator`: ``base_url``, ``model``, ``api_key``,
            ``max_concurrency``, ``timeout``, ``max_retries``, ``chat``, ``cache_dir``); what is
            not given comes from ``DENSEFB_LLM_*`` / ``OPENAI_*``. Answers are cached under
            ``cache_dir/llm`` unless the cache is off, so a re-run costs nothing. A generator
            object can be given instead as ``resources={"generator": gen}``. Each pipeline's
            LLM cost (calls, cache hits, tokens, seconds) is measured from the generator's
            counters and shown in the table.
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
                 encoder_args: Optional[Mapping[str, Any]] = None,
                 token_model: Optional[PathLike] = None,
                 token_args: Optional[Mapping[str, Any]] = None,
                 cross_encoder: Optional[PathLike] = None,
                 cross_args: Optional[Mapping[str, Any]] = None,
                 llm: Optional[Mapping[str, Any]] = None,
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
        from densefb.encoders import ColbertEncoder, CrossEncoder, Encoder
        self.encoder_args = _model_options(encoder_args, Encoder, "encoder_args")
        self.token_args = _model_options(token_args, ColbertEncoder, "token_args")
        self.cross_encoder_name = None if cross_encoder is None else str(cross_encoder)
        self.cross_args = _model_options(cross_args, CrossEncoder, "cross_args")
        self.llm = {k: v for k, v in dict(llm or {}).items() if v is not None}
        unknown = set(self.llm) - {"base_url", "model", "api_key", "max_concurrency", "timeout",
                                   "max_retries", "backoff", "chat", "cache_dir"}
        if unknown:
            raise ValueError(f"unknown llm setting {sorted(unknown)[0]!r}: expected base_url, model, "
                             "api_key, max_concurrency, timeout, max_retries, backoff, chat, cache_dir")
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

    def _run_one(self, pipeline, resources, counters=None) -> Run:
        return pipeline.run(resources, self.dataset.queries, k=self.k,
                            num_threads=self.num_threads, batch_size=self.batch_size,
                            query_vectors=self.query_vectors, counters=counters)

    def _llm_stats(self, pipeline) -> Optional[Dict[str, float]]:
        gen = self._resources.get("generator")
        if gen is None or "generator" not in pipeline.requires:
            return None
        return dict(gen.stats())

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
            before = self._llm_stats(p)
            counters: Dict[str, Dict[str, int]] = {}
            start = time.perf_counter()
            run = self._run_one(p, resources, counters)
            seconds = time.perf_counter() - start
            llm = None
            if before is not None:
                after = self._llm_stats(p)
                llm = {k: after[k] - before[k] for k in after}
                llm["queries"] = len(self.dataset.queries)
            means, rows = evaluate(run, self.dataset.qrels, self.metrics, per_query=True)
            s = SystemResult(self.names[i], p.spec, means, rows, seconds, run=run, llm=llm,
                             counters=counters)
            if stage is not None:
                run_name = f"{i:02d}-{_slug(self.names[i], 60)}.trec"
                run.name = _slug(self.names[i], 60)
                write_trec_run(stage / run_name, run)
                side = self.sidecar(i, run_name)
                side["mean"] = means
                side["seconds"] = round(seconds, 3)
                if llm is not None:
                    side["llm_cost"] = llm
                if counters:
                    side["stage_counters"] = counters
                (stage / f"{run_name}.json").write_text(json.dumps(side, indent=2) + "\n",
                                                       encoding="utf-8")
                s.run_path = str(self.save_runs / run_name)
                s.sidecar_path = f"{s.run_path}.json"
            self._note(f"[{i + 1}/{len(self.pipelines)}] {self.names[i]}: "
                       + "  ".join(f"{m} {_fmt(means[m])}" for m in self.metrics)
                       + f"  ({seconds:.1f}s"
                       + (f", {llm['requests']} LLM calls" if llm is not None else "") + ")")
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


def _model_options(options: Optional[Mapping[str, Any]], cls: type, what: str) -> Dict[str, Any]:
    """``options`` as a dict, checked against ``cls.from_pretrained``'s keyword arguments (an
    unknown key is a ValueError naming it and the accepted ones, before any model loads)."""
    import inspect
    options = dict(options or {})
    accepted = [name for name in inspect.signature(cls.from_pretrained).parameters if name != "name_or_path"]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(f"{what}: unknown option {unknown[0]!r} of densefb.{cls.__name__}.from_pretrained; "
                         f"expected one of {', '.join(accepted)}")
    return options


def reproduce_run(sidecar: PathLike, *, cache_dir: Optional[PathLike] = None,
                  quiet: Optional[bool] = True) -> Run:
    """Runs again the pipeline a run's JSON sidecar describes, on the dataset, split, models
    (encoder, token encoder, cross-encoder, each with its recorded options), index options and
    depth it records, and returns the new run."""
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
    gen = res.get("generator") or {}
    llm = {"model": gen.get("model"),
           "base_url": None if gen.get("base_url") in (None, "(environment)") else gen["base_url"],
           **{k: gen[k] for k in ("max_concurrency", "timeout", "max_retries", "chat") if k in gen}}
    if gen.get("cache"):
        llm["cache_dir"] = gen["cache"]
    tokens, cross = res.get("token_encoder") or {}, res.get("cross_encoder") or {}
    exp = Experiment(ds["path"], [side["pipeline"]], model=model, split=ds["split"], llm=llm,
                     encoder_args=(res.get("encoder") or {}).get("options"),
                     token_model=tokens.get("path") or tokens.get("model"), token_args=tokens.get("options"),
                     cross_encoder=cross.get("path") or cross.get("model"), cross_args=cross.get("options"),
                     k=side["k"], cache_dir=cache_dir, index=kind, index_args=params,
                     bm25_args=bm25, batch_size=side.get("batch_size", 32), quiet=quiet,
                     metrics=list((side.get("mean") or {"nDCG@10": 0}).keys()))
    resources = exp.resources()
    return exp._run_one(exp.pipelines[0], resources)
