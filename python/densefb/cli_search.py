"""``densefb search``: searches an index folder made by ``densefb index`` and writes a TREC run.

    densefb search INDEX_DIR (--dataset DIR [--split test] | --queries FILE) --output RUN
                   [--k 1000] [--retriever dense|bm25] [--model NAME_OR_PATH]
                   [--prf avg|rocchio [--prf-depth N] [--rocchio-alpha A] [--rocchio-beta B]
                    [--rocchio-gamma G] [--rocchio-topk N] [--rocchio-bottomk N] [--prf-normalize]
                    [--prf-rerank]]
                   [--rm3 [--rm3-fb-terms 10] [--rm3-fb-docs 10] [--rm3-weight 0.5]]
                   [--pipeline SPEC] [--ef-search N] [--metrics M ...] [--tag TAG] [--quiet]

Queries come from a BEIR folder (its judged queries of ``--split``; then ``--metrics`` are
computed against its qrels) or from a file: BEIR ``queries.jsonl[.gz]`` or a TSV of
``qid<TAB>text`` lines (Pyserini's topic TSV). Errors are one line on stderr and exit status 2.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from densefb import _cli_util as util
from densefb._cli_util import UserError
from densefb.cli_index import resolve_dataset

__all__ = ["register", "run_search", "main", "read_queries_file"]

_DESCRIPTION = (
    "Searches an index folder made by 'densefb index' and writes a TREC run (qid Q0 docid rank score "
    "tag). Dense retrieval can add vector pseudo-relevance feedback (--prf avg|rocchio, Pyserini's "
    "definitions and defaults); BM25 can add RM3 (--rm3); --pipeline runs any pipeline spec instead. "
    "With --dataset, --metrics evaluates the run against the folder's qrels (trec_eval conventions). "
    "Errors are one line on stderr and exit status 2.")

# The flags that write the arguments of a stage: flag dest -> (stage, parameter). Their
# defaults are the stages' own (densefb.stage_defaults), written once in the C++ tables.
_ROCCHIO_FLAGS = {"rocchio_alpha": "alpha", "rocchio_beta": "beta", "rocchio_gamma": "gamma",
                  "rocchio_topk": "topk", "rocchio_bottomk": "bottomk"}
_RM3_FLAGS = {"rm3_fb_terms": "fb_terms", "rm3_fb_docs": "fb_docs", "rm3_weight": "original_query_weight"}


def _default(stage: str, param: str) -> Any:
    from densefb.pipeline import stage_defaults

    return stage_defaults(stage)[param]


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("index", metavar="INDEX_DIR",
                        help="index folder written by 'densefb index' (with --shards: searched on Ray)")
    parser.add_argument("--ray", default=None, metavar="ADDRESS",
                        help="sharded index: the Ray cluster its shard actors run on (default: start "
                             "a local Ray instance)")
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("-d", "--dataset", metavar="DIR",
                     help="BEIR folder (or a name under $DENSEFB_DATA): its judged queries of --split")
    src.add_argument("--queries", metavar="FILE",
                     help="queries file: BEIR queries.jsonl[.gz], or TSV lines 'qid<TAB>text'")
    parser.add_argument("--split", default="test",
                        help="qrels split of --dataset (qrels/<split>.tsv) (default: test)")
    parser.add_argument("-o", "--output", required=True, metavar="RUN",
                        help="TREC run file to write, replaced only when complete ('-': stdout)")
    parser.add_argument("-k", "--k", type=util.positive_int, default=1000,
                        help="results per query (default: 1000)")
    parser.add_argument("--retriever", choices=["dense", "bm25"], default=None,
                        help="index searched: dense or bm25 (default: dense if the folder has a dense "
                             "index, else bm25)")
    parser.add_argument("-m", "--model", metavar="NAME_OR_PATH",
                        help="query encoder (default: the model recorded in the index manifest)")
    parser.add_argument("--ef-search", type=util.positive_int, default=None, metavar="N",
                        help="HNSW candidate list size (default: the index's)")
    parser.add_argument("--batch-size", type=util.positive_int, default=32, metavar="N",
                        help="queries per encoder forward pass (default: 32)")
    prf = parser.add_argument_group("vector pseudo-relevance feedback (dense retriever)")
    prf.add_argument("--prf", choices=["avg", "rocchio"],
                     help="refine each query vector from the first-pass documents' vectors, then search "
                          "again (Pyserini --prf-method): avg q'=(q+d1+..+dk)/(k+1); rocchio "
                          "q'=alpha q + beta mean(top) - gamma mean(bottom)")
    prf.add_argument("--prf-depth", type=util.non_negative_int, default=None, metavar="N",
                     help=f"avg: feedback documents k (default: {_default('avg', 'k')}); rocchio: first-pass depth the "
                          "top and bottom documents come from (default: 0 = the whole first pass)")
    prf.add_argument("--rocchio-alpha", type=float, default=None, metavar="A",
                     help=f"rocchio: weight of the query vector (default: {_default('rocchio', 'alpha')})")
    prf.add_argument("--rocchio-beta", type=float, default=None, metavar="B",
                     help=f"rocchio: weight of the mean of the top documents (default: {_default('rocchio', 'beta')})")
    prf.add_argument("--rocchio-gamma", type=float, default=None, metavar="G",
                     help=f"rocchio: weight of the mean of the bottom documents, subtracted (default: {_default('rocchio', 'gamma')}; "
                          "used only with --rocchio-bottomk > 0)")
    prf.add_argument("--rocchio-topk", type=util.positive_int, default=None, metavar="N",
                     help=f"rocchio: positive documents, the first N of the list (default: {_default('rocchio', 'topk')})")
    prf.add_argument("--rocchio-bottomk", type=util.non_negative_int, default=None, metavar="N",
                     help=f"rocchio: negative documents, the last N of the first-pass list (default: {_default('rocchio', 'bottomk')})")
    prf.add_argument("--prf-normalize", action="store_true",
                     help="L2-normalise the refined query vector (default: no, as Pyserini)")
    prf.add_argument("--prf-rerank", action="store_true",
                     help="re-score the first-pass candidates (top --k) with the refined vector instead of "
                          "searching the whole index again")
    rm3 = parser.add_argument_group("RM3 (bm25 retriever)")
    rm3.add_argument("--rm3", action="store_true", help="expand each query with RM3 (Pyserini's defaults)")
    rm3.add_argument("--rm3-fb-terms", type=util.positive_int, default=None, metavar="N",
                     help=f"RM3 expansion terms (default: {_default('rm3', 'fb_terms')})")
    rm3.add_argument("--rm3-fb-docs", type=util.positive_int, default=None, metavar="N",
                     help=f"RM3 feedback documents (default: {_default('rm3', 'fb_docs')})")
    rm3.add_argument("--rm3-weight", type=float, default=None, metavar="W",
                     help=f"RM3 weight of the original query (default: {_default('rm3', 'original_query_weight')})")
    util.add_plugin_argument(parser)
    parser.add_argument("--pipeline", metavar="SPEC",
                        help="a pipeline spec run instead of --retriever/--prf/--rm3, e.g. "
                             "'dense >> rocchio(alpha=0.4,beta=0.6,topk=5) >> dense' or "
                             "'fuse(rrf(k=60), dense, bm25)'; the stages use the folder's indexes "
                             "(and the corpus for text stages)")
    out = parser.add_argument_group("output")
    out.add_argument("--tag", default=None,
                     help="run tag, the last TREC column (default: a description of the method)")
    out.add_argument("--metrics", nargs="+", metavar="METRIC",
                     help="also evaluate with these measures (ir_measures or trec_eval names, e.g. "
                          "nDCG@10 R@100 AP) against the qrels of --dataset or --qrels")
    out.add_argument("--qrels", metavar="FILE",
                     help="qrels for --metrics (TREC or BEIR .tsv) (default: those of --dataset)")
    parser.add_argument("--filter", metavar="FILE",
                        help="allowed documents per query: lines 'QUERY_ID DOC_ID' (a query id '*' "
                             "allows the document for every query; a query without a line allows "
                             "nothing); every retriever searches within them, so PRF feedback documents "
                             "and the run hold allowed documents only")
    parser.add_argument("--threads", type=util.non_negative_int, default=0, metavar="N",
                        help="search and encoder threads; 0 = all cores (default: 0)")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no progress bars, no status lines and no summary")


def register(subparsers) -> argparse.ArgumentParser:
    """Adds the ``search`` subcommand to an argparse subparsers object; it runs :func:`run_search`."""
    parser = subparsers.add_parser("search", help="search an index folder and write a TREC run",
                                   description=_DESCRIPTION)
    _add_arguments(parser)
    util.one_line_argparse_errors(parser)
    parser.set_defaults(func=run_search)
    return parser


def read_queries_file(path: str) -> Tuple[List[str], List[str]]:
    """(ids, texts) of a BEIR queries.jsonl[.gz] file or a ``qid<TAB>text`` TSV file."""
    from densefb import _core

    p = Path(path)
    if not p.is_file():
        raise UserError(f"{path}: no such queries file")
    # Both readers share the C++ line reader (BOM, CRLF, invalid UTF-8 named by file and line).
    if p.name.endswith((".jsonl", ".jsonl.gz")):
        queries = _core.read_beir_queries(os.fspath(p))
    else:
        queries = _core.read_topics_tsv(os.fspath(p))
    return list(queries.ids), list(queries.texts)


def read_filter_file(path: str, query_ids: Sequence[str],
                     doc_names: Optional[Sequence[str]]) -> Dict[str, List[str]]:
    """{query id: allowed document ids} of a ``QUERY_ID DOC_ID`` file (``*`` = every query).
    UserError naming the file and line of a malformed line or an unknown document."""
    known = None if doc_names is None else set(doc_names)
    shared: List[str] = []
    allowed: Dict[str, List[str]] = {q: [] for q in query_ids}
    try:
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if not line.strip() or line.startswith("#"):
                    continue
                fields = line.split()
                if len(fields) != 2:
                    raise UserError(f"{path}:{number}: expected 'QUERY_ID DOC_ID', got {line.strip()!r}")
                qid, doc = fields
                if known is not None and doc not in known:
                    raise UserError(f"{path}:{number}: document {doc!r} is not in the index")
                if qid == "*":
                    shared.append(doc)
                elif qid in allowed:
                    allowed[qid].append(doc)
    except OSError as e:
        raise UserError(f"{path}: cannot read the filter file ({e.strerror})") from None
    except UnicodeDecodeError as e:
        raise UserError(f"{path}: not UTF-8 ({e.reason} at byte {e.start})") from None
    return {q: docs + shared for q, docs in allowed.items()}


def _check_args(args: argparse.Namespace, manifest: Dict[str, Any]) -> str:
    """Validates flag combinations against the index; returns the retriever."""
    rocchio_set = [k for k in _ROCCHIO_FLAGS if getattr(args, k) is not None]
    rm3_set = [k for k in _RM3_FLAGS if getattr(args, k) is not None]
    flag = lambda k: "--" + k.replace("_", "-")  # noqa: E731
    if args.pipeline:
        used = [f for f, on in (("--retriever", args.retriever), ("--prf", args.prf), ("--rm3", args.rm3))
                if on]
        if used:
            raise UserError(f"--pipeline replaces {', '.join(used)}: give one or the other")
    retriever = args.retriever or ("dense" if manifest.get("dense") else "bm25")
    if rocchio_set and args.prf != "rocchio":
        raise UserError(f"{flag(rocchio_set[0])} needs --prf rocchio")
    if (args.prf_depth is not None or args.prf_normalize or args.prf_rerank) and not args.prf:
        raise UserError("--prf-depth, --prf-normalize and --prf-rerank need --prf avg|rocchio")
    if args.prf == "avg" and args.prf_depth == 0:
        raise UserError("--prf-depth must be >= 1 with --prf avg")
    if rm3_set and not args.rm3:
        raise UserError(f"{flag(rm3_set[0])} needs --rm3")
    if not args.pipeline:
        if retriever == "dense" and not manifest.get("dense"):
            raise UserError(f"{args.index} has no dense index (built with --dense none)")
        if retriever == "bm25" and not manifest.get("bm25"):
            raise UserError(f"{args.index} has no BM25 index (build it with densefb index --bm25)")
        if args.prf and retriever != "dense":
            raise UserError("--prf needs the dense retriever")
        if args.rm3 and retriever != "bm25":
            raise UserError("--rm3 needs --retriever bm25")
    if args.ef_search is not None and (manifest.get("dense") or {}).get("kind") != "hnsw":
        raise UserError("--ef-search applies to an HNSW index only")
    if args.metrics and not (args.dataset or args.qrels):
        raise UserError("--metrics needs qrels: use --dataset or --qrels")
    return retriever


def _flag_spec(args: argparse.Namespace, retriever: str) -> str:
    """The pipeline spec that --retriever, --prf and --rm3 stand for (the flags are sugar: one
    code path, the pipeline's). Arguments not given keep the stages' defaults."""
    k = args.k
    if retriever == "bm25":
        first = f"bm25(k={k})"
        if not args.rm3:
            return first
        rm3 = {p: getattr(args, f) for f, p in _RM3_FLAGS.items() if getattr(args, f) is not None}
        args_text = ",".join(f"{p}={v}" for p, v in rm3.items())
        return f"{first} >> rm3{f'({args_text})' if args_text else ''} >> {first}"
    first = f"dense(k={k},ef_search={args.ef_search or 0})"
    if not args.prf:
        return first
    if args.prf == "avg":
        params = {"k": args.prf_depth} if args.prf_depth is not None else {}
    else:
        params = {p: getattr(args, f) for f, p in _ROCCHIO_FLAGS.items() if getattr(args, f) is not None}
        if args.prf_depth:
            params["depth"] = args.prf_depth
    if args.prf_normalize:
        params["normalize"] = "true"
    model = args.prf + (f"({','.join(f'{p}={v}' for p, v in params.items())})" if params else "")
    second = f"rescore(k={k})" if args.prf_rerank else first
    return f"{first} >> {model} >> {second}"


def _encoder(args: argparse.Namespace, manifest: Dict[str, Any]):
    import densefb

    model = manifest.get("model") or {}
    name = args.model or model.get("name")
    if not name:
        raise UserError(f"{args.index}: the manifest names no model; give --model")
    try:
        path = densefb.resolve_model(name)
    except FileNotFoundError:
        if args.model or not model.get("path") or not Path(model["path"]).is_dir():
            raise
        path = Path(model["path"])  # the copy used at index time
    # Queries are encoded on the CPU in the documents' precision; fp16 (CUDA only) becomes fp32.
    precision = model.get("precision", "fp32") if not args.model else "fp32"
    return densefb.Encoder.from_pretrained(
        path, max_length=int(model.get("max_length", 0)) if not args.model else 0,
        query_prefix=model.get("query_prefix", ""), num_threads=args.threads,
        precision="fp32" if precision == "fp16" else precision)


def _indexed_corpus(folder: util.IndexFolder, spec: str):
    """The corpus the manifest names, if it is still the one indexed (same sha256, same ids)."""
    import densefb

    dataset = folder.manifest.get("dataset") or {}
    corpus_path = Path(str(dataset.get("path"))) / str(dataset.get("corpus"))
    if not corpus_path.is_file():
        raise UserError(f"pipeline {spec!r} needs the corpus: {corpus_path} is gone; give --dataset")
    recorded = dataset.get("corpus_sha256")
    if recorded is not None and util.sha256_file(corpus_path) != recorded:
        raise UserError(f"{corpus_path}: changed since {folder.path} was indexed (sha256 differs "
                        f"from the manifest's); give --dataset or index it again")
    corpus = densefb._core.read_beir_corpus(os.fspath(corpus_path))
    if list(corpus.ids) != folder.doc_ids:
        raise UserError(f"{corpus_path}: its document ids differ from {folder.ids_path}")
    return corpus


def _run_pipeline(args, folder: util.IndexFolder, query_ids, query_texts, dataset):
    """Runs ``--pipeline SPEC`` with the indexes of the folder; returns (run, canonical spec)."""
    import densefb

    manifest = folder.manifest
    if not hasattr(densefb, "Pipeline"):
        raise UserError("--pipeline needs densefb.Pipeline, which this build of densefb lacks")
    pipeline = densefb.Pipeline.parse(args.pipeline)
    needs = set(pipeline.requires)
    resources: Dict[str, Any] = {}
    if needs & {"encoder", "dense_index"}:
        if not manifest.get("dense"):
            raise UserError(f"pipeline {pipeline.spec!r} needs a dense index; {args.index} has none")
        resources["encoder"] = _encoder(args, manifest)
        resources["dense_index"] = folder.load_dense()
        if args.ef_search and isinstance(resources["dense_index"], densefb.HnswIndex):
            raise UserError("with --pipeline, give the HNSW candidate list size as dense(ef_search=N)")
    if "bm25" in needs:
        if not manifest.get("bm25"):
            raise UserError(f"pipeline {pipeline.spec!r} needs a BM25 index; {args.index} has none")
        resources["bm25"] = folder.load_bm25()
    if "corpus" in needs or "bm25" not in resources:  # texts, or the document names of the run
        if dataset is not None:
            resources["corpus"] = dataset.corpus
        else:
            resources["corpus"] = _indexed_corpus(folder, pipeline.spec)
    missing = needs - set(resources)
    if missing:
        raise UserError(f"pipeline {pipeline.spec!r} needs {', '.join(sorted(missing))}, which "
                        f"'densefb search' does not provide")
    util.note(args, f"running {pipeline.spec} on {len(query_ids)} queries")
    run = pipeline.run(densefb.Resources(**resources), list(zip(query_ids, query_texts)), k=args.k,
                       num_threads=args.threads, batch_size=args.batch_size, filter=args.filter_map)
    return run, pipeline.spec


def _sharded_manifest(index_dir: Path) -> Optional[Dict[str, Any]]:
    """The manifest of a sharded index folder (densefb index --shards), else None."""
    from densefb.distributed import SHARDED_FORMAT

    path = index_dir / util.MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) and manifest.get("format") == SHARDED_FORMAT else None


def _run_sharded(args, manifest: Dict[str, Any], query_ids, query_texts, dataset):
    """Runs the pipeline over a sharded index on Ray: its dense, BM25 and multi-vector stages read
    the shards as one index (BM25 with the collection's statistics). Returns (run, canonical
    spec)."""
    import densefb
    from densefb import distributed

    with distributed.ShardedIndex(args.index, ray_address=args.ray) as index:
        pipeline = densefb.Pipeline.parse(args.pipeline)
        needs = set(pipeline.requires)
        unsupported = needs - {"encoder", "dense_index", "corpus"} - (
            {"multivector", "token_encoder"} if manifest.get("multivector") else set()) - (
            {"bm25"} if manifest.get("bm25") else set())
        if unsupported:
            raise UserError(f"pipeline {pipeline.spec!r} needs {', '.join(sorted(unsupported))}, which a "
                            f"sharded index ({args.index}) does not provide")
        if needs & {"encoder", "dense_index"} and not manifest.get("dense"):
            raise UserError(f"pipeline {pipeline.spec!r} needs a dense index; {args.index} has none")
        encoder = None
        if "encoder" in needs:  # the manifest's model with its recorded options, unless --model
            encoder = _encoder(args, manifest) if args.model else index.encoder()
        resources = index.resources(encoder=encoder, corpus=None if dataset is None else dataset.corpus)
        util.note(args, f"running {pipeline.spec} on {len(query_ids)} queries over {index.num_shards} shards")
        run = pipeline.run(resources, list(zip(query_ids, query_texts)), k=args.k,
                           num_threads=args.threads, batch_size=args.batch_size, filter=args.filter_map)
    return run, pipeline.spec


def _check_metrics(args: argparse.Namespace):
    """Validates --metrics names (the C++ measure parser) and reads --qrels, before any work;
    returns the qrels (None without --qrels)."""
    import densefb
    from densefb.evaluation import Measure

    for name in args.metrics or []:
        Measure(name)  # ValueError naming the measure
    return densefb.read_qrels(args.qrels) if args.qrels else None


def search(args: argparse.Namespace) -> Tuple[Any, str, Optional[Dict[str, float]], int]:
    """Runs a search from parsed arguments; returns (run, description, metric means, queries).
    Everything given is checked before searching; the run file replaces --output only when
    complete."""
    import densefb

    util.check_output_parent(args.output, "--output")
    qrels = _check_metrics(args)
    sharded = _sharded_manifest(Path(args.index))
    if sharded is not None:
        folder, manifest = None, sharded
    else:
        folder = util.IndexFolder(Path(args.index))
        manifest = folder.manifest
        if args.ray:
            raise UserError(f"--ray applies to a sharded index; {args.index} is not one")
    util.load_plugins(args)
    retriever = _check_args(args, manifest)
    progress = util.show_progress(args)

    dataset = None
    if args.dataset:
        data_folder = resolve_dataset(args.dataset)
        util.note(args, f"reading {data_folder} ({args.split})")
        dataset = densefb.load_beir(data_folder, args.split)
        query_ids, query_texts = list(dataset.queries.ids), list(dataset.queries.texts)
        if folder is not None:
            doc_ids = folder.doc_ids
            same = len(dataset.corpus) == len(doc_ids) and list(dataset.corpus.ids) == doc_ids
        else:
            doc_ids = range(manifest["num_documents"])
            same = len(dataset.corpus) == manifest["num_documents"]
        if not same:
            raise UserError(f"{data_folder}: its corpus differs from the one indexed in {args.index} "
                            f"({len(dataset.corpus)} vs {len(doc_ids)} documents, or other ids)")
        if qrels is None:
            qrels = dataset.qrels
    else:
        query_ids, query_texts = read_queries_file(args.queries)
    if not query_ids:
        raise UserError("no queries to search")
    args.filter_map = None
    if args.filter:
        names = folder.doc_ids if folder is not None else (None if dataset is None else list(dataset.corpus.ids))
        args.filter_map = read_filter_file(args.filter, query_ids, names)

    if not args.pipeline:
        args.pipeline = _flag_spec(args, retriever)
        if args.ef_search:
            args.ef_search = None  # written into the dense stage
    if folder is None:
        run, description = _run_sharded(args, manifest, query_ids, query_texts, dataset)
    else:
        run, description = _run_pipeline(args, folder, query_ids, query_texts, dataset)
    run.name = args.tag or "densefb-" + "".join(description.split())
    means = None
    if args.metrics:
        means = densefb.evaluate(run, qrels, list(dict.fromkeys(args.metrics)))
    with util.atomic_output(args.output) as tmp:
        densefb.write_trec_run(tmp, run)
    return run, description, means, len(query_ids)


def run_search(args: argparse.Namespace) -> int:
    """Runs ``densefb search`` on parsed arguments; returns the exit status (0, 2 on error, 130
    on Ctrl-C)."""
    return util.run_guarded("search", lambda: _search(args))


def _search(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    run, description, means, n = search(args)
    # With the run on stdout, the summary and metrics go to stderr.
    out = sys.stderr if util.is_stdout(args.output) else sys.stdout
    if not args.quiet:
        print(f"{args.output}: {n} queries, {run.num_entries} results, {description} "
              f"({time.perf_counter() - started:.1f} s)", file=out)
    if means is not None:
        print("  ".join(f"{m} {v:.4f}" for m, v in means.items()), file=out)
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``python -m densefb.cli_search ...``: the same as ``densefb search ...``."""
    from densefb import cli

    return cli.main(["search", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
