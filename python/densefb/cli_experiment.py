"""``densefb experiment``: several pipelines on a dataset's test queries; a table of metrics
with paired significance tests against the first pipeline.

    densefb experiment --dataset DIR --model NAME --pipeline SPEC [--pipeline SPEC ...]
                       [--name NAME ...] --metrics nDCG@10 R@100 AP [--json OUT]
                       [--markdown OUT] [--save-runs DIR] [--cache DIR] [--quiet] ...

Prints the table (means, significance markers, then t-test and Wilcoxon p-values before and
after Holm-Bonferroni correction). Errors are one line on stderr and exit status 2.
"""
from __future__ import annotations

import argparse
import contextlib
import shlex
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from densefb import _cli_util as util
from densefb._cli_util import UserError

__all__ = ["register", "run_experiment", "main", "add_common_arguments", "parse_key_values",
           "experiment_kwargs", "check_index_args", "check_bm25_args", "check_metrics",
           "check_outputs"]

_DESCRIPTION = (
    "Runs each pipeline (spec grammar: 'dense >> rocchio(alpha=0.4,beta=0.6,topk=5) >> dense', "
    "'bm25 >> rm3 >> bm25', 'fuse(rrf(k=60),dense,bm25)') on the queries of a BEIR folder's split, "
    "evaluates them (trec_eval conventions), and tests each against the first pipeline with a "
    "paired t-test and a Wilcoxon signed-rank test, Holm-Bonferroni corrected across pipelines. "
    "Indexes are built on demand from what the pipelines need and cached. Progress bars on a "
    "terminal unless --quiet. Errors are one line on stderr and exit status 2.")


def parse_key_values(items: Optional[Sequence[str]], what: str) -> Dict[str, Any]:
    """``["M=32", "seed=7", "stemmer=none"]`` -> ``{"M": 32, "seed": 7, "stemmer": "none"}``
    (numbers and true/false converted)."""
    out: Dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"{what} {item!r}: expected KEY=VALUE")
        low = value.lower()
        if low in ("true", "false"):
            out[key] = low == "true"
            continue
        try:
            out[key] = int(value)
        except ValueError:
            try:
                out[key] = float(value)
            except ValueError:
                out[key] = value
    return out


# Dense index options of --index-arg: the kinds they apply to, and how they are checked.
_INDEX_OPTIONS = {"metric": ("flat hnsw", "ip or cosine", lambda v: v in ("ip", "cosine")),
                  "M": ("hnsw", "an integer >= 2", lambda v: _is_int(v) and v >= 2),
                  "ef_construction": ("hnsw", "an integer >= 1", lambda v: _is_int(v) and v >= 1),
                  "ef_search": ("hnsw", "an integer >= 1", lambda v: _is_int(v) and v >= 1),
                  "seed": ("hnsw", "an integer >= 0", lambda v: _is_int(v) and v >= 0)}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_index_args(values: Dict[str, Any], kind: str) -> Dict[str, Any]:
    """--index-arg options checked against the known ones, their kind and type."""
    for key, value in values.items():
        if key not in _INDEX_OPTIONS:
            raise UserError(f"--index-arg {key}: unknown option; expected one of "
                            f"{', '.join(_INDEX_OPTIONS)}")
        kinds, expected, valid = _INDEX_OPTIONS[key]
        if kind not in kinds.split():
            raise UserError(f"--index-arg {key}: applies to --index hnsw only")
        if not valid(value):
            raise UserError(f"--index-arg {key}={value!r}: expected {expected}")
    return values


def check_bm25_args(values: Dict[str, Any]) -> Dict[str, Any]:
    """--bm25-arg options checked against densefb.experiment.BM25_OPTIONS."""
    from densefb.experiment import check_bm25_args as check

    try:
        return check(values)
    except ValueError as error:
        raise UserError(f"--bm25-arg: {error}") from None


def check_metrics(names: Sequence[str], option: str) -> List[str]:
    """Metric names checked by the C++ measure parser, before any work."""
    from densefb.evaluation import Measure

    for name in names:
        try:
            Measure(name)
        except ValueError as error:
            raise UserError(f"{option} {name}: {util.one_line(error)}") from None
    return list(dict.fromkeys(names))


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared by ``densefb experiment`` and ``densefb sweep``."""
    parser.add_argument("--dataset", required=True, metavar="DIR",
                        help="BEIR folder (corpus.jsonl[.gz], queries.jsonl[.gz], qrels/SPLIT.tsv), "
                             "or a collection name under $DENSEFB_DATA")
    parser.add_argument("--split", default="test", metavar="SPLIT",
                        help="qrels split whose queries are run (default: test)")
    parser.add_argument("--model", metavar="NAME_OR_PATH",
                        help="bi-encoder for the 'dense' stages: a model folder or a name such as "
                             "sentence-transformers/all-MiniLM-L6-v2 resolved offline (packaged copy "
                             "or Hugging Face cache); needed when a pipeline uses dense retrieval")
    parser.add_argument("--k", type=util.positive_int, default=1000, metavar="K",
                        help="depth of each run (default: 1000)")
    parser.add_argument("--cache", metavar="DIR",
                        help="folder where encoded/BM25 indexes are kept and reused, keyed by corpus "
                             "contents, model files and index options (default: $DENSEFB_CACHE, else "
                             "~/.cache/densefb)")
    parser.add_argument("--no-cache", action="store_true",
                        help="build indexes in memory only; read and write no cache")
    parser.add_argument("--index", choices=["flat", "hnsw"], default="flat",
                        help="dense index kind: exact 'flat' or approximate 'hnsw' (default: flat)")
    parser.add_argument("--index-arg", action="append", metavar="KEY=VALUE",
                        help="dense index option, repeatable: metric=ip|cosine; for hnsw M=16, "
                             "ef_construction=200, ef_search=10, seed=100 (the defaults)")
    parser.add_argument("--bm25-arg", action="append", metavar="KEY=VALUE",
                        help="BM25 index option, repeatable: k1=0.9, b=0.4, stopwords=true, "
                             "stemmer=porter|none, lucene_norms=true (the defaults; lucene_norms=false: "
                             "exact document lengths instead of Lucene's quantised norms)")
    parser.add_argument("--encoder-arg", action="append", metavar="KEY=VALUE",
                        help="bi-encoder option, repeatable (densefb.Encoder.from_pretrained): "
                             "precision=fp32|bf16|int8, max_length=256, query_prefix=..., "
                             "document_prefix=...; part of the dense index's cache key")
    parser.add_argument("--token-model", metavar="NAME_OR_PATH",
                        help="ColBERT-style token encoder for multi-vector stages (default: --model)")
    parser.add_argument("--token-arg", action="append", metavar="KEY=VALUE",
                        help="token encoder option, repeatable (densefb.ColbertEncoder.from_pretrained): "
                             "format=auto|colbert|pylate|bert (bert: a plain BERT's token "
                             "embeddings), query_maxlen=32, doc_maxlen=180, mask_punctuation=true")
    parser.add_argument("--cross-encoder", metavar="NAME_OR_PATH",
                        help="cross-encoder for 'rerank_cross' stages")
    parser.add_argument("--cross-arg", action="append", metavar="KEY=VALUE",
                        help="cross-encoder option, repeatable (densefb.CrossEncoder.from_pretrained): "
                             "max_length=512, activation=none|sigmoid, label=0, precision=fp32|bf16|int8")
    llm = parser.add_argument_group(
        "LLM stages", "an OpenAI-compatible server (vLLM, llama.cpp, a hosted API) for the "
        "rerank_*/query2doc/hyde/prompt_prf/llm_terms stages; the API key is read from "
        "$DENSEFB_LLM_API_KEY or $OPENAI_API_KEY only, so that it stays out of shell histories "
        "and run sidecars")
    llm.add_argument("--llm-base-url", metavar="URL",
                     help="e.g. http://127.0.0.1:8000/v1 (default: $DENSEFB_LLM_BASE_URL, else "
                          "$OPENAI_BASE_URL)")
    llm.add_argument("--llm-model", metavar="NAME",
                     help="the served model's name (default: $DENSEFB_LLM_MODEL)")
    llm.add_argument("--llm-max-concurrency", type=util.positive_int, metavar="N",
                     help="requests in flight at once (default: 8)")
    llm.add_argument("--llm-timeout", type=float, metavar="SECONDS",
                     help="seconds per request (default: 60)")
    llm.add_argument("--llm-max-retries", type=util.non_negative_int, metavar="N",
                     help="retries after 429/5xx/timeouts, with exponential backoff (default: 4)")
    llm.add_argument("--llm-completions", action="store_true",
                     help="use /completions instead of /chat/completions")
    parser.add_argument("--batch-size", type=util.positive_int, default=32, metavar="N",
                        help="texts per encoder batch (default: 32)")
    parser.add_argument("--threads", type=util.non_negative_int, default=0, metavar="N",
                        help="threads for searches and scoring, 0 = all cores (default: 0)")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress bars or status lines on stderr (bars are shown only on a "
                             "terminal anyway)")


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser)
    util.add_plugin_argument(parser)
    parser.add_argument("--pipeline", required=True, action="append", metavar="SPEC",
                        help="a pipeline spec, repeatable; the first is the baseline of the tests")
    parser.add_argument("--name", action="append", metavar="NAME",
                        help="display name of each pipeline, repeatable, in --pipeline order "
                             "(default: the specs as written)")
    parser.add_argument("--metrics", nargs="+", default=["nDCG@10", "R@100", "AP"], metavar="METRIC",
                        help="ir_measures names (nDCG@10 R@100 AP RR@10 P@5 ...) (default: "
                             "nDCG@10 R@100 AP)")
    parser.add_argument("--tests", nargs="+", choices=["t-test", "wilcoxon"],
                        default=["t-test", "wilcoxon"],
                        help="paired tests against the first pipeline (default: both)")
    parser.add_argument("--correction", choices=["holm", "bonferroni", "none"], default="holm",
                        help="multiple-comparison correction across pipelines (default: holm)")
    parser.add_argument("--alpha", type=float, default=0.05,
                        help="significance level of the table's markers (default: 0.05)")
    parser.add_argument("--json", metavar="OUT",
                        help="write means, per-query values, tests and provenance as JSON "
                             "(replaced only when complete; '-': stdout)")
    parser.add_argument("--markdown", metavar="OUT",
                        help="write the tables as Markdown (replaced only when complete)")
    parser.add_argument("--save-runs", metavar="DIR",
                        help="write each run as a TREC file with a JSON sidecar recording how it "
                             "was made (pipeline spec with every parameter, model, index, dataset, "
                             "seeds, version, date, command line), plus per-query.tsv")
    scale = parser.add_argument_group("sharded index on Ray (docs/scale-out.md)")
    scale.add_argument("--sharded-index", metavar="DIR",
                       help="run the pipelines over a sharded index of the dataset (densefb index "
                            "--shards): its shards are the dense index, and bm25 / rm3 run as their "
                            "sharded stages")
    scale.add_argument("--ray", default=None, metavar="ADDRESS",
                       help="the Ray cluster of --sharded-index (default: start a local Ray instance)")


def register(subparsers) -> argparse.ArgumentParser:
    """Adds the ``experiment`` subcommand; it runs :func:`run_experiment`."""
    parser = subparsers.add_parser(
        "experiment", help="compare pipelines on a dataset, with significance tests",
        description=_DESCRIPTION)
    _add_arguments(parser)
    util.one_line_argparse_errors(parser)
    parser.set_defaults(func=run_experiment)
    return parser


def resolve_dataset(text: str) -> Path:
    import os
    path = Path(text)
    if path.is_dir():
        return path
    data = os.environ.get("DENSEFB_DATA")
    if data and (Path(data) / text).is_dir():
        return Path(data) / text
    where = f" nor a folder under $DENSEFB_DATA ({data})" if data else " ($DENSEFB_DATA is not set)"
    raise UserError(f"dataset {text!r} is not a folder{where}")


def experiment_kwargs(args: argparse.Namespace, command: str) -> Dict[str, Any]:
    """Experiment keyword arguments from the common options."""
    return dict(
        model=args.model, split=args.split, k=args.k, cache_dir=args.cache,
        use_cache=not args.no_cache, index=args.index,
        index_args=check_index_args(parse_key_values(args.index_arg, "--index-arg"), args.index),
        bm25_args=check_bm25_args(parse_key_values(args.bm25_arg, "--bm25-arg")),
        encoder_args=parse_key_values(args.encoder_arg, "--encoder-arg"), token_model=args.token_model,
        token_args=parse_key_values(args.token_arg, "--token-arg"), cross_encoder=args.cross_encoder,
        cross_args=parse_key_values(args.cross_arg, "--cross-arg"),
        llm=llm_settings(args),
        batch_size=args.batch_size, num_threads=args.threads,
        quiet=True if args.quiet else None,
        command_line=" ".join(shlex.quote(a) for a in ["densefb"] + _argv(args, command)))


def llm_settings(args: argparse.Namespace) -> Dict[str, Any]:
    """densefb.OpenAIGenerator keyword arguments from the --llm-* options (None: not given)."""
    if args.llm_timeout is not None and not (args.llm_timeout > 0 and args.llm_timeout < float("inf")):
        raise UserError(f"--llm-timeout must be a positive number of seconds, got {args.llm_timeout}")
    return {"base_url": args.llm_base_url, "model": args.llm_model,
            "max_concurrency": args.llm_max_concurrency, "timeout": args.llm_timeout,
            "max_retries": args.llm_max_retries, "chat": False if args.llm_completions else None}


def _argv(args: argparse.Namespace, command: str) -> List[str]:
    """The command's arguments as typed (``densefb`` main sets ``args.argv``)."""
    argv = list(getattr(args, "argv", None) or [])
    return argv if argv[:1] == [command] else [command] + argv


def check_outputs(args: argparse.Namespace, options: Sequence[str]) -> None:
    """The folder of each output option given must exist (checked before any work)."""
    for option in options:
        util.check_output_parent(getattr(args, option.lstrip("-").replace("-", "_")), option,
                                 folder=option == "--save-runs")


def run_experiment(args: argparse.Namespace) -> int:
    """Runs ``densefb experiment`` on parsed arguments; returns the exit status (0, 2 on error,
    130 on Ctrl-C)."""
    return util.run_guarded("experiment", lambda: _experiment(args))


def _experiment(args: argparse.Namespace) -> int:
    from densefb.experiment import Experiment

    util.load_plugins(args)
    check_outputs(args, ["--json", "--markdown", "--save-runs"])
    metrics = check_metrics(args.metrics, "--metrics")
    if args.name and len(args.name) != len(args.pipeline):
        raise UserError(f"{len(args.name)} --name for {len(args.pipeline)} --pipeline")
    kwargs = experiment_kwargs(args, "experiment")
    if args.ray and not args.sharded_index:
        raise UserError("--ray needs --sharded-index")
    with contextlib.ExitStack() as stack:
        pipelines = list(args.pipeline)
        if args.sharded_index:
            pipelines, kwargs["resources"] = _sharded(args, stack, pipelines)
        exp = Experiment(resolve_dataset(args.dataset), pipelines, names=args.name or list(args.pipeline),
                         metrics=metrics, tests=args.tests, correction=args.correction,
                         alpha=args.alpha, save_runs=args.save_runs, **kwargs)
        result = exp.run()
    if args.json:
        result.save_json(args.json)
    if args.markdown:
        result.save_markdown(args.markdown)
    print(result.table(), file=sys.stderr if util.is_stdout(args.json) or util.is_stdout(args.markdown)
          else sys.stdout)
    return 0


def _sharded(args: argparse.Namespace, stack: contextlib.ExitStack, pipelines: List[str]):
    """Opens --sharded-index (closed with ``stack``) after checking that it indexes the
    dataset's corpus; returns the pipelines as they run over it and the resources it gives."""
    from densefb import distributed

    index = stack.enter_context(distributed.ShardedIndex(args.sharded_index, ray_address=args.ray))
    corpus = distributed._corpus_path(resolve_dataset(args.dataset))
    if util.sha256_file(corpus) != index.manifest["dataset"]["corpus_sha256"]:
        raise UserError(f"{args.sharded_index} indexes another corpus than {corpus} (checksums differ)")
    resources: Dict[str, Any] = {}
    if index.dense is not None:
        resources["dense_index"] = index.dense
    if index.multivector is not None:
        resources["multivector"] = index.multivector
        if not args.token_model:  # the token encoder the shards were built with
            resources["token_encoder"] = index.token_encoder()
    if index.bm25 is not None:
        resources["bm25"] = index.bm25
    return pipelines, resources


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``python -m densefb.cli_experiment ...``: the same as ``densefb experiment ...``."""
    from densefb import cli

    return cli.main(["experiment", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
