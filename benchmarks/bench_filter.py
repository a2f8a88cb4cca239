#!/usr/bin/env python3
"""Filtered search benchmark: recall@10 and queries/s of filtered HNSW and flat search at
selectivities from 50% to 0.1%, densefb against faiss (IDSelectorBitmap in SearchParameters)
and hnswlib (its filter functor, a Python callable), and the crossover between densefb's two
filtered HNSW paths (graph traversal past disallowed vectors, and exhaustive scoring of the
allowed set) that sets the rule HnswIndex uses.

Data: the Gaussian mixture of bench_index.py (fixed seed). Each selectivity has one random
allow-mask shared by every query (what all three libraries take in one batched call). Recall
is against exact brute force over the allowed set. HNSW: M 16, ef_construction 200, ef 64,
one search thread for every library (hnswlib's Python filter holds the GIL); flat: --threads.
Each search is timed --repeat times; the best run is reported.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE PYTHONPATH=build/py/py \\
        .venv/bin/python benchmarks/bench_filter.py --n 100000 --dim 384 --queries 500 --out bench_filter.md
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from bench_index import mixture
from common import Report, best_time, cpu_model, version

SELECTIVITIES = [0.5, 0.1, 0.01, 0.001]
CROSSOVER = [0.5, 0.3, 0.2, 0.1, 0.07, 0.05, 0.03, 0.02, 0.01, 0.005]


def exact_filtered(docs, queries, mask, k, block=256):
    """Top-k ids among the allowed rows, by numpy."""
    allowed = np.flatnonzero(mask)
    out = np.full((len(queries), k), -1, dtype=np.int64)
    sub = docs[allowed]
    for s in range(0, len(queries), block):
        scores = queries[s:s + block] @ sub.T
        kk = min(k, len(allowed))
        part = np.argpartition(-scores, kk - 1, axis=1)[:, :kk]
        order = np.argsort(-np.take_along_axis(scores, part, 1), axis=1, kind="stable")
        out[s:s + block, :kk] = allowed[np.take_along_axis(part, order, 1)]
    return out


def recall(ids, truth):
    hits = [len(set(a[a >= 0]) & set(t[t >= 0])) / max((t >= 0).sum(), 1) for a, t in zip(ids, truth)]
    return float(np.mean(hits))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--clusters", type=int, default=1000)
    ap.add_argument("--spread", type=float, default=0.6)
    ap.add_argument("--threads", type=int, default=2, help="flat search threads")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", default=None, help="write the report as Markdown here")
    args = ap.parse_args()

    import densefb
    import faiss
    import hnswlib

    report = Report()
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((args.clusters, args.dim), dtype=np.float32)
    docs = mixture(args.n, args.dim, centres, args.spread, rng)
    queries = mixture(args.queries, args.dim, centres, args.spread, rng)
    k, ef, M, efc = 10, 64, 16, 200
    report(f"# Filtered search: {args.n} x {args.dim} Gaussian mixture, {args.queries} queries, k {k}")
    report()
    report(f"CPU: {cpu_model()}; densefb {densefb.__version__}, faiss {version('faiss-cpu')}, "
           f"hnswlib {version('hnswlib')}. HNSW M {M}, ef_construction {efc}, ef {ef}, 1 search thread; "
           f"flat {args.threads} threads.")
    report()

    t = time.perf_counter()
    ours = densefb.HnswIndex(args.dim, metric="ip", M=M, ef_construction=efc, num_threads=2)
    ours.add(docs)
    t_ours = time.perf_counter() - t
    t = time.perf_counter()
    theirs = hnswlib.Index(space="ip", dim=args.dim)
    theirs.init_index(max_elements=args.n, M=M, ef_construction=efc, random_seed=100)
    theirs.add_items(docs, np.arange(args.n), num_threads=2)
    theirs.set_ef(ef)
    t_hnswlib = time.perf_counter() - t
    faiss.omp_set_num_threads(2)
    t = time.perf_counter()
    fh = faiss.IndexHNSWFlat(args.dim, M, faiss.METRIC_INNER_PRODUCT)
    fh.hnsw.efConstruction = efc
    fh.add(docs)
    t_faiss = time.perf_counter() - t
    report(f"Builds (2 threads): densefb {t_ours:.1f} s, hnswlib {t_hnswlib:.1f} s, faiss {t_faiss:.1f} s.")
    report()

    masks = {s: rng.random(args.n) < s for s in sorted(set(SELECTIVITIES + CROSSOVER))}
    truth = {s: exact_filtered(docs, queries, m, k) for s, m in masks.items()}
    nq = len(queries)
    rule = int(np.sqrt(8 * ef * args.n))

    report("## HNSW: recall@10 and queries/s (1 thread)")
    report()
    report(f"densefb switches to exhaustive scoring below sqrt(8 * ef * n) = {rule} allowed ids "
           f"({rule / args.n:.1%} of n).")
    report()
    report("| allowed | densefb recall | densefb q/s | faiss recall | faiss q/s | hnswlib recall | hnswlib q/s "
           "| densefb / faiss | densefb / hnswlib |")
    report("|---|---|---|---|---|---|---|---|---|")
    faiss.omp_set_num_threads(1)
    for s in SELECTIVITIES:
        m = masks[s]
        t_d, (_, ids_d) = best_time(lambda: ours.search(queries, k, ef=ef, num_threads=1, filter=m), args.repeat)
        bitmap = np.packbits(m, bitorder="little")
        sel = faiss.IDSelectorBitmap(args.n, faiss.swig_ptr(bitmap))
        params = faiss.SearchParametersHNSW(sel=sel, efSearch=ef)
        t_f, (_, ids_f) = best_time(lambda: fh.search(queries, k, params=params), args.repeat)
        allowed = m.__getitem__
        t_h, ids_h = best_time(lambda: theirs.knn_query(queries, k=k, num_threads=1, filter=allowed)[0],
                               1 if s >= 0.1 else args.repeat)
        ids_h = np.where(ids_h.astype(np.int64) < args.n, ids_h.astype(np.int64), -1)
        r = [recall(x, truth[s]) for x in (ids_d, ids_f, ids_h)]
        qps = [nq / x for x in (t_d, t_f, t_h)]
        report(f"| {s:.1%} | {r[0]:.3f} | {qps[0]:.0f} | {r[1]:.3f} | {qps[1]:.0f} | {r[2]:.3f} | {qps[2]:.0f} "
               f"| {qps[0] / qps[1]:.2f}x | {qps[0] / qps[2]:.2f}x |")
    report()

    report("## densefb HNSW: traversal vs exhaustive scoring of the allowed set (1 thread)")
    report()
    report("| allowed | allowed ids | traversal recall | traversal q/s | exhaustive q/s | faster | rule picks |")
    report("|---|---|---|---|---|---|---|")
    for s in CROSSOVER:
        m = masks[s]
        count = int(m.sum())
        t_t, (_, ids_t) = best_time(lambda: ours.search(queries, k, ef=ef, num_threads=1, filter=m,
                                                        filter_exhaustive_below=0), args.repeat)
        t_e, _ = best_time(lambda: ours.search(queries, k, ef=ef, num_threads=1, filter=m,
                                               filter_exhaustive_below=args.n + 1), args.repeat)
        report(f"| {s:.1%} | {count} | {recall(ids_t, truth[s]):.3f} | {nq / t_t:.0f} | {nq / t_e:.0f} "
               f"| {'traversal' if t_t < t_e else 'exhaustive'} | {'exhaustive' if count < rule else 'traversal'} |")
    report()

    report(f"## Flat (exact): queries/s ({args.threads} threads)")
    report()
    faiss.omp_set_num_threads(args.threads)
    flat = densefb.FlatIndex(args.dim, metric="ip")
    flat.add(docs)
    ff = faiss.IndexFlatIP(args.dim)
    ff.add(docs)
    report("| allowed | densefb q/s | faiss q/s | densefb / faiss | densefb equals brute force |")
    report("|---|---|---|---|---|")
    for s in SELECTIVITIES:
        m = masks[s]
        t_d, (_, ids_d) = best_time(lambda: flat.search(queries, k, num_threads=args.threads, filter=m),
                                    args.repeat)
        bitmap = np.packbits(m, bitorder="little")
        params = faiss.SearchParameters(sel=faiss.IDSelectorBitmap(args.n, faiss.swig_ptr(bitmap)))
        t_f, _ = best_time(lambda: ff.search(queries, k, params=params), args.repeat)
        same = recall(ids_d, truth[s])
        report(f"| {s:.1%} | {nq / t_d:.0f} | {nq / t_f:.0f} | {t_f / t_d:.2f}x | recall {same:.4f} |")
    report()
    report.save(args.out)


if __name__ == "__main__":
    main()
