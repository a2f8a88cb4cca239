"""``densefb index``: builds a dense index (exact or HNSW), a BM25 index, or both, over the
corpus of a BEIR folder, into an index folder that ``densefb search`` reads.

    densefb index DATASET --output DIR [--model NAME_OR_PATH] [--dense flat|hnsw|none] [--bm25]
                  [--metric ip|cosine] [--M 16] [--ef-construction 200] [--ef-search 10]
                  [--k1 0.9] [--b 0.4] [--exact-lengths] [--vectors FILE.npy] [--batch-size 32] [--max-length N]
                  [--threads N] [--overwrite] [--quiet]

The folder holds ``dense.flat`` or ``dense.hnsw``, ``bm25.index``, ``docids.txt`` (document ids
by position: index ids are corpus positions) and ``manifest.json`` (model, dataset, every
parameter, densefb version, document count, sha256 of docids.txt and of the corpus file). It is
built in a temporary folder beside the output, renamed into place when complete, so a failure or
Ctrl-C leaves the old output as it was. Errors are one line on stderr and exit status 2; Ctrl-C
prints one line and exits with status 130.
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

from densefb import _cli_util as util
from densefb._cli_util import UserError

__all__ = ["register", "run_index", "main", "resolve_dataset"]

_DESCRIPTION = (
    "Builds a dense index (exact 'flat' or approximate 'hnsw') and/or a BM25 index over the corpus "
    "of a BEIR folder, into an index folder for 'densefb search'. The folder also gets docids.txt "
    "(document ids; index ids are corpus positions) and manifest.json (model, dataset, parameters, "
    "densefb version). Progress bars are shown on a terminal unless --quiet. Errors are one line "
    "on stderr and exit status 2.")


def resolve_dataset(text: str) -> Path:
    """A BEIR folder given as a path or as a name under ``$DENSEFB_DATA``."""
    path = Path(text)
    if not path.is_dir():
        data = os.environ.get("DENSEFB_DATA")
        if data and (Path(data) / text).is_dir():
            path = Path(data) / text
        else:
            where = f" nor a folder under $DENSEFB_DATA ({data})" if data else " ($DENSEFB_DATA is not set)"
            raise UserError(f"dataset {text!r} is not a folder{where}")
    return path


def _corpus_file(folder: Path) -> Path:
    for name in ("corpus.jsonl", "corpus.jsonl.gz"):
        if (folder / name).is_file():
            return folder / name
    raise UserError(f"{folder}: no corpus.jsonl or corpus.jsonl.gz (not a BEIR folder)")


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dataset", metavar="DATASET",
                        help="BEIR folder (corpus.jsonl[.gz]), or a collection name under $DENSEFB_DATA")
    parser.add_argument("-o", "--output", required=True, metavar="DIR",
                        help="index folder to create (must be new or empty unless --overwrite)")
    parser.add_argument("-m", "--model", metavar="NAME_OR_PATH",
                        help="bi-encoder: a model folder or a name such as "
                             "sentence-transformers/all-MiniLM-L6-v2 resolved offline (packaged copy or "
                             "Hugging Face cache); required with a dense index, recorded for search")
    dense = parser.add_argument_group("dense index")
    dense.add_argument("--dense", choices=["flat", "hnsw", "none"], default="flat",
                       help="dense index kind: exact 'flat', approximate 'hnsw', or 'none' "
                            "(BM25 only; then --bm25 is needed) (default: flat)")
    dense.add_argument("--metric", choices=["ip", "cosine"], default="ip",
                       help="similarity: inner product, or cosine (default: ip, which is cosine for a "
                            "normalising model such as all-MiniLM-L6-v2)")
    dense.add_argument("--M", type=util.positive_int, default=16, metavar="M",
                       help="HNSW: links per node, 2*M on the base layer (default: 16)")
    dense.add_argument("--ef-construction", type=util.positive_int, default=200, metavar="N",
                       help="HNSW: candidate list size while building (default: 200)")
    dense.add_argument("--ef-search", type=util.positive_int, default=10, metavar="N",
                       help="HNSW: default candidate list size of searches, stored in the index "
                            "(default: 10; 'densefb search --ef-search' overrides it)")
    dense.add_argument("--vectors", metavar="FILE.npy",
                       help="document vectors computed elsewhere: a float32 (documents, dim) .npy array "
                            "in corpus order, indexed instead of encoding the corpus (--model still names "
                            "the query encoder)")
    enc = parser.add_argument_group("encoding")
    enc.add_argument("--batch-size", type=util.positive_int, default=32, metavar="N",
                     help="texts per encoder forward pass (default: 32)")
    enc.add_argument("--chunk-size", type=util.positive_int, default=4096, metavar="N",
                     help="texts encoded before each add to the index; bounds memory (default: 4096)")
    enc.add_argument("--max-length", type=util.non_negative_int, default=0, metavar="N",
                     help="tokens per text, [CLS]/[SEP] included; 0 = the model's max_seq_length "
                          "(default: 0)")
    enc.add_argument("--query-prefix", default="", metavar="TEXT",
                     help="prepended to every query at search time (e.g. 'query: '); recorded (default: none)")
    enc.add_argument("--doc-prefix", default="", metavar="TEXT",
                     help="prepended to every document (e.g. 'passage: ') (default: none)")
    enc.add_argument("--device", default="cpu", metavar="DEV",
                     help="encoder device: cpu, cuda or cuda:N (default: cpu)")
    enc.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16", "int8"],
                     help="encoder arithmetic: fp32; bf16 (CUDA, or a CPU with bf16 instructions, "
                          "else fp32); fp16 (CUDA); int8 (CPU, dynamic quantisation); recorded, and "
                          "used for queries at search time (default: fp32)")
    bm25 = parser.add_argument_group("BM25 index")
    bm25.add_argument("--bm25", action="store_true",
                      help="also build a BM25 index (Lucene English analysis; title and text)")
    bm25.add_argument("--k1", type=float, default=0.9, help="BM25 k1 (default: 0.9, Pyserini's)")
    bm25.add_argument("--b", type=float, default=0.4, help="BM25 b (default: 0.4, Pyserini's)")
    bm25.add_argument("--exact-lengths", action="store_true",
                      help="score with exact document lengths instead of Lucene's quantised "
                           "1-byte length norms (the default, as Anserini and Pyserini)")
    scale = parser.add_argument_group("scale-out on Ray (docs/scale-out.md)")
    scale.add_argument("--shards", type=util.positive_int, default=None, metavar="N",
                       help="split the collection into N shards, encoded and indexed on Ray; the "
                            "folder gets one shard-NNN/ per shard and a sharded manifest, and a "
                            "killed build resumes where it stopped")
    scale.add_argument("--token-model", metavar="NAME_OR_PATH",
                       help="also build multi-vector (ColBERT-style) shards with this token encoder "
                            "(densefb.ColbertEncoder), for maxsim, rerank_maxsim and colbert_prf")
    scale.add_argument("--token-arg", action="append", metavar="KEY=VALUE",
                       help="token encoder option, repeatable (densefb.ColbertEncoder.from_pretrained): "
                            "format=auto|colbert|pylate|bert, query_maxlen=32, doc_maxlen=180, "
                            "mask_punctuation=true; recorded for queries")
    scale.add_argument("--token-index", choices=["flat", "hnsw"], default="flat",
                       help="each multi-vector shard's token index: exact 'flat' or approximate 'hnsw' "
                            "(default: flat)")
    scale.add_argument("--ray", default=None, metavar="ADDRESS",
                       help="the Ray cluster to run on (e.g. auto or ray://head:10001); default: "
                            "start a local Ray instance")
    scale.add_argument("--actors", type=util.positive_int, default=None, metavar="N",
                       help="encoder actors, each with one copy of the model (default: the "
                            "cluster's CPUs / --threads-per-actor)")
    scale.add_argument("--threads-per-actor", type=util.positive_int, default=1, metavar="N",
                       help="CPUs and torch threads of each encoder actor (default: 1)")
    parser.add_argument("--threads", type=util.non_negative_int, default=0, metavar="N",
                        help="threads for encoding and indexing; 0 = all cores (default: 0)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing index folder of densefb index; the old one is "
                             "kept until the new one is complete")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no progress bars, status lines or summary line (bars and status lines "
                             "are shown only when stderr is a terminal)")


def register(subparsers) -> argparse.ArgumentParser:
    """Adds the ``index`` subcommand to an argparse subparsers object; it runs :func:`run_index`."""
    parser = subparsers.add_parser("index", help="build a dense and/or BM25 index of a BEIR folder",
                                   description=_DESCRIPTION)
    _add_arguments(parser)
    util.one_line_argparse_errors(parser)
    parser.set_defaults(func=run_index)
    return parser


def _check_args(args: argparse.Namespace) -> None:
    if not args.shards:
        given = [f for f, v in (("--ray", args.ray), ("--actors", args.actors),
                                ("--threads-per-actor", args.threads_per_actor != 1),
                                ("--token-model", args.token_model), ("--token-arg", args.token_arg),
                                ("--token-index", args.token_index != "flat")) if v]
        if given:
            raise UserError(f"{', '.join(given)} need --shards N")
    if args.token_arg and not args.token_model:
        raise UserError("--token-arg needs --token-model")
    if args.dense == "none" and not args.bm25 and not args.token_model:
        raise UserError("nothing to build: --dense none needs --bm25 (or --token-model with --shards)")
    if args.dense != "none" and not args.model:
        raise UserError("a dense index needs --model (the encoder of documents and queries)")
    if args.vectors and args.dense == "none":
        raise UserError("--vectors needs a dense index (--dense flat or hnsw)")
    if args.dense != "hnsw":
        defaults = {"M": 16, "ef_construction": 200, "ef_search": 10}
        changed = [f"--{k.replace('_', '-')}" for k, v in defaults.items() if getattr(args, k) != v]
        if changed:
            raise UserError(f"{', '.join(changed)} apply to --dense hnsw only")


def _check_output(args: argparse.Namespace) -> Path:
    """The output folder, checked before any work: new, empty, or (with --overwrite) an index
    folder of densefb index; its parent must exist."""
    out = Path(args.output)
    util.check_output_parent(args.output, "--output", folder=True)
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not args.overwrite:
            raise UserError(f"{out}: folder is not empty (use --overwrite to replace its index)")
        try:
            util.read_manifest(out)
        except UserError as error:
            raise UserError(f"--overwrite replaces an index folder of densefb index only, and "
                            f"{util.one_line(error)}; remove the folder yourself") from None
    return out


def _corpus_line(path: Path, position: int) -> int:
    """The line of the corpus file holding document ``position`` (0-based; blank lines skipped,
    as the reader skips them)."""
    import gzip

    opener = gzip.open if path.name.endswith(".gz") else open
    seen = -1
    with opener(path, "rb") as f:
        for number, line in enumerate(f, 1):
            if line.strip():
                seen += 1
                if seen == position:
                    return number
    return position + 1


def _check_corpus_ids(ids, corpus_path: Path) -> None:
    """Refuses ids that docids.txt and TREC files cannot keep exactly, naming id and line."""
    bad = util.first_bad_id(ids)
    if bad:
        position, doc_id, problem = bad
        raise UserError(f"{corpus_path}:{_corpus_line(corpus_path, position)}: document id "
                        f"{doc_id!r} {problem}; document ids must be non-empty, without "
                        f"whitespace or control characters, and distinct")


def _load_vectors(path: str, n_docs: int):
    import numpy as np

    try:
        vectors = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as error:
        raise UserError(f"{path}: cannot read a .npy array ({util.one_line(error)})") from None
    if vectors.ndim != 2 or vectors.shape[0] != n_docs:
        raise UserError(f"{path}: shape {tuple(vectors.shape)}, expected ({n_docs}, dim) for the "
                        f"{n_docs} documents of the corpus")
    return vectors


def build(args: argparse.Namespace) -> Dict[str, Any]:
    """Builds the indexes described by parsed arguments into a temporary folder beside the
    output, which replaces the output only when complete; returns the manifest written."""
    _check_args(args)
    dataset = resolve_dataset(args.dataset)
    corpus_path = _corpus_file(dataset)
    if args.shards:
        return _build_sharded(args, dataset)
    _check_output(args)
    with util.atomic_folder(args.output) as out:
        return _build_into(out, args, dataset, corpus_path)


def _build_into(out: Path, args: argparse.Namespace, dataset: Path, corpus_path: Path) -> Dict[str, Any]:
    import densefb

    progress = util.show_progress(args)
    started = time.perf_counter()
    util.note(args, f"reading {corpus_path}")
    corpus = densefb._core.read_beir_corpus(os.fspath(corpus_path))
    if len(corpus) == 0:
        raise UserError(f"{corpus_path}: no documents")
    doc_ids = list(corpus.ids)
    _check_corpus_ids(doc_ids, corpus_path)
    ids_bytes = "".join(doc_id + "\n" for doc_id in doc_ids).encode("utf-8")
    manifest: Dict[str, Any] = {
        "format": util.MANIFEST_FORMAT,
        "version": util.MANIFEST_VERSION,
        "densefb_version": densefb.__version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "num_documents": len(corpus),
        "dataset": {"name": dataset.resolve().name, "path": os.fspath(dataset.resolve()),
                    "corpus": corpus_path.name, "num_documents": len(corpus),
                    "corpus_sha256": util.sha256_file(corpus_path)},
        "doc_ids": {"file": util.DOC_IDS, "count": len(corpus),
                    "sha256": hashlib.sha256(ids_bytes).hexdigest()},
        "model": None,
        "dense": None,
        "bm25": None,
    }

    vectors = _load_vectors(args.vectors, len(corpus)) if args.vectors else None
    if args.dense != "none":
        model_path = densefb.resolve_model(args.model)
        encoder = densefb.Encoder.from_pretrained(
            model_path, max_length=args.max_length, device=args.device, num_threads=args.threads,
            query_prefix=args.query_prefix, document_prefix=args.doc_prefix, precision=args.precision)
        given = Path(args.model)
        manifest["model"] = {
            "name": os.fspath(given.resolve()) if given.is_dir() else args.model,
            "path": os.fspath(Path(model_path).resolve()),
            "dim": encoder.dim, "max_length": encoder.max_length, "normalized": encoder.normalized,
            "query_prefix": args.query_prefix, "doc_prefix": args.doc_prefix,
            "precision": encoder.precision,
        }
        if encoder.precision == "int8":  # 8 or 7 bits, by the CPU: part of how the vectors came about
            from densefb import _torch

            manifest["model"]["int8_weight_bits"] = _torch.int8_weight_bits()
        params: Dict[str, Any] = {"metric": args.metric}
        if args.dense == "hnsw":
            params.update(M=args.M, ef_construction=args.ef_construction, ef_search=args.ef_search)
            index = densefb.HnswIndex(encoder.dim, num_threads=args.threads, **params)
        else:
            index = densefb.FlatIndex(encoder.dim, metric=args.metric)
        if vectors is not None:
            if vectors.shape[1] != encoder.dim:
                raise UserError(f"{args.vectors}: vectors of dimension {vectors.shape[1]}, but the model "
                                f"{args.model} outputs {encoder.dim}")
            util.note(args, f"adding {len(corpus)} vectors from {args.vectors}")
            chunk = args.chunk_size
            for begin in range(0, len(corpus), chunk):
                index.add(vectors[begin:begin + chunk])
            source = {"vectors": os.fspath(Path(args.vectors).resolve())}
        else:
            util.note(args, f"encoding {len(corpus)} documents with {args.model}")
            densefb.build_index(encoder, corpus, index, batch_size=args.batch_size,
                                chunk_size=args.chunk_size, show_progress=progress)
            source = {"encoded": True, "batch_size": args.batch_size}
        filename = f"dense.{args.dense}"
        index.save(out / filename)
        manifest["dense"] = {"kind": args.dense, "file": filename, "dim": encoder.dim,
                             "num_vectors": index.ntotal, **params, **source}

    if args.bm25:
        util.note(args, f"building BM25 over {len(corpus)} documents")
        norms = {"lucene_norms": False} if args.exact_lengths else {}
        bm25 = densefb.Bm25Index.build(corpus, k1=args.k1, b=args.b, num_threads=args.threads, **norms)
        bm25.save(out / "bm25.index")
        manifest["bm25"] = {"file": "bm25.index", "k1": args.k1, "b": args.b, "stopwords": True,
                            "stemmer": "porter", "lucene_norms": bm25.lucene_norms,
                            "num_terms": bm25.num_terms}

    (out / util.DOC_IDS).write_bytes(ids_bytes)
    manifest["build_seconds"] = round(time.perf_counter() - started, 3)
    (out / util.MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def _build_sharded(args: argparse.Namespace, dataset: Path) -> Dict[str, Any]:
    """``--shards N``: densefb.distributed.build into the output folder. A folder holding shards
    of an earlier, interrupted build with the same settings is resumed."""
    from densefb import cli_experiment, distributed

    out = Path(args.output)
    util.check_output_parent(args.output, "--output", folder=True)
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not args.overwrite:
        names = [p.name for p in out.iterdir()]
        if not any(n.startswith("shard-") for n in names):
            raise UserError(f"{out}: folder is not empty and holds no shards to resume (use --overwrite "
                            f"to build into it)")
    index_args: Dict[str, Any] = {"metric": args.metric}
    if args.dense == "hnsw":
        index_args.update(M=args.M, ef_construction=args.ef_construction, ef_search=args.ef_search)
    bm25_args: Dict[str, Any] = {"k1": args.k1, "b": args.b}
    if args.exact_lengths:
        bm25_args["lucene_norms"] = False
    vectors = None
    if args.vectors:
        import densefb

        n = len(densefb._core.read_beir_corpus(os.fspath(_corpus_file(dataset))))
        vectors = _load_vectors(args.vectors, n)
    try:
        return distributed.build(
            dataset, out, shards=args.shards, model=args.model,
            dense=None if args.dense == "none" else args.dense, index_args=index_args,
            bm25=args.bm25, bm25_args=bm25_args, vectors=vectors, ray_address=args.ray,
            encoder_args={"max_length": args.max_length, "query_prefix": args.query_prefix,
                          "document_prefix": args.doc_prefix},
            token_model=args.token_model, token_index=args.token_index,
            token_args=cli_experiment.parse_key_values(args.token_arg, "--token-arg"),
            num_actors=args.actors, cpus_per_actor=args.threads_per_actor, device=args.device,
            batch_size=args.batch_size, show_progress=util.show_progress(args))
    except distributed.ShardError as error:
        raise UserError(str(error)) from None


def run_index(args: argparse.Namespace) -> int:
    """Runs ``densefb index`` on parsed arguments; returns the exit status (0, 2 on error, 130 on
    Ctrl-C)."""
    return util.run_guarded("index", lambda: _index(args))


def _index(args: argparse.Namespace) -> int:
    manifest = build(args)
    if manifest.get("format") == "densefb-sharded-index":
        if not args.quiet:
            kept = manifest["reused_shards"]
            parts = [f"{len(manifest['shards'])} shards of {manifest['num_documents']} documents"]
            if manifest["dense"]:
                parts.append(f"{manifest['dense']['kind']} dense")
            if manifest["bm25"]:
                parts.append("BM25 with collection statistics")
            resumed = f" ({len(kept)} kept from an earlier build)" if kept else ""
            print(f"{args.output}: {', '.join(parts)} in {manifest['build_seconds']:.1f} s{resumed}")
        return 0
    parts = []
    if manifest["dense"]:
        d = manifest["dense"]
        parts.append(f"{d['kind']} index of {d['num_vectors']} vectors (dim {d['dim']}, {d['metric']})")
    if manifest["bm25"]:
        parts.append(f"BM25 index ({manifest['bm25']['num_terms']} terms)")
    if not args.quiet:
        print(f"{args.output}: {' and '.join(parts)} in {manifest['build_seconds']:.1f} s")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``python -m densefb.cli_index ...``: the same as ``densefb index ...``."""
    from densefb import cli

    return cli.main(["index", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
