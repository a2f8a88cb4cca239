#!/usr/bin/env python3
"""Scale-out benchmark: densefb.distributed on a local Ray instance against in-process densefb,
in one run on one machine.

1. Encoding: the first --docs SciFact documents encoded in this process (one Encoder, --threads
   torch threads) and by densefb.distributed.build through Ray Data with 1..--threads encoder
   actors (--threads / actors torch threads each, so that every row uses the same CPUs). The
   build time includes starting the actors and loading one model per actor.
2. Search: a synthetic Gaussian mixture (--n x --dim, unit vectors, as bench_index.py) as one
   in-process FlatIndex (--threads threads) and as a ShardedIndex of 1, 2 and 4 shards (one
   actor per shard, --threads / shards threads each, at least 1), exact search of --queries
   queries at k = 10 and 1000. Every sharded ranking is compared with the in-process one
   before any speed is reported.
3. BM25 and RM3: SciFact as one in-process Bm25Index and as 2 and 4 BM25 shards scoring with
   the collection's statistics; runs compared with the in-process runs before timing.

    .venv/bin/python benchmarks/bench_distributed.py --dataset ../shared/data/scifact \\
        --docs 512 --n 200000 --dim 384 --queries 1000 --threads 2 --out build/bench_distributed.md
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_index import mixture  # noqa: E402
from common import Report, best_time, cpu_model, version  # noqa: E402


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def bench_encoding(args, report, dd, densefb, tmp: Path) -> None:
    lines = gzip.open(Path(args.dataset) / "corpus.jsonl.gz", "rt", encoding="utf-8").read().splitlines()
    lines = [l for l in lines if l.strip()][:args.docs]
    data = tmp / "enc"
    data.mkdir()
    (data / "corpus.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    corpus = densefb._core.read_beir_corpus(os.fspath(data / "corpus.jsonl"))
    texts = corpus.texts()
    encoder = densefb.Encoder.from_pretrained(args.model, num_threads=args.threads)
    encoder.encode(texts[:32], show_progress=False)  # warm-up
    t = time.perf_counter()
    reference = encoder.encode(texts, batch_size=args.batch_size, show_progress=False)
    local = time.perf_counter() - t
    report(f"### Corpus encoding, first {len(texts)} SciFact documents, {args.model}, batch {args.batch_size}")
    report()
    report("| encoder | seconds | docs/s | vs in-process |")
    report("|---|---:|---:|---:|")
    report(f"| in-process Encoder, {args.threads} threads | {local:.1f} | {len(texts) / local:.1f} | 1.00x |")
    actors = 1
    while actors <= args.threads:
        out = tmp / f"enc-{actors}"
        t = time.perf_counter()
        dd.build(data, out, shards=max(2, actors), model=args.model, bm25=False, num_actors=actors,
                 cpus_per_actor=max(1, args.threads // actors), batch_size=args.batch_size,
                 block_size=args.batch_size * 4, show_progress=False)
        seconds = time.perf_counter() - t
        with dd.ShardedIndex(out) as index:
            got = index.dense.reconstruct(np.arange(len(texts)))
        diff = float(np.abs(got - reference).max())
        report(f"| Ray Data, {actors} actor(s) x {max(1, args.threads // actors)} threads (max diff {diff:.1e}) "
               f"| {seconds:.1f} | {len(texts) / seconds:.1f} | {local / seconds:.2f}x |")
        actors *= 2
    report()


def bench_search(args, report, dd, densefb, tmp: Path) -> None:
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((256, args.dim)).astype(np.float32)
    docs = mixture(args.n, args.dim, centres, 0.6, rng)
    queries = mixture(args.queries, args.dim, centres, 0.6, rng)
    data = tmp / "synthetic"
    data.mkdir()
    with open(data / "corpus.jsonl", "w", encoding="utf-8") as f:
        for i in range(args.n):
            f.write(json.dumps({"_id": f"d{i}", "title": "", "text": f"document {i}"}) + "\n")
    single = densefb.FlatIndex(args.dim)
    single.add(docs)
    report(f"### Exact search, {args.n} x {args.dim} synthetic unit vectors, {args.queries} queries, "
           f"best of {args.repeat}")
    report()
    report("| index | k | seconds | queries/s | vs in-process | shard files (MiB each) | actor RSS (MiB each) |")
    report("|---|---:|---:|---:|---:|---:|---:|")
    want = {k: single.search(queries, k, num_threads=args.threads) for k in (10, 1000)}
    local = {}
    for k in (10, 1000):
        local[k], _ = best_time(lambda: single.search(queries, k, num_threads=args.threads), args.repeat)
        report(f"| in-process FlatIndex, {args.threads} threads | {k} | {local[k]:.3f} | "
               f"{args.queries / local[k]:.0f} | 1.00x | | |")
    for shards in (1, 2, 4):
        out = tmp / f"shards-{shards}"
        dd.build(data, out, shards=shards, vectors=docs, bm25=False, show_progress=False)
        per_shard = folder_bytes(out / "shard-000") / 2**20
        threads = max(1, args.threads // shards)
        with dd.ShardedIndex(out, threads_per_shard=threads) as index:
            rss = max(index.memory()) / 2**20
            for k in (10, 1000):
                got = index.dense.search(queries, k)
                if not (np.array_equal(got[1], want[k][1]) and np.array_equal(got[0], want[k][0])):
                    raise SystemExit(f"{shards} shards, k={k}: ranking differs from the single index")
                seconds, _ = best_time(lambda: index.dense.search(queries, k), args.repeat)
                report(f"| {shards} shard actor(s) x {threads} threads | {k} | {seconds:.3f} | "
                       f"{args.queries / seconds:.0f} | {local[k] / seconds:.2f}x | {per_shard:.0f} | {rss:.0f} |")
    report()
    report("Every sharded ranking above is identical to the in-process index's (ids and scores).")
    report()


def bench_bm25(args, report, dd, densefb, tmp: Path) -> None:
    data = densefb.load_beir(args.dataset, "test")
    texts = list(data.queries.texts)
    single = densefb.Bm25Index.build(data.corpus, num_threads=args.threads)
    report(f"### BM25 and RM3 on SciFact ({len(data.corpus)} documents, {len(texts)} queries, k = 1000), "
           f"best of {args.repeat}")
    report()
    report("| index | pipeline | seconds | queries/s | vs in-process |")
    report("|---|---|---:|---:|---:|")
    resources = densefb.Resources(corpus=data.corpus, bm25=single)
    local = {}
    want = {}
    for name in ("bm25", "bm25 >> rm3 >> bm25"):
        p = densefb.Pipeline(name)
        want[name] = p.run(resources, data.queries, k=1000, num_threads=args.threads).to_dict()
        local[name], _ = best_time(lambda: p.run(resources, data.queries, k=1000, num_threads=args.threads),
                                   args.repeat)
        report(f"| in-process Bm25Index, {args.threads} threads | {name} | {local[name]:.3f} | "
               f"{len(texts) / local[name]:.0f} | 1.00x |")
    for shards in (2, 4):
        out = tmp / f"bm25-{shards}"
        dd.build(args.dataset, out, shards=shards, dense=None, bm25=True, show_progress=False)
        threads = max(1, args.threads // shards)
        with dd.ShardedIndex(out, threads_per_shard=threads) as index:
            r = index.resources(encoder=None)
            for name in ("bm25", "bm25 >> rm3 >> bm25"):
                p = densefb.Pipeline(name)
                got = p.run(r, data.queries, k=1000).to_dict()
                if got != want[name]:
                    raise SystemExit(f"{shards} BM25 shards, {name}: run differs from the single index's")
                seconds, _ = best_time(lambda: p.run(r, data.queries, k=1000), args.repeat)
                report(f"| {shards} shard actors x {threads} threads | {name} | {seconds:.3f} | "
                       f"{len(texts) / seconds:.0f} | {local[name] / seconds:.2f}x |")
    report()
    report("Every sharded BM25 and RM3 run above is identical to the in-process one (documents and scores).")
    report()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="../shared/data/scifact")
    parser.add_argument("--model", default="sentence-transformers/all-MiniLM-L6-v2")
    parser.add_argument("--docs", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--n", type=int, default=200000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--parts", nargs="+", choices=["encoding", "search", "bm25"],
                        default=["encoding", "search", "bm25"])
    parser.add_argument("--out", default=None)
    args = parser.parse_args()

    import densefb
    from densefb import distributed as dd

    report = Report()
    report(f"Machine: {cpu_model()}, {os.cpu_count()} CPUs; densefb {densefb.__version__}, "
           f"ray {version('ray')}, torch {version('torch')}; local Ray instance with {args.threads} CPUs.")
    report()
    dd.init_ray(num_cpus=args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        if "encoding" in args.parts:
            bench_encoding(args, report, dd, densefb, Path(tmp))
        if "search" in args.parts:
            bench_search(args, report, dd, densefb, Path(tmp))
        if "bm25" in args.parts:
            bench_bm25(args, report, dd, densefb, Path(tmp))
    report.save(args.out)


if __name__ == "__main__":
    main()
