#!/usr/bin/env python3
"""Product-quantised flat search benchmark: densefb ProductQuantizedIndex (and with exact
re-scoring) against faiss IndexPQ (same m, nbits 8) and the float32 baselines (densefb
FlatIndex, faiss IndexFlatIP), on the same data in one run: train time, add time, queries/s,
recall@10 against exact float32 search, reconstruction MSE, and the memory of each index.

Data: the Gaussian mixture of bench_index.py (fixed seed, unit vectors). Both PQ indexes train on
the same --train vectors (the first of the collection) with their defaults (25 k-means
iterations, at most 256 x 256 training points). Memory: densefb's memory_usage() (codes, norms,
ids, codebooks; ids at 24 bytes a vector), faiss's code bytes plus codebooks (its ids are
implicit) plus 8 bytes a vector for an id map, so both count ids alike. Both libraries use
--threads threads (faiss.omp_set_num_threads); each search is timed --repeat times; the best
run is reported.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE PYTHONPATH=build/py/py \\
        .venv/bin/python benchmarks/bench_pq.py --n 100000 --dim 384 --m 48 --queries 1000 --out bench_pq.md
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from bench_index import mixture
from common import Report, best_time, cpu_model, version


def recall(ids, truth):
    k = truth.shape[1]
    return float(np.mean([len(set(a) & set(t)) / k for a, t in zip(ids, truth)]))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--m", type=int, default=48, help="sub-quantizers (bytes per vector)")
    ap.add_argument("--train", type=int, default=65536, help="training vectors (the first of the collection)")
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--clusters", type=int, default=1000)
    ap.add_argument("--spread", type=float, default=0.6)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--rescore", type=int, default=4, help="rescore_factor of the re-scoring variant")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", default=None, help="write the report as Markdown here")
    args = ap.parse_args()

    import densefb
    import faiss

    faiss.omp_set_num_threads(args.threads)
    report = Report()
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((args.clusters, args.dim), dtype=np.float32)
    docs = mixture(args.n, args.dim, centres, args.spread, rng)
    queries = mixture(args.queries, args.dim, centres, args.spread, rng)
    train = docs[: min(args.train, args.n)]
    k, n, dim, m = args.k, args.n, args.dim, args.m
    report(f"# Product-quantised flat search: {n} x {dim} Gaussian mixture, m {m} (nbits 8), "
           f"{len(train)} training vectors, {args.queries} queries, k {k}")
    report()
    report(f"CPU: {cpu_model()}; densefb {densefb.__version__}, faiss {version('faiss-cpu')}; "
           f"{args.threads} threads; search: best of {args.repeat}.")
    report()

    rows = []  # (name, train s, add s, q/s, ids, bytes, mse)

    def run(name, make, train_fn, add, search, memory, decode):
        index = make()
        t = time.perf_counter()
        train_fn(index)
        trained = time.perf_counter() - t
        t = time.perf_counter()
        add(index)
        added = time.perf_counter() - t
        secs, (_, ids) = best_time(lambda: search(index), args.repeat)
        sample = np.arange(0, n, max(1, n // 10000))
        dec = decode(index, sample)
        mse = float(((dec - docs[sample]) ** 2).sum(1).mean()) if dec is not None else 0.0
        rows.append((name, trained, added, args.queries / secs, ids, memory(index), mse))

    def ours_search(ix):
        return ix.search(queries, k, num_threads=args.threads)

    def ours_add(ix):
        ix.add(docs)

    run("densefb FlatIndex (float32)", lambda: densefb.FlatIndex(dim, metric="ip"), lambda ix: None, ours_add,
        ours_search, lambda ix: n * dim * 4 + n * 24, lambda ix, s: None)
    for rescore in (0, args.rescore):
        run(f"densefb ProductQuantizedIndex m {m}" + (f", rescore_factor {rescore}" if rescore else ""),
            lambda: densefb.ProductQuantizedIndex(dim, m=m, metric="ip", rescore_factor=rescore),
            lambda ix: ix.train(train, num_threads=args.threads), ours_add, ours_search,
            lambda ix: ix.memory_usage()["total"], lambda ix, s: ix.reconstruct(s))

    def faiss_search(ix):
        return ix.search(queries, k)

    def faiss_add(ix):
        ix.add(docs)

    run("faiss IndexFlatIP (float32)", lambda: faiss.IndexFlatIP(dim), lambda ix: None, faiss_add, faiss_search,
        lambda ix: n * dim * 4 + n * 8, lambda ix, s: None)
    run(f"faiss IndexPQ m {m}", lambda: faiss.IndexPQ(dim, m, 8, faiss.METRIC_INNER_PRODUCT),
        lambda ix: ix.train(train), faiss_add, faiss_search,
        lambda ix: n * ix.code_size + n * 8 + ix.pq.centroids.size() * 4,
        lambda ix, s: np.vstack([ix.reconstruct(int(i)) for i in s]))

    truth = rows[0][4]
    flat_bytes = rows[0][5]
    report("| index | train s | add s | q/s | recall@10 vs float32 | reconstruction MSE | memory MB | "
           "memory vs float32 |")
    report("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, trained, added, qps, ids, mem, mse in rows:
        report(f"| {name} | {trained:.2f} | {added:.2f} | {qps:,.0f} | {recall(ids, truth):.4f} | "
               f"{mse:.5f} | {mem / 1e6:.1f} | {flat_bytes / mem:.2f}x smaller |")
    report()
    by = {r[0]: r for r in rows}
    ours, theirs = by[f"densefb ProductQuantizedIndex m {m}"], by[f"faiss IndexPQ m {m}"]
    report("Ratios densefb PQ / faiss IndexPQ: "
           f"train time {ours[1] / theirs[1]:.2f}, add time {ours[2] / theirs[2]:.2f}, "
           f"search q/s {ours[3] / theirs[3]:.2f}, reconstruction MSE {ours[6] / theirs[6]:.3f}; "
           f"FlatIndex / IndexFlatIP q/s "
           f"{by['densefb FlatIndex (float32)'][3] / by['faiss IndexFlatIP (float32)'][3]:.2f}.")
    report.save(args.out)


if __name__ == "__main__":
    main()
