#!/usr/bin/env python3
"""Compressed flat search benchmark: densefb ScalarQuantizedIndex (int8, fp16, bf16, and int8
with exact re-scoring) against faiss IndexScalarQuantizer (QT_8bit, QT_fp16) and the float32
baselines (densefb FlatIndex, faiss IndexFlatIP), on the same data in one run: queries/s,
recall@10 against exact float32 search, and the memory of each index.

Data: the Gaussian mixture of bench_index.py (fixed seed, unit vectors). Memory: densefb's
memory_usage() (codes, norms, ids, range; ids at 24 bytes a vector), faiss's code bytes (its
ids are implicit) plus 8 bytes a vector for an id map, so both count ids alike. Both libraries
search with --threads threads (faiss.omp_set_num_threads); each search is timed --repeat times;
the best run is reported.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE PYTHONPATH=build/py/py \\
        .venv/bin/python benchmarks/bench_quantized.py --n 100000 --dim 384 --queries 1000 --out bench_quantized.md
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
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--clusters", type=int, default=1000)
    ap.add_argument("--spread", type=float, default=0.6)
    ap.add_argument("--k", type=int, default=10)
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
    k, n, dim = args.k, args.n, args.dim
    report(f"# Compressed flat search: {n} x {dim} Gaussian mixture, {args.queries} queries, k {k}")
    report()
    report(f"CPU: {cpu_model()}; densefb {densefb.__version__}, faiss {version('faiss-cpu')}; "
           f"{args.threads} search threads; best of {args.repeat}.")
    report()

    rows = []  # (name, q/s, recall, bytes, build s)

    def run(name, build, search, memory):
        t = time.perf_counter()
        index = build()
        built = time.perf_counter() - t
        secs, (_, ids) = best_time(lambda: search(index), args.repeat)
        rows.append((name, args.queries / secs, ids, memory(index), built))

    def ours(encoding, rescore=0):
        def build():
            ix = densefb.ScalarQuantizedIndex(dim, metric="ip", encoding=encoding, rescore_factor=rescore)
            ix.add(docs)
            return ix
        return build

    def ours_search(ix):
        return ix.search(queries, k, num_threads=args.threads)

    def ours_memory(ix):
        return ix.memory_usage()["total"]

    def flat_build():
        ix = densefb.FlatIndex(dim, metric="ip")
        ix.add(docs)
        return ix

    run("densefb FlatIndex (float32)", flat_build, ours_search, lambda ix: n * dim * 4 + n * 24)
    run("densefb int8", ours("int8"), ours_search, ours_memory)
    run("densefb int8, rescore_factor 4", ours("int8", 4), ours_search, ours_memory)
    run("densefb fp16", ours("fp16"), ours_search, ours_memory)
    run("densefb bf16", ours("bf16"), ours_search, ours_memory)

    def faiss_build(qtype):
        def build():
            if qtype is None:
                ix = faiss.IndexFlatIP(dim)
            else:
                ix = faiss.IndexScalarQuantizer(dim, qtype, faiss.METRIC_INNER_PRODUCT)
                ix.train(docs)
            ix.add(docs)
            return ix
        return build

    def faiss_search(ix):
        return ix.search(queries, k)

    def faiss_memory(ix):
        code = ix.code_size if hasattr(ix, "code_size") else dim * 4
        return n * code + n * 8

    run("faiss IndexFlatIP (float32)", faiss_build(None), faiss_search, faiss_memory)
    run("faiss IndexScalarQuantizer QT_8bit", faiss_build(faiss.ScalarQuantizer.QT_8bit), faiss_search, faiss_memory)
    run("faiss IndexScalarQuantizer QT_fp16", faiss_build(faiss.ScalarQuantizer.QT_fp16), faiss_search, faiss_memory)

    truth = rows[0][2]
    flat_bytes = rows[0][3]
    report("| index | q/s | recall@10 vs float32 | memory MB | memory vs float32 | build s |")
    report("|---|---:|---:|---:|---:|---:|")
    for name, qps, ids, mem, built in rows:
        report(f"| {name} | {qps:,.0f} | {recall(ids, truth):.4f} | {mem / 1e6:.1f} | {flat_bytes / mem:.2f}x smaller | "
               f"{built:.2f} |")
    report()
    by = {r[0]: r[1] for r in rows}
    report("Speed ratios (densefb / faiss q/s): "
           f"int8 / QT_8bit {by['densefb int8'] / by['faiss IndexScalarQuantizer QT_8bit']:.2f}, "
           f"fp16 / QT_fp16 {by['densefb fp16'] / by['faiss IndexScalarQuantizer QT_fp16']:.2f}, "
           f"FlatIndex / IndexFlatIP {by['densefb FlatIndex (float32)'] / by['faiss IndexFlatIP (float32)']:.2f}.")
    report.save(args.out)


if __name__ == "__main__":
    main()
