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

# The implementation lives in three modules; this one keeps every name importable from
# densefb.experiment as before.
from densefb.experiment_resources import (BM25_OPTIONS, INDEX_KINDS, RESOURCE_NAMES,  # noqa: F401
                                          ExperimentResources, _corpus_fingerprint,
                                          _describe_given, _key, _model_fingerprint, _progress,
                                          _show_progress, _slug, check_bm25_args,
                                          default_cache_dir)
from densefb.experiment_results import (CORRECTIONS, RESULT_FORMAT, TESTS, Comparison,  # noqa: F401
                                        ExperimentResult, SystemResult, _fmt, _fmt_p, _md_code,
                                        _md_table, _text_table, _write_per_query_tsv,
                                        _write_text_atomic, compare_systems)
from densefb.experiment_runner import (SIDECAR_FORMAT, SIDECAR_VERSION, Experiment,  # noqa: F401
                                       PathLike, PipelineLike, _as_pipeline, reproduce_run)

__all__ = ["Experiment", "ExperimentResult", "SystemResult", "Comparison", "default_cache_dir",
           "reproduce_run", "SIDECAR_FORMAT"]
