"""densefb on Ray: sharded encoding, indexing and search, with the rankings of one machine.

A collection is split into shards of contiguous corpus positions. :func:`build` encodes it with
Ray Data (one model load per actor), writes each shard's indexes (dense flat or HNSW, BM25) in
densefb's checksummed formats into ``OUTPUT/shard-NNN/`` and, last, ``OUTPUT/manifest.json``.
A shard is written atomically with its own record (``shard.json``), so a build that was killed
resumes without redoing the shards it finished.

:class:`ShardedIndex` opens a manifest: one Ray actor per shard opens that shard's files, and
the driver merges the per-shard top-k lists exactly (score descending, ties by smaller corpus
position, as one index orders them)::

    import densefb, densefb.distributed as dd
    dd.build("data/scifact", "idx", shards=4)                    # local Ray when no address
    with dd.ShardedIndex("idx") as index:
        resources = index.resources()                           # dense_index = the shards
        run = densefb.Pipeline("dense >> rocchio(topk=5) >> dense").run(resources, queries)
        run = densefb.Pipeline("bm25 >> rm3 >> bm25").run(resources, queries)

- ``index.dense`` is a :class:`densefb.VectorIndex`: every stage that reads the dense index
  (``dense``, ``avg``, ``rocchio``, ``rescore``) runs over the shards unchanged; feedback
  vectors are fetched from the shards that own them.
- BM25 shards score with the collection's statistics (N, document frequencies, average
  length), gathered once when the index is built, so that their scores equal one index's.
  ``index.bm25`` is a :class:`densefb.Bm25Collection`: ``bm25``, ``rm3`` and ``llm_terms`` run
  over the shards unchanged.
- With ``token_model=``, multi-vector shards: ``index.multivector`` is a
  :class:`densefb.TokenCollection`, read by ``maxsim``, ``rerank_maxsim`` and ``colbert_prf``
  (nearest tokens merged exactly, MaxSim on the owning shard).
- A shard actor that dies is restarted by Ray and the call retried; if that fails too the call
  raises :class:`ShardError` naming the shard. A ranking is never returned with a shard missing.

The output folder must be reachable at the same path from every node of the cluster (a shared
file system), as the actors open the shard files where the driver wrote them.
"""
from __future__ import annotations

import contextlib
import datetime
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from densefb import _core
from densefb import _cli_util as util

__all__ = ["build", "ShardedIndex", "ShardError", "plan_shards", "init_ray", "SHARDED_FORMAT"]

SHARDED_FORMAT = "densefb-sharded-index"
SHARDED_VERSION = 1
SHARD_RECORD = "shard.json"
BM25_STATS = "bm25-collection-stats.json"

PathLike = Union[str, os.PathLike]


class ShardError(RuntimeError):
    """A shard could not answer: its actor died and could not be restarted, a call timed out, or
    its files are missing or corrupt. The message names the shard and its folder."""


# ---- planning --------------------------------------------------------------------------------


def plan_shards(num_documents: int, shards: Optional[int] = None,
                sizes: Optional[Sequence[int]] = None) -> List[Tuple[int, int]]:
    """The ``[start, end)`` corpus positions of each shard: ``shards`` ranges as even as possible
    (the first ones one larger), or exactly ``sizes`` (which must add up to ``num_documents``)."""
    if sizes is not None:
        sizes = [int(s) for s in sizes]
        if not sizes or any(s < 1 for s in sizes):
            raise ValueError(f"shard sizes must be positive, got {sizes}")
        if sum(sizes) != num_documents:
            raise ValueError(f"shard sizes add up to {sum(sizes)}, but the corpus has {num_documents} documents")
        if shards is not None and shards != len(sizes):
            raise ValueError(f"shards = {shards} but {len(sizes)} sizes were given")
    else:
        if shards is None or int(shards) < 1:
            raise ValueError(f"shards must be >= 1, got {shards}")
        shards = int(shards)
        if shards > num_documents:
            raise ValueError(f"{shards} shards for {num_documents} documents: every shard needs one")
        base, extra = divmod(num_documents, shards)
        sizes = [base + (1 if i < extra else 0) for i in range(shards)]
    bounds = np.concatenate([[0], np.cumsum(sizes)]).tolist()
    return [(int(a), int(b)) for a, b in zip(bounds, bounds[1:])]


# ---- Ray ---------------------------------------------------------------------------------------


def _ray():
    try:
        import ray
    except ImportError as e:  # pragma: no cover - ray is in the project's requirements
        raise ImportError("densefb.distributed needs Ray: pip install 'ray[data]'") from e
    return ray


def init_ray(address: Optional[str] = None, num_cpus: Optional[int] = None) -> Any:
    """Connects to the Ray cluster at ``address`` ("auto", "ray://host:10001", "host:6379"), or
    starts a local Ray instance when ``address`` is None; does nothing when this process is
    already connected. Returns the ``ray`` module."""
    ray = _ray()
    if not ray.is_initialized():
        kwargs: Dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                  "configure_logging": False}
        if address and address.startswith("ray://"):
            ray.init(address=address)  # Ray Client: the cluster's side owns logging and dashboard
        elif address:
            ray.init(address=address, **kwargs)
        else:
            ray.init(num_cpus=num_cpus, **kwargs)
    return ray


def _shard_name(i: int) -> str:
    return f"shard-{i:03d}"


# ---- building -----------------------------------------------------------------------------


class _EncodeBlocks:
    """Ray Data callable class: loads the encoders once per actor (the bi-encoder, the token
    encoder, or both) and encodes blocks of texts. Token embeddings travel as bytes (documents
    have different numbers of tokens)."""

    def __init__(self, model_path: Optional[str], options: Dict[str, Any], batch_size: int,
                 token_model_path: Optional[str] = None, token_options: Optional[Dict[str, Any]] = None) -> None:
        from densefb.encoders import ColbertEncoder, Encoder

        self.encoder = Encoder.from_pretrained(model_path, **options) if model_path else None
        self.token_encoder = (ColbertEncoder.from_pretrained(token_model_path, **(token_options or {}))
                              if token_model_path else None)
        self.batch_size = batch_size

    def __call__(self, batch: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        texts = [str(t) for t in batch["text"]]
        out: Dict[str, np.ndarray] = {"pos": np.asarray(batch["pos"], dtype=np.int64)}
        if self.encoder is not None:
            out["vector"] = self.encoder.encode(texts, batch_size=self.batch_size, show_progress=False)
        if self.token_encoder is not None:
            docs, ids = self.token_encoder.encode_documents_with_ids(texts, batch_size=self.batch_size,
                                                                     show_progress=False)
            out["ntok"] = np.array([len(d) for d in docs], dtype=np.int64)
            out["tok_dim"] = np.full(len(docs), self.token_encoder.dim, dtype=np.int64)
            out["tok_vectors"] = np.array([np.ascontiguousarray(d, dtype=np.float32).tobytes() for d in docs],
                                          dtype=object)
            out["tok_ids"] = np.array([np.ascontiguousarray(t, dtype=np.int32).tobytes() for t in ids],
                                      dtype=object)
        return out


def _token_rows(batch: Dict[str, np.ndarray], begin: int, end: int, dim: int
                ) -> Tuple[List[np.ndarray], List[np.ndarray]]:
    """Documents begin..end of an encoded batch: their (tokens, dim) embeddings and token ids."""
    docs, ids = [], []
    for j in range(begin, end):
        n = int(batch["ntok"][j])
        docs.append(np.frombuffer(batch["tok_vectors"][j], dtype=np.float32).reshape(n, dim))
        ids.append(np.frombuffer(batch["tok_ids"][j], dtype=np.int32))
    return docs, ids


def _build_bm25_shard(names: List[str], texts: List[str], params: Dict[str, Any], path: str) -> Dict[str, Any]:
    """Builds and saves one shard's BM25 index (a Ray task); returns its own statistics."""
    from densefb.sparse import Bm25Index

    index = Bm25Index.build(list(zip(names, texts)), num_threads=1, **params)
    index.save(path)
    return index.local_stats()


def _file_record(folder: Path, name: str) -> Dict[str, Any]:
    p = folder / name
    return {"file": name, "bytes": p.stat().st_size, "sha256": util.sha256_file(p)}


def _shard_done(folder: Path, expected: Dict[str, Any]) -> bool:
    """Whether ``folder`` holds a finished shard built with the same plan and parameters."""
    record_path = folder / SHARD_RECORD
    if not record_path.is_file():
        return False
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if any(record.get(k) != v for k, v in expected.items()):
        return False
    for entry in record.get("files", {}).values():
        p = folder / entry["file"]
        if not p.is_file() or p.stat().st_size != entry["bytes"] or util.sha256_file(p) != entry["sha256"]:
            return False
    return True


def _corpus_path(dataset: PathLike) -> Path:
    from densefb.data import default_data_dir

    p = Path(dataset)
    if not p.exists() and default_data_dir() is not None and (default_data_dir() / p).is_dir():
        p = default_data_dir() / p  # a collection name under $DENSEFB_DATA, as load_beir takes
    if p.is_dir():
        for name in ("corpus.jsonl", "corpus.jsonl.gz"):
            if (p / name).is_file():
                return p / name
        raise FileNotFoundError(f"{p}: no corpus.jsonl or corpus.jsonl.gz (a BEIR folder)")
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such corpus file or folder")
    return p


def build(dataset: PathLike, output: PathLike, *, shards: Optional[int] = None,
          sizes: Optional[Sequence[int]] = None, model: Optional[str] = None,
          dense: Optional[str] = "flat", index_args: Optional[Dict[str, Any]] = None,
          bm25: bool = True, bm25_args: Optional[Dict[str, Any]] = None,
          vectors: Optional[np.ndarray] = None, encoder_args: Optional[Dict[str, Any]] = None,
          token_model: Optional[str] = None, token_args: Optional[Dict[str, Any]] = None,
          token_index: str = "flat", token_index_args: Optional[Dict[str, Any]] = None,
          token_vectors: Optional[Tuple[Sequence[np.ndarray], Sequence[np.ndarray]]] = None,
          ray_address: Optional[str] = None,
          num_actors: Optional[int] = None, cpus_per_actor: float = 1, gpus_per_actor: float = 0,
          device: str = "cpu", batch_size: int = 32, block_size: int = 1024,
          show_progress: Optional[bool] = None) -> Dict[str, Any]:
    """Encodes and indexes a BEIR corpus into shards on Ray; returns the manifest written.

    Args:
        dataset: a BEIR folder (``corpus.jsonl[.gz]``), a collection name under
            ``$DENSEFB_DATA``, or a corpus file.
        output: the index folder; shards already finished there with the same plan and
            parameters are kept (a killed build resumes), others are rebuilt.
        shards / sizes: the number of shards (even split), or the size of each.
        model: the bi-encoder (a folder, or a name such as "sentence-transformers/all-MiniLM-L6-v2"
            resolved offline); required to encode, recorded for query encoding.
        dense: "flat", "hnsw" or None (no dense index); index_args go to the index's constructor
            (``{"metric": "cosine"}``, ``{"M": 32, "ef_search": 64}``).
        bm25: a BM25 index per shard; bm25_args go to :meth:`densefb.Bm25Index.build`
            (``{"k1": 1.2, "b": 0.75, "lucene_norms": False}``).
        vectors: precomputed ``(num_documents, dim)`` document vectors instead of encoding.
        encoder_args: options of :meth:`densefb.Encoder.from_pretrained` (``max_length``,
            ``query_prefix``, ``document_prefix``, ``pooling``, ``normalize``); recorded in the
            manifest, so that queries are encoded the same way.
        token_model: a ColBERT-style token encoder (:class:`densefb.ColbertEncoder`); each shard
            then gets a multi-vector index (``multivector.mvec``, memory-mapped when opened) with
            its own token index (``token_index``: "flat" or "hnsw", ``token_index_args`` to
            :meth:`densefb.MultiVectorIndex.build_token_index`). token_args are the encoder's
            options (``format``, ``doc_maxlen``, ``query_maxlen``, ...), recorded for queries.
        token_vectors: precomputed ``(docs, token_ids)`` (one ``(tokens, dim)`` array and one
            token id array per document, corpus order) instead of encoding with token_model
            (which still names the query encoder and the tokenizer's excluded tokens).
        ray_address: the cluster to run on; None starts a local Ray instance.
        num_actors: encoder actors (default: the cluster's CPUs / cpus_per_actor); each holds
            one copy of the model. cpus_per_actor are also its torch threads; gpus_per_actor > 0
            puts the actors on GPUs (with device="cuda").
        batch_size: texts per forward pass; block_size: documents per Ray Data block.
        show_progress: a progress bar over the documents (default: when stderr is a terminal).
    """
    from densefb.encoders import _progress_bar
    from densefb.models import resolve_model

    if dense not in ("flat", "hnsw", None):
        raise ValueError(f"dense must be 'flat', 'hnsw' or None, got {dense!r}")
    if dense is None and not bm25 and not token_model:
        raise ValueError("nothing to build: dense=None, bm25=False and no token_model")
    if token_index not in ("flat", "hnsw"):
        raise ValueError(f"token_index must be 'flat' or 'hnsw', got {token_index!r}")
    if token_vectors is not None and not token_model:
        raise ValueError("token_vectors need token_model (the query encoder and its tokenizer)")
    corpus_path = _corpus_path(dataset)
    corpus = _core.read_beir_corpus(os.fspath(corpus_path))
    n = len(corpus)
    if n == 0:
        raise ValueError(f"{corpus_path}: no documents")
    plan = plan_shards(n, shards, sizes)
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    corpus_sha = util.sha256_file(corpus_path)
    doc_ids = list(corpus.ids)
    texts = corpus.texts()

    model_info = None
    encoder_options: Dict[str, Any] = {}
    if dense is not None:
        if vectors is not None:
            vectors = np.ascontiguousarray(vectors, dtype=np.float32)
            if vectors.ndim != 2 or vectors.shape[0] != n:
                raise ValueError(f"vectors has shape {vectors.shape}; expected ({n}, dim) for the {n} documents "
                                 f"of {corpus_path}")
            model_info = {"name": model, "dim": int(vectors.shape[1]), "precomputed": True}
        else:
            if not model:
                raise ValueError("model is required to encode the corpus (or give precomputed vectors)")
            model_path = os.fspath(resolve_model(model))
            encoder_options = {**(encoder_args or {}), "device": device,
                               "num_threads": max(1, int(cpus_per_actor))}
            model_info = {"name": os.fspath(model), "path": model_path, "precomputed": False,
                          "encoder_args": dict(encoder_args or {})}
    dense_params = dict(index_args or {})
    bm25_params = dict(bm25_args or {})
    token_info = None
    token_options: Dict[str, Any] = {}
    excluded: List[int] = []
    if token_model:
        from densefb.multivector import excluded_token_ids

        token_path = os.fspath(resolve_model(token_model))
        excluded = excluded_token_ids(token_path)
        token_info = {"name": os.fspath(token_model), "path": token_path, "token_args": dict(token_args or {}),
                      "token_index": token_index, "token_index_args": dict(token_index_args or {}),
                      "precomputed": token_vectors is not None}
        token_options = {**(token_args or {}), "device": device, "num_threads": max(1, int(cpus_per_actor))}
        if token_vectors is not None:
            docs, ids = token_vectors
            if len(docs) != n or len(ids) != n:
                raise ValueError(f"token_vectors hold {len(docs)} documents and {len(ids)} token id arrays; "
                                 f"expected {n} of each for {corpus_path}")
    settings = {"corpus_sha256": corpus_sha, "dense": dense, "dense_params": dense_params,
                "bm25": bool(bm25), "bm25_params": bm25_params if bm25 else None,
                "model": model_info and {k: v for k, v in model_info.items() if k != "path"},
                "multivector": token_info and {k: v for k, v in token_info.items() if k != "path"}}

    todo = []
    for i, (start, end) in enumerate(plan):
        expected = {"shard": i, "start": start, "end": end, **settings}
        if not _shard_done(out / _shard_name(i), expected):
            todo.append(i)
    reused = [i for i in range(len(plan)) if i not in todo]
    for stale in sorted(out.glob("shard-*")):  # shards of an earlier build with more of them
        suffix = stale.name[len("shard-"):]
        if stale.is_dir() and suffix.isdigit() and int(suffix) >= len(plan):
            shutil.rmtree(stale)
    started = time.perf_counter()
    if todo:
        ray = init_ray(ray_address)
        dense_spec = None if dense is None else (dense, dense_params)
        # BM25 shards build in Ray tasks while the encoders run; each saves into a staging
        # folder that its shard folder takes the file from.
        bm25_refs: Dict[int, Any] = {}
        if bm25:
            task = ray.remote(num_cpus=1, max_retries=2)(_build_bm25_shard)
            for i in todo:
                start, end = plan[i]
                staging = out / f".{_shard_name(i)}.bm25-staging"
                staging.mkdir(exist_ok=True)
                bm25_refs[i] = task.remote(doc_ids[start:end], texts[start:end], bm25_params,
                                           os.fspath(staging / "bm25.index"))

        def finish(i: int, shard_vectors: Optional[np.ndarray], shard_tokens: Any) -> None:
            stats = ray.get(bm25_refs[i]) if bm25 else None
            mv_spec = None if token_info is None else (token_index, dict(token_index_args or {}), excluded)
            _write_shard(out, i, plan[i], {"shard": i, **settings}, dense_spec, shard_vectors, stats,
                         mv_spec, shard_tokens)

        encode_dense = dense is not None and vectors is None
        encode_tokens = token_info is not None and token_vectors is None
        bar = _progress_bar(sum(plan[i][1] - plan[i][0] for i in todo), "indexing shards", show_progress)
        try:
            if encode_dense or encode_tokens:
                for i, shard_vectors, shard_tokens in _encode_shards(
                        ray, plan, todo, texts, model_info["path"] if encode_dense else None, encoder_options,
                        token_info["path"] if encode_tokens else None, token_options, batch_size, block_size,
                        num_actors, cpus_per_actor, gpus_per_actor, bar):
                    start, end = plan[i]
                    if not encode_dense and vectors is not None:
                        shard_vectors = vectors[start:end]
                    if not encode_tokens and token_vectors is not None:
                        shard_tokens = (token_vectors[0][start:end], token_vectors[1][start:end])
                    finish(i, shard_vectors, shard_tokens)
            else:
                for i in todo:
                    start, end = plan[i]
                    finish(i, None if vectors is None else vectors[start:end],
                           None if token_vectors is None else (token_vectors[0][start:end],
                                                               token_vectors[1][start:end]))
                    if bar is not None:
                        bar.update(end - start)
        finally:
            if bar is not None:
                bar.close()

    # The collection's BM25 statistics, summed from the shards' (the DFS phase, done once).
    records = [json.loads((out / _shard_name(i) / SHARD_RECORD).read_text(encoding="utf-8"))
               for i in range(len(plan))]
    manifest: Dict[str, Any] = {
        "format": SHARDED_FORMAT,
        "version": SHARDED_VERSION,
        "densefb_version": _core.__version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "num_documents": n,
        "dataset": {"path": os.fspath(corpus_path.resolve()), "corpus": corpus_path.name,
                    "corpus_sha256": corpus_sha},
        "model": model_info and {k: v for k, v in model_info.items()},
        "dense": None if dense is None else {"kind": dense, "dim": records[0]["dim"], **dense_params},
        "bm25": None,
        "multivector": token_info and {**{k: v for k, v in token_info.items()},
                                       "dim": records[0]["token_dim"],
                                       "num_tokens": sum(r["num_tokens"] for r in records)},
        "shards": [{"name": _shard_name(i), "start": r["start"], "end": r["end"], "files": r["files"],
                    **({"num_tokens": r["num_tokens"]} if token_info else {})}
                   for i, r in enumerate(records)],
        "reused_shards": reused,
        "build_seconds": round(time.perf_counter() - started, 3),
    }
    if bm25:
        from densefb.sparse import merge_collection_stats

        local = [json.loads((out / _shard_name(i) / "bm25-local-stats.json").read_text(encoding="utf-8"))
                 for i in range(len(plan))]
        util.write_json_atomic(out / BM25_STATS, merge_collection_stats(local))
        manifest["bm25"] = {**bm25_params, "collection_stats": _file_record(out, BM25_STATS)}
    util.write_json_atomic(out / util.MANIFEST, manifest)
    return manifest


def _write_shard(out: Path, i: int, bounds: Tuple[int, int], settings: Dict[str, Any],
                 dense: Optional[Tuple[str, Dict[str, Any]]], vectors: Optional[np.ndarray],
                 bm25_stats: Optional[Dict[str, Any]],
                 multivector: Optional[Tuple[str, Dict[str, Any], List[int]]] = None,
                 tokens: Optional[Tuple[Sequence[np.ndarray], Sequence[np.ndarray]]] = None) -> None:
    """Writes shard ``i`` atomically: its dense index (ids = corpus positions), the BM25 index
    staged by its task, its BM25 statistics, its multi-vector index with its token index (ids =
    positions in the shard) and its record (written last)."""
    start, end = bounds
    staging = out / f".{_shard_name(i)}.bm25-staging"
    with util.atomic_folder(os.fspath(out / _shard_name(i))) as tmp:
        files: Dict[str, Any] = {}
        if dense is not None:
            kind, params = dense
            cls = _core.HnswIndex if kind == "hnsw" else _core.FlatIndex
            index = cls(vectors.shape[1], **params)
            index.add(vectors, ids=np.arange(start, end, dtype=np.int64))
            index.save(os.fspath(tmp / f"dense.{kind}"))
            files["dense"] = _file_record(tmp, f"dense.{kind}")
        if bm25_stats is not None:
            shutil.move(os.fspath(staging / "bm25.index"), os.fspath(tmp / "bm25.index"))
            files["bm25"] = _file_record(tmp, "bm25.index")
            (tmp / "bm25-local-stats.json").write_text(json.dumps(bm25_stats), encoding="utf-8")
            files["bm25_stats"] = _file_record(tmp, "bm25-local-stats.json")
        token_dim = num_tokens = None
        if multivector is not None:
            kind, params, excluded = multivector
            docs, ids = tokens
            if len(docs) != end - start or len(ids) != end - start:
                raise RuntimeError(f"{_shard_name(i)}: {len(docs)} token matrices for {end - start} documents")
            token_dim = next((int(d.shape[1]) for d in docs if len(d)), None)
            if token_dim is None:
                raise ValueError(f"{_shard_name(i)}: no document has a token embedding")
            mv = _core.MultiVectorIndex(token_dim)
            mv.excluded_token_ids = excluded
            mv.add([np.asarray(d, dtype=np.float32).reshape(-1, token_dim) for d in docs],
                   [np.asarray(t, dtype=np.int32) for t in ids])
            mv.build_token_index(kind, **params)
            mv.save(os.fspath(tmp / "multivector.mvec"))
            num_tokens = int(mv.num_tokens)
            del mv
            files["multivector"] = _file_record(tmp, "multivector.mvec")
            files["multivector_tokens"] = _file_record(tmp, "multivector.mvec.tokens")
        record = {**settings, "start": start, "end": end, "num_documents": end - start,
                  "dim": None if vectors is None else int(vectors.shape[1]),
                  "token_dim": token_dim, "num_tokens": num_tokens, "files": files}
        (tmp / SHARD_RECORD).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    shutil.rmtree(staging, ignore_errors=True)


def _encode_shards(ray: Any, plan: List[Tuple[int, int]], todo: List[int], texts: List[str],
                   model_path: Optional[str], encoder_options: Dict[str, Any],
                   token_model_path: Optional[str], token_options: Dict[str, Any], batch_size: int,
                   block_size: int, num_actors: Optional[int], cpus_per_actor: float, gpus_per_actor: float,
                   bar: Any) -> Iterator[Tuple[int, Optional[np.ndarray], Any]]:
    """Encodes the documents of the shards in ``todo`` with one Ray Data pipeline (the actor pool
    loads the models once per actor) and yields (shard, vectors or None, (token embeddings,
    token ids) or None) as each shard completes, in shard order."""
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    if num_actors is None:
        cpus = ray.cluster_resources().get("CPU", 1)
        num_actors = max(1, int(cpus // max(cpus_per_actor, 1e-9)))
    positions = np.concatenate([np.arange(*plan[i], dtype=np.int64) for i in todo])
    items = [{"pos": int(p), "text": texts[p]} for p in positions]
    num_blocks = max(1, -(-len(items) // block_size))
    num_actors = min(num_actors, num_blocks)  # an actor without a block would only load the model
    ds = ray.data.from_items(items, override_num_blocks=num_blocks)
    ds = ds.map_batches(_EncodeBlocks, fn_constructor_kwargs={"model_path": model_path, "options": encoder_options,
                                                             "batch_size": batch_size,
                                                             "token_model_path": token_model_path,
                                                             "token_options": token_options},
                        batch_size=block_size, compute=ray.data.ActorPoolStrategy(size=num_actors),
                        num_cpus=cpus_per_actor, num_gpus=gpus_per_actor)
    order = iter(todo)
    current = next(order)
    start, end = plan[current]
    chunks: List[np.ndarray] = []
    tok_docs: List[np.ndarray] = []
    tok_ids: List[np.ndarray] = []
    have = 0
    for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
        pos = batch["pos"]
        vec = np.asarray(batch["vector"], dtype=np.float32) if model_path else None
        token_dim = int(batch["tok_dim"][0]) if token_model_path and len(pos) else 0
        offset = 0
        while offset < len(pos):
            take = min(len(pos) - offset, (end - start) - have)
            expected = np.arange(start + have, start + have + take)
            if not np.array_equal(pos[offset:offset + take], expected):
                raise RuntimeError(f"Ray Data returned documents out of order in {_shard_name(current)}")
            if vec is not None:
                chunks.append(vec[offset:offset + take])
            if token_model_path:
                d, t = _token_rows(batch, offset, offset + take, token_dim)
                tok_docs.extend(d)
                tok_ids.extend(t)
            have += take
            offset += take
            if bar is not None:
                bar.update(take)
            if have == end - start:
                yield (current, np.concatenate(chunks) if model_path else None,
                       (tok_docs, tok_ids) if token_model_path else None)
                chunks, tok_docs, tok_ids, have = [], [], [], 0
                current = next(order, None)
                if current is None:
                    break
                start, end = plan[current]


# ---- searching ------------------------------------------------------------------------------


class _ShardActor:
    """One shard's indexes, opened inside a Ray actor (a restarted actor opens them again)."""

    def __init__(self, folder: str, record: Dict[str, Any], stats_path: Optional[str],
                 num_threads: int) -> None:
        # A file that cannot be opened is reported by ready() (a failing constructor would only
        # say that the actor died).
        self.error: Optional[str] = None
        try:
            self._open(folder, record, stats_path, num_threads)
        except Exception as e:  # noqa: BLE001 - reported to the driver, naming the file
            self.error = f"{type(e).__name__}: {e}"

    def _open(self, folder: str, record: Dict[str, Any], stats_path: Optional[str], num_threads: int) -> None:
        from densefb.sparse import Bm25Index

        self.folder = Path(folder)
        self.start, self.end = int(record["start"]), int(record["end"])
        self.num_threads = num_threads
        self.dense = None
        self.bm25 = None
        self.mv = None
        files = record["files"]
        if "dense" in files:
            path = self.folder / files["dense"]["file"]
            cls = _core.HnswIndex if path.suffix == ".hnsw" else _core.FlatIndex
            self.dense = cls.load(os.fspath(path))
            if self.dense.ntotal != self.end - self.start:
                raise ValueError(f"{path}: {self.dense.ntotal} vectors, but the manifest gives the shard "
                                 f"{self.end - self.start} documents")
        if "bm25" in files:
            path = self.folder / files["bm25"]["file"]
            self.bm25 = Bm25Index.load(path)
            if self.bm25.num_docs != self.end - self.start:
                raise ValueError(f"{path}: {self.bm25.num_docs} documents, but the manifest gives the shard "
                                 f"{self.end - self.start}")
            if stats_path is not None:
                self.bm25.set_collection_stats(json.loads(Path(stats_path).read_text(encoding="utf-8")))
        if "multivector" in files:
            path = self.folder / files["multivector"]["file"]
            self.mv = _core.MultiVectorIndex.load(os.fspath(path))  # memory-mapped token matrix
            if self.mv.size != self.end - self.start:
                raise ValueError(f"{path}: {self.mv.size} documents, but the manifest gives the shard "
                                 f"{self.end - self.start}")
            if not self.mv.has_token_index:
                raise ValueError(f"{path}.tokens: the shard's token index is missing")

    def ready(self) -> Optional[str]:
        """None when the shard's files are open, else why not."""
        return self.error

    def rss_bytes(self) -> int:
        """Resident memory of the actor's process."""
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def search(self, queries: np.ndarray, k: int, ef_search: int,
               allowed: Optional[List[np.ndarray]] = None) -> Tuple[np.ndarray, np.ndarray]:
        """Top-k of the shard; ``allowed``: the filter's rows (corpus positions; the dense
        shard holds them as ids)."""
        f = None if allowed is None else _core.Filter.from_id_lists(allowed)
        if isinstance(self.dense, _core.HnswIndex) and ef_search > 0:
            return self.dense.search(queries, k, ef=ef_search, num_threads=self.num_threads, filter=f)
        return self.dense.search(queries, k, num_threads=self.num_threads, filter=f)

    def reconstruct(self, ids: np.ndarray) -> np.ndarray:
        return self.dense.reconstruct(ids)

    def bm25_search(self, queries: List[Any], k: int,
                    allowed: Optional[List[np.ndarray]] = None) -> Tuple[np.ndarray, np.ndarray]:
        f = None
        if allowed is not None:  # corpus positions -> the shard's own document numbers
            f = _core.Filter.from_id_lists([a[(a >= self.start) & (a < self.end)] - self.start for a in allowed])
        if queries and not isinstance(queries[0], str):
            scores, ids = self.bm25.search_weighted(queries, k, num_threads=self.num_threads, filter=f)
        else:
            scores, ids = self.bm25.search(queries, k, num_threads=self.num_threads, filter=f)
        return scores, np.where(ids >= 0, ids + self.start, ids)

    def bm25_params(self) -> Tuple[float, float, bool]:
        return float(self.bm25.k1), float(self.bm25.b), bool(self.bm25.lucene_norms)

    def bm25_scores(self, queries: List[Dict[str, float]], ids: List[np.ndarray]) -> List[np.ndarray]:
        """BM25 scores (collection statistics) of ids[i] (corpus positions in this shard) for
        queries[i]."""
        return [self.bm25.score(dict(q), (np.asarray(d, dtype=np.int64) - self.start).tolist())
                if len(d) else np.zeros(0, np.float32) for q, d in zip(queries, ids)]

    def analyze_queries(self, texts: List[str]) -> List[List[Tuple[str, float]]]:
        return [list(self.bm25.analyze_query(t).items()) for t in texts]

    def term_vectors_by_query(self, ids: List[np.ndarray]) -> List[List[Any]]:
        """The (terms, tfs, dfs) of documents ids[q] (corpus positions in this shard), with
        collection document frequencies."""
        return [self.bm25.doc_term_vectors(np.asarray(d, dtype=np.int64) - self.start) if len(d) else []
                for d in ids]

    def mv_stats(self) -> Tuple[int, np.ndarray, List[int], bool]:
        """(token rows, document frequency by token id, excluded token ids, memory-mapped)."""
        top = int(self.mv.token_ids.max()) + 1 if self.mv.num_tokens else 0
        df = self.mv.document_frequencies(np.arange(top, dtype=np.int32))
        return int(self.mv.num_tokens), df, list(self.mv.excluded_token_ids), bool(self.mv.memory_mapped)

    def mv_neighbours(self, vectors: np.ndarray, k: int, ef_search: int) -> Tuple[np.ndarray, ...]:
        """The shard's k nearest token embeddings of each vector; rows are the shard's own,
        documents corpus positions."""
        k = max(1, min(int(k), int(self.mv.num_tokens)))
        scores, rows, docs, tokens = self.mv.neighbours(vectors, k, ef_search, self.num_threads)
        return scores, rows, np.where(docs >= 0, docs + self.start, docs), tokens

    def mv_rerank(self, queries: Tuple[List[np.ndarray], List[np.ndarray]], candidates: List[np.ndarray],
                  k: int) -> Tuple[np.ndarray, np.ndarray]:
        """Exact MaxSim of the candidates (corpus positions in this shard) for (query token
        embeddings, weights)."""
        queries, weights = queries
        local = [np.asarray(c, dtype=np.int64) - self.start for c in candidates]
        scores, ids = self.mv.rerank(queries, weights, local, k, self.num_threads)
        return scores, np.where(ids >= 0, ids + self.start, ids)

    def mv_documents(self, ids: np.ndarray) -> List[np.ndarray]:
        return self.mv.documents(np.asarray(ids, dtype=np.int64) - self.start)


def _filter_rows(f: Optional[_core.Filter]) -> Optional[List[np.ndarray]]:
    """A filter's rows as id arrays (what crosses to the shard actors)."""
    return None if f is None else [f.ids(r) for r in range(f.rows)]


def _merge_order(scores: np.ndarray, ids: np.ndarray, k: int) -> np.ndarray:
    """Column order of the best k of each row: score descending, ties by smaller id, empty slots
    (id -1) last."""
    neg = np.where(ids >= 0, -scores, np.inf)
    order = np.lexsort((np.where(ids >= 0, ids, np.iinfo(np.int64).max), neg), axis=1)
    return order[:, :k] if k > 0 else order


def merge_topk(parts: Sequence[Tuple[np.ndarray, np.ndarray]], k: int) -> Tuple[np.ndarray, np.ndarray]:
    """The exact top-k of per-shard top-k lists of the same queries: score descending, ties by
    smaller id, as one index orders them; empty slots (id -1, score -inf) go last; k <= 0 keeps
    all."""
    scores = np.concatenate([np.asarray(p[0], dtype=np.float32) for p in parts], axis=1)
    ids = np.concatenate([np.asarray(p[1], dtype=np.int64) for p in parts], axis=1)
    order = _merge_order(scores, ids, k)
    return np.take_along_axis(scores, order, 1), np.take_along_axis(ids, order, 1)


class _ShardedVectors(_core.VectorIndex):
    """The shards' dense indexes as one :class:`densefb.VectorIndex` (what pipelines search)."""

    def __init__(self, owner: "ShardedIndex", dim: int, metric: str, exact: bool) -> None:
        super().__init__(dim, metric, owner.num_documents, exact)
        self._owner = owner

    def search(self, queries: np.ndarray, k: int, num_threads: int = 0, ef_search: int = 0, filter=None):
        owner = self._owner
        ref = owner._ray.put(np.ascontiguousarray(queries, dtype=np.float32))
        allowed = owner._ray.put(_filter_rows(filter))
        parts = owner._call(range(owner.num_shards), "search", lambda i: (ref, int(k), int(ef_search), allowed))
        return merge_topk(parts, int(k))

    def reconstruct(self, ids: np.ndarray) -> np.ndarray:
        owner = self._owner
        ids, shard_of, wanted = owner._owners_of(ids)
        out = np.empty((len(ids), self.dim), dtype=np.float32)
        parts = owner._call(wanted, "reconstruct", lambda i: (ids[shard_of == i],))
        for i, part in zip(wanted, parts):
            out[shard_of == i] = part
        return out

    def __repr__(self) -> str:
        return f"<densefb.distributed dense index: {self._owner.num_shards} shards, {self.ntotal} vectors>"


class _ShardedTokens(_core.TokenCollection):
    """The shards' multi-vector indexes as one :class:`densefb.TokenCollection` (what the
    ``maxsim``, ``rerank_maxsim`` and ``colbert_prf`` stages read): nearest tokens merged exactly
    from every shard's token index, MaxSim computed by the shard that owns each document, and
    document frequencies summed over the shards once, when the index is opened."""

    def __init__(self, owner: "ShardedIndex", dim: int, token_starts: np.ndarray, df: np.ndarray,
                 excluded: List[int]) -> None:
        super().__init__(dim, owner.num_documents, int(token_starts[-1]), df, excluded, True)
        self._owner = owner
        self._token_starts = token_starts

    def neighbours(self, vectors: np.ndarray, k: int, ef_search: int = 0, num_threads: int = 0):
        owner = self._owner
        ref = owner._ray.put(np.ascontiguousarray(vectors, dtype=np.float32))
        parts = owner._call(range(owner.num_shards), "mv_neighbours", lambda i: (ref, int(k), int(ef_search)))
        scores = np.concatenate([p[0] for p in parts], axis=1)
        rows = np.concatenate([np.where(p[1] >= 0, p[1] + self._token_starts[i], p[1])
                               for i, p in enumerate(parts)], axis=1)
        docs = np.concatenate([p[2] for p in parts], axis=1)
        tokens = np.concatenate([p[3] for p in parts], axis=1)
        order = _merge_order(scores, rows, int(k))
        return tuple(np.take_along_axis(a, order, 1) for a in (scores, rows, docs, tokens))

    def rerank(self, queries: List[np.ndarray], weights: List[np.ndarray], candidates: List[np.ndarray],
               k: int, num_threads: int = 0):
        owner = self._owner
        shard_of = [owner._shard_of(np.asarray(c, dtype=np.int64)) for c in candidates]
        wanted = sorted({int(i) for s in shard_of for i in np.unique(s)})
        if not wanted:
            empty = np.zeros((len(queries), 0))
            return empty.astype(np.float32), empty.astype(np.int64)
        ref = owner._ray.put((list(queries), list(weights)))
        parts = owner._call(wanted, "mv_rerank", lambda i: (
            ref, [np.asarray(c, dtype=np.int64)[s == i] for c, s in zip(candidates, shard_of)], int(k)))
        return merge_topk(parts, int(k))

    def documents(self, ids: np.ndarray) -> List[np.ndarray]:
        owner = self._owner
        ids, shard_of, wanted = owner._owners_of(ids)
        out: List[Any] = [None] * len(ids)
        parts = owner._call(wanted, "mv_documents", lambda i: (ids[shard_of == i],))
        for i, docs in zip(wanted, parts):
            for slot, doc in zip(np.flatnonzero(shard_of == i), docs):
                out[slot] = doc
        return out

    def __repr__(self) -> str:
        return (f"<densefb.distributed multi-vector index: {self._owner.num_shards} shards, {self.size} documents, "
                f"{self.num_tokens} tokens>")


class _ShardedBm25(_core.Bm25Collection):
    """The shards' BM25 indexes as one :class:`densefb.Bm25Collection` (what the ``bm25``,
    ``rm3`` and ``llm_terms`` stages read): every shard scores with the collection's
    statistics, the top-k lists are merged exactly, and feedback term vectors and scores come
    from the shards that own the documents."""

    def __init__(self, owner: "ShardedIndex", num_docs: int, k1: float, b: float, lucene_norms: bool) -> None:
        super().__init__(owner.num_documents, num_docs, k1, b, lucene_norms)
        self._owner = owner

    def analyze_queries(self, texts: List[str]) -> List[List[Tuple[str, float]]]:
        return self._owner._call([0], "analyze_queries", lambda i: (list(texts),))[0]

    def search(self, texts: List[str], k: int, num_threads: int = 0, filter=None):
        return self._owner._bm25_search(list(texts), int(k), filter)

    def search_weighted(self, queries: List[List[Tuple[str, float]]], k: int, num_threads: int = 0, filter=None):
        return self._owner._bm25_search([dict(q) for q in queries], int(k), filter)

    def _by_shard(self, ids: List[np.ndarray], method: str, args: Any) -> List[List[Any]]:
        """Calls ``method`` on each shard owning some of ``ids`` (one id array per query) with
        ``args(shard, its ids per query)``; returns, per query, the answers in the order of ids."""
        owner = self._owner
        ids = [np.asarray(x, dtype=np.int64) for x in ids]
        shard_of = [owner._shard_of(x) for x in ids]
        shards = sorted({int(i) for s in shard_of for i in np.unique(s)})
        parts = owner._call(shards, method, lambda i: args(i, [x[s == i] for x, s in zip(ids, shard_of)]))
        out: List[List[Any]] = [[None] * len(x) for x in ids]
        for i, part in zip(shards, parts):
            for q, answers in enumerate(part):
                for slot, answer in zip(np.flatnonzero(shard_of[q] == i), answers):
                    out[q][slot] = answer
        return out

    def score_documents(self, queries: List[List[Tuple[str, float]]], ids: List[np.ndarray]) -> List[np.ndarray]:
        batch = [dict(q) for q in queries]
        scores = self._by_shard(ids, "bm25_scores", lambda i, mine: (batch, mine))
        return [np.asarray(s, dtype=np.float32) for s in scores]

    def feedback_documents(self, ids: List[np.ndarray]) -> List[List[Any]]:
        return self._by_shard(ids, "term_vectors_by_query", lambda i, mine: (mine,))

    def __repr__(self) -> str:
        return f"<densefb.distributed BM25 collection: {self._owner.num_shards} shards, {self.num_docs} documents>"


class ShardedIndex:
    """A sharded index written by :func:`build`, opened on Ray: one actor per shard.

    Args:
        path: the index folder (or its ``manifest.json``).
        ray_address: the cluster; None connects to the running instance or starts a local one.
        threads_per_shard: search threads inside each shard actor.
        max_restarts: how often Ray restarts a shard actor that died (each call is retried on
            the restarted actor); past that, calls raise :class:`ShardError`.
        timeout_s: a call that takes longer raises :class:`ShardError` naming the shards that
            did not answer (None = wait).

    Missing shard files, or files whose size differs from the manifest, are refused here, naming
    the file; a corrupt file is refused by the shard actor when it opens it (densefb's formats
    are checksummed), also naming it.
    """

    def __init__(self, path: PathLike, *, ray_address: Optional[str] = None, threads_per_shard: int = 1,
                 max_restarts: int = 1, timeout_s: Optional[float] = 600.0) -> None:
        path = Path(path)
        self.folder = path.parent if path.is_file() else path
        manifest_path = self.folder / util.MANIFEST
        try:
            self.manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise FileNotFoundError(f"{manifest_path}: no manifest (is {self.folder} a sharded index built by "
                                    f"densefb.distributed.build?)") from None
        except ValueError as e:
            raise ValueError(f"{manifest_path}: not valid JSON ({e})") from None
        if self.manifest.get("format") != SHARDED_FORMAT:
            raise ValueError(f"{manifest_path}: format {self.manifest.get('format')!r}, not a sharded index "
                             f"({SHARDED_FORMAT!r})")
        if self.manifest.get("version") != SHARDED_VERSION:
            raise ValueError(f"{manifest_path}: version {self.manifest.get('version')}; this densefb reads "
                             f"version {SHARDED_VERSION}")
        self.shards = self.manifest["shards"]
        self.num_documents = int(self.manifest["num_documents"])
        expected_start = 0
        for i, shard in enumerate(self.shards):
            if shard.get("start") != expected_start or not shard.get("end", 0) > expected_start:
                raise ValueError(f"{manifest_path}: shard {i} covers [{shard.get('start')}, {shard.get('end')}); "
                                 f"the shards must cover [0, {self.num_documents}) in order, this one from "
                                 f"{expected_start}")
            expected_start = shard["end"]
        if expected_start != self.num_documents:
            raise ValueError(f"{manifest_path}: the shards end at {expected_start}, but the index has "
                             f"{self.num_documents} documents")
        self._starts = np.array([s["start"] for s in self.shards], dtype=np.int64)
        for s in self.shards:
            for entry in s["files"].values():
                p = self.folder / s["name"] / entry["file"]
                if not p.is_file():
                    raise FileNotFoundError(f"{p}: shard file missing (listed in {manifest_path})")
                if p.stat().st_size != entry["bytes"]:
                    raise ValueError(f"{p}: {p.stat().st_size} bytes, but {manifest_path} lists "
                                     f"{entry['bytes']}: the file was changed or truncated")
        stats_path = None
        self.bm25_num_docs = None
        if self.manifest.get("bm25"):
            entry = self.manifest["bm25"]["collection_stats"]
            stats_file = self.folder / entry["file"]
            if not stats_file.is_file() or util.sha256_file(stats_file) != entry["sha256"]:
                raise ValueError(f"{stats_file}: missing or changed (its checksum differs from {manifest_path})")
            stats_path = os.fspath(stats_file)
            self.bm25_num_docs = int(json.loads(stats_file.read_text(encoding="utf-8"))["num_docs"])
        self.timeout_s = timeout_s
        self._ray = init_ray(ray_address)
        actor_cls = self._ray.remote(max_restarts=int(max_restarts), max_task_retries=int(max_restarts))(_ShardActor)
        self._actors = [actor_cls.remote(os.fspath(self.folder / s["name"]), {**s, "start": s["start"]},
                                         stats_path, int(threads_per_shard)) for s in self.shards]
        self._corpus = None
        self._encoder = None
        try:
            for i, error in enumerate(self._call(range(self.num_shards), "ready", lambda i: ())):
                if error is not None:
                    raise ShardError(f"shard {i} ({self.folder / self.shards[i]['name']}) cannot be opened: {error}")
        except BaseException:
            self.close()
            raise
        dense = self.manifest.get("dense")
        self.dense = None
        if dense:
            self.dense = _ShardedVectors(self, int(dense["dim"]), dense.get("metric", "ip"), dense["kind"] == "flat")
        self.multivector = None
        self._token_encoder = None
        if self.manifest.get("multivector"):
            try:
                self.multivector = self._open_multivector()
            except BaseException:
                self.close()
                raise
        self.bm25 = None
        if self.manifest.get("bm25"):
            try:
                params = {tuple(p) for p in self._call(range(self.num_shards), "bm25_params", lambda i: ())}
                if len(params) != 1:
                    raise ShardError(f"{self.folder}: the BM25 shards score with different parameters: "
                                     f"{sorted(params)}")
                k1, b, lucene_norms = params.pop()
                self.bm25 = _ShardedBm25(self, self.bm25_num_docs, k1, b, lucene_norms)
            except BaseException:
                self.close()
                raise

    def _open_multivector(self) -> "_ShardedTokens":
        """The shards' token statistics, gathered once: token rows (checked against the
        manifest), document frequencies summed, excluded tokens (the same on every shard)."""
        stats = self._call(range(self.num_shards), "mv_stats", lambda i: ())
        counts = [s[0] for s in stats]
        for i, (shard, count) in enumerate(zip(self.shards, counts)):
            if shard.get("num_tokens") != count:
                raise ShardError(f"shard {i} ({self.folder / shard['name']}): {count} token rows, but the manifest "
                                 f"lists {shard.get('num_tokens')}")
        df = np.zeros(max([len(s[1]) for s in stats] + [0]), dtype=np.int64)
        for s in stats:
            df[:len(s[1])] += s[1]
        excluded = stats[0][2]
        for i, s in enumerate(stats):
            if s[2] != excluded:
                raise ShardError(f"shard {i} ({self.folder / self.shards[i]['name']}): its excluded token ids differ "
                                 f"from shard 0's (built with another tokenizer?)")
        self.token_memory_mapped = all(s[3] for s in stats)
        starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return _ShardedTokens(self, int(self.manifest["multivector"]["dim"]), starts, df, excluded)

    # ---- properties ----

    @property
    def num_shards(self) -> int:
        return len(self.shards)

    def __repr__(self) -> str:
        return f"<densefb.distributed.ShardedIndex {self.folder}: {self.num_shards} shards, {self.num_documents} documents>"

    # ---- stages and resources ----

    def corpus(self):
        """The corpus the index was built from (read from the path in the manifest, checked
        against its checksum)."""
        if self._corpus is None:
            d = self.manifest["dataset"]
            p = Path(d["path"])
            if not p.is_file():
                raise FileNotFoundError(f"{p}: the corpus this index was built from is not there")
            if util.sha256_file(p) != d["corpus_sha256"]:
                raise ValueError(f"{p}: changed since the index was built (checksum differs)")
            self._corpus = _core.read_beir_corpus(os.fspath(p))
        return self._corpus

    def encoder(self):
        """The query encoder of the model the shards were encoded with."""
        if self._encoder is None:
            model = self.manifest.get("model") or {}
            if not model.get("path") and not model.get("name"):
                raise ValueError(f"{self.folder}: the index was built from precomputed vectors without a model "
                                 f"name; pass an encoder to resources()")
            from densefb.encoders import Encoder

            self._encoder = Encoder.from_pretrained(model.get("path") or model["name"],
                                                    **model.get("encoder_args", {}))
        return self._encoder

    def token_encoder(self):
        """The token (ColBERT-style) query encoder the multi-vector shards were built with."""
        if self._token_encoder is None:
            self._require("multivector")
            from densefb.encoders import ColbertEncoder

            mv = self.manifest["multivector"]
            self._token_encoder = ColbertEncoder.from_pretrained(mv.get("path") or mv["name"],
                                                                 **mv.get("token_args", {}))
        return self._token_encoder

    def resources(self, encoder: Any = None, corpus: Any = None, **extra: Any):
        """:class:`densefb.Resources` with the shards as ``dense_index`` and ``multivector``, the
        corpus (read from the manifest's path unless given) and the query encoders (loaded from
        the manifest's models unless given); ``extra`` adds other resources (a cross-encoder, a
        generator)."""
        from densefb.pipeline import Resources

        if self.multivector is not None:
            extra.setdefault("multivector", self.multivector)
            if extra.get("token_encoder") is None:
                extra["token_encoder"] = self.token_encoder()

        if encoder is None and self.dense is not None and (self.manifest.get("model") or {}).get("path"):
            encoder = self.encoder()
        if corpus is None:
            corpus = self.corpus()
        elif len(corpus) != self.num_documents:
            raise ValueError(f"the corpus given has {len(corpus)} documents; the index has {self.num_documents}")
        if self.bm25 is not None:
            extra.setdefault("bm25", self.bm25)
        return Resources(corpus=corpus, encoder=encoder, dense_index=self.dense, **extra)

    # ---- calls ----

    def _require(self, part: str) -> None:
        if not self.manifest.get(part):
            raise ValueError(f"{self.folder}: the index has no {part} shards")

    def memory(self) -> List[int]:
        """Resident memory (bytes) of each shard actor's process (Linux)."""
        return self._call(range(self.num_shards), "rss_bytes", lambda i: ())

    def _shard_of(self, ids: np.ndarray) -> np.ndarray:
        return np.searchsorted(self._starts, ids, side="right") - 1

    def _owners_of(self, ids: Any) -> Tuple[np.ndarray, np.ndarray, List[int]]:
        """``ids`` as int64, each one's shard, and the shards they touch in order; KeyError
        naming the first id outside the collection."""
        ids = np.asarray(ids, dtype=np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= self.num_documents):
            bad = ids[(ids < 0) | (ids >= self.num_documents)][0]
            raise KeyError(f"document id {bad} is outside [0, {self.num_documents})")
        shard_of = self._shard_of(ids)
        return ids, shard_of, sorted(set(shard_of.tolist()))

    def _call(self, shards: Any, method: str, args: Any) -> List[Any]:
        """Calls ``method`` on the actors of ``shards`` in parallel; all results, or ShardError
        naming the first shard that failed (nothing partial is returned)."""
        ray = self._ray
        shards = list(shards)
        refs = [getattr(self._actors[i], method).remote(*args(i)) for i in shards]
        deadline = None if self.timeout_s is None else time.monotonic() + self.timeout_s
        out = []
        for i, ref in zip(shards, refs):
            try:
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                out.append(ray.get(ref, timeout=left))
            except ray.exceptions.GetTimeoutError:
                for r in refs:
                    ray.cancel(r)
                raise ShardError(f"shard {i} ({self.folder / self.shards[i]['name']}) did not answer "
                                 f"{method} within {self.timeout_s} s") from None
            except ray.exceptions.RayActorError as e:
                raise ShardError(f"shard {i} ({self.folder / self.shards[i]['name']}): its actor died during "
                                 f"{method} and could not be restarted ({_first_line(e)})") from None
            except ray.exceptions.RayTaskError as e:
                cause = getattr(e, "cause", None) or e
                raise ShardError(f"shard {i} ({self.folder / self.shards[i]['name']}): {method} failed: "
                                 f"{type(cause).__name__}: {_first_line(cause)}") from None
        return out

    def _bm25_search(self, queries: List[Any], k: int, filter: Any = None) -> Tuple[np.ndarray, np.ndarray]:
        ref = self._ray.put(queries)
        allowed = self._ray.put(_filter_rows(filter))
        parts = self._call(range(self.num_shards), "bm25_search", lambda i: (ref, int(k), allowed))
        return merge_topk(parts, int(k))

    # ---- lifetime ----

    def close(self) -> None:
        """Stops the shard actors."""
        for a in getattr(self, "_actors", []):
            with contextlib.suppress(Exception):
                self._ray.kill(a, no_restart=True)
        self._actors = []

    def __enter__(self) -> "ShardedIndex":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__
