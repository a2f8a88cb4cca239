#!/usr/bin/env python3
"""Index benchmark: densefb.FlatIndex vs faiss-cpu IndexFlatIP vs numpy (exact top-k), and
densefb.HnswIndex vs hnswlib (PyPI) at equal M / ef_construction / ef, each on the graph it
built, then both on densefb's graph (written in hnswlib's file format and loaded there).

Data: a synthetic Gaussian mixture (fixed seed): `--clusters` centres ~ N(0, I), each vector
= a random centre + `--spread` * N(0, I), L2-normalised; queries are drawn the same way.
All peers run in this one process on the same arrays with the same thread count
(faiss.omp_set_num_threads, threadpoolctl for numpy's BLAS, hnswlib num_threads, densefb
num_threads). Each search is timed `--repeat` times; the best run is reported.

Run (numpy's OpenBLAS is slowed down by OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE when they are
set in the environment, so unset them for this command):

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE PYTHONPATH=build/hnsw/py \\
        .venv/bin/python benchmarks/bench_index.py --n 100000 --dim 384 --queries 1000 \\
        --threads 2 --out bench_index.md
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import numpy as np

from common import Report, best_time, cpu_model, version


def mixture(n, dim, centres, spread, rng, chunk=20000):
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        x = centres[rng.integers(0, len(centres), m)]
        x = x + spread * rng.standard_normal((m, dim), dtype=np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        out[start:start + m] = x
    return out


def numpy_topk(docs, queries, k, block=256):
    scores = np.empty((len(queries), k), dtype=np.float32)
    ids = np.empty((len(queries), k), dtype=np.int64)
    for start in range(0, len(queries), block):
        s = queries[start:start + block] @ docs.T
        part = np.argpartition(-s, k - 1, axis=1)[:, :k]
        part_scores = np.take_along_axis(s, part, axis=1)
        order = np.argsort(-part_scores, axis=1, kind="stable")
        ids[start:start + block] = np.take_along_axis(part, order, axis=1)
        scores[start:start + block] = np.take_along_axis(part_scores, order, axis=1)
    return scores, ids


def compare_ids(ids_a, scores_a, ids_b, scores_b, tol=1e-5):
    """Rows equal to the peer's, and rows that differ only where scores tie (within tol)."""
    exact = int(np.sum(np.all(ids_a == ids_b, axis=1)))
    differing = ids_a != ids_b
    tie_only = np.all(~differing | (np.abs(scores_a - scores_b) <= tol), axis=1)
    bad = int(np.sum(~tie_only))
    return exact, bad


def recall_at(found, exact, k=10):
    found, exact = found[:, :k], exact[:, :k]
    hits = sum(len(set(f) & set(e)) for f, e in zip(found.tolist(), exact.tolist()))
    return hits / exact.size


def hnswlib_file_from_densefb(src, dst):
    """Writes densefb's HNSW index file `src` (inner product) as an hnswlib save file `dst`, so
    hnswlib can search the very same graph. densefb's level-0 block (links, dim + 1 floats with
    a factor that is 1 for inner product, label = row) is hnswlib's layout with 4 extra bytes
    per element, so it is copied verbatim and hnswlib is told where the label sits; hnswlib's
    labels are then densefb's rows."""
    import struct

    with open(src, "rb") as f:
        blob = f.read()
    pos = 32  # the container header (include/densefb/file_format.h)

    def take(fmt):
        nonlocal pos
        vals = struct.unpack_from("<" + fmt, blob, pos)
        pos += struct.calcsize("<" + fmt)
        return vals if len(vals) > 1 else vals[0]

    dim, metric, M, ef_construction, _, _, _ = take("IIiiiQi")
    assert metric == 0, "inner product only"
    n = take("Q")
    pos += 8 * n  # ids
    assert take("Q") == n
    bytes_per_element, max_level, entry = take("QiI")
    level0 = blob[pos:pos + n * bytes_per_element]
    pos += n * bytes_per_element
    links_per_level = 4 + 4 * M
    offset_data = 4 + 4 * 2 * M
    upper = []
    for _ in range(n):
        level = take("I")
        upper.append(blob[pos:pos + level * links_per_level])
        pos += level * links_per_level
    with open(dst, "wb") as f:
        f.write(struct.pack("<QQQQQQiIQQQdQ", 0, n, n, bytes_per_element,
                            offset_data + 4 * (dim + 1), offset_data, max_level, entry,
                            M, 2 * M, M, 1.0 / np.log(M), ef_construction))
        f.write(level0)
        for links in upper:
            f.write(struct.pack("<I", len(links)))
            f.write(links)


def hnsw_table(emit, ours, peer, queries, efs, exact_ids10, threads, repeat):
    """Recall@10 and queries/s of densefb's HnswIndex and an hnswlib index at each ef."""
    emit("| ef | densefb recall@10 | hnswlib recall@10 | densefb q/s | hnswlib q/s | "
         "densefb / hnswlib q/s |")
    emit("|---:|---:|---:|---:|---:|---:|")
    rows = []
    for ef in efs:
        to, (_, ido) = best_time(lambda: ours.search(queries, 10, ef=ef, num_threads=threads), repeat)
        peer.set_ef(ef)
        tt, (idt, _) = best_time(lambda: peer.knn_query(queries, k=10, num_threads=threads), repeat)
        qo, qt = len(queries) / to, len(queries) / tt
        ro, rt = recall_at(ido, exact_ids10), recall_at(idt.astype(np.int64), exact_ids10)
        emit(f"| {ef} | {ro:.4f} | {rt:.4f} | {qo:,.0f} | {qt:,.0f} | {qo / qt:.2f} |")
        rows.append((ef, ro, rt, qo, qt))
    emit()
    return rows


def plot(path, flat_rows, hnsw_rows, title):
    """Exact-search queries/s by k (left) and HNSW recall@10 against queries/s (right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = int(bool(flat_rows)) + int(bool(hnsw_rows))
    fig, axes = plt.subplots(1, panels, figsize=(5.5 * panels, 4.2), squeeze=False)
    axes = list(axes[0])
    if flat_rows:
        ax = axes.pop(0)
        ks = [r[0] for r in flat_rows]
        x = np.arange(len(ks))
        for i, (name, col) in enumerate((("densefb", 1), ("faiss-cpu", 2), ("numpy", 3))):
            ax.bar(x + (i - 1) * 0.27, [r[col] for r in flat_rows], 0.27, label=name)
        ax.set_xticks(x, [f"k = {k}" for k in ks])
        ax.set_ylabel("queries / s")
        ax.set_title("exact inner-product search")
        ax.legend()
    if hnsw_rows:
        ax = axes.pop(0)
        ax.plot([r[3] for r in hnsw_rows], [r[1] for r in hnsw_rows], "o-", label="densefb HnswIndex")
        ax.plot([r[4] for r in hnsw_rows], [r[2] for r in hnsw_rows], "s--", label="hnswlib")
        for ef, ro, _, qo, _ in hnsw_rows:
            ax.annotate(f"ef {ef}", (qo, ro), textcoords="offset points", xytext=(4, -10), fontsize=7)
        ax.set_xscale("log")
        ax.set_xlabel("queries / s (log scale)")
        ax.set_ylabel("recall@10")
        ax.set_title("HNSW, each on its own graph")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower left")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def small_batch_table(emit, flat, peer, docs, queries, threads, repeat, k=10, count=200):
    """ms/query when the queries come a few at a time (a service answering requests): the
    first `count` queries in batches of 1, 10 and 100. faiss runs twice: as configured by
    default (below `distance_compute_blas_threshold` it scans per query instead of calling
    BLAS), and with that threshold at 0, so that every batch goes through BLAS."""
    import faiss
    from threadpoolctl import threadpool_limits

    queries = queries[:count]
    count = len(queries)
    default_threshold = faiss.cvar.distance_compute_blas_threshold
    emit(f"Small batches: the first {count} queries in batches of 1, 10 and 100, k = {k}, "
         f"ms/query (best of {repeat}); faiss as configured (distance_compute_blas_threshold "
         f"{default_threshold}) and with the BLAS path forced (threshold 0)")
    emit()
    emit("| batch | densefb ms/query | faiss ms/query | faiss BLAS ms/query | numpy ms/query | "
         "densefb / faiss speed | densefb / faiss BLAS speed | densefb / numpy speed |")
    emit("|---:|---:|---:|---:|---:|---:|---:|---:|")

    def batches(fn, size):
        for start in range(0, count, size):
            fn(queries[start:start + size])

    for size in (1, 10, 100):
        td, _ = best_time(lambda: batches(lambda q: flat.search(q, k, num_threads=threads), size), repeat)
        tf, _ = best_time(lambda: batches(lambda q: peer.search(q, k), size), repeat)
        faiss.cvar.distance_compute_blas_threshold = 0
        try:
            tb, _ = best_time(lambda: batches(lambda q: peer.search(q, k), size), repeat)
        finally:
            faiss.cvar.distance_compute_blas_threshold = default_threshold
        with threadpool_limits(limits=threads, user_api="blas"):
            tn, _ = best_time(lambda: batches(lambda q: numpy_topk(docs, q, k), size), repeat)
        md, mf, mb, mn = (1000 * t / count for t in (td, tf, tb, tn))
        emit(f"| {size} | {md:.3f} | {mf:.3f} | {mb:.3f} | {mn:.3f} | {mf / md:.2f} | {mb / md:.2f} | "
             f"{mn / md:.2f} |")
    emit()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=100000, help="database vectors (default 100000)")
    ap.add_argument("--dim", type=int, default=384, help="dimension (default 384)")
    ap.add_argument("--queries", type=int, default=1000, help="queries (default 1000)")
    ap.add_argument("--threads", type=int, default=2, help="threads for every peer (default 2)")
    ap.add_argument("--clusters", type=int, default=1000, help="mixture components (default 1000)")
    ap.add_argument("--spread", type=float, default=1.0,
                    help="noise std around a centre, centres ~ N(0, I) (default 1.0)")
    ap.add_argument("--seed", type=int, default=0, help="data seed (default 0)")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per search, best kept (default 3)")
    ap.add_argument("--M", type=int, default=16, help="HNSW M (default 16)")
    ap.add_argument("--ef-construction", type=int, default=200, help="HNSW ef_construction (default 200)")
    ap.add_argument("--efs", default="10,20,40,80,160", help="HNSW ef values (default 10,20,40,80,160)")
    ap.add_argument("--skip-flat", action="store_true", help="skip the exact-search part")
    ap.add_argument("--skip-hnsw", action="store_true", help="skip the HNSW part")
    ap.add_argument("--out", help="also write the Markdown report to this file")
    ap.add_argument("--plot", help="also plot the exact-search and HNSW results to this PNG (needs matplotlib)")
    args = ap.parse_args(argv)

    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if var in os.environ:
            print(f"warning: {var}={os.environ[var]} is set; numpy's BLAS may be slowed down "
                  f"(run with `env -u {var}`)", file=sys.stderr)

    import densefb
    from threadpoolctl import threadpool_info, threadpool_limits

    threads = args.threads
    emit = Report()

    rng = np.random.default_rng(args.seed)
    centres = rng.standard_normal((args.clusters, args.dim), dtype=np.float32)
    t = time.perf_counter()
    docs = mixture(args.n, args.dim, centres, args.spread, rng)
    queries = mixture(args.queries, args.dim, centres, args.spread, rng)
    gen_s = time.perf_counter() - t

    blas = ", ".join(sorted({f"{i.get('internal_api')} {i.get('version')}" for i in threadpool_info()
                             if i.get("user_api") == "blas"})) or "unknown"
    emit(f"- machine: {cpu_model()}, {os.cpu_count()} logical CPUs; {threads} threads for every peer")
    emit(f"- data: {args.n} x {args.dim} float32 + {args.queries} queries, Gaussian mixture of "
         f"{args.clusters} clusters (centres ~ N(0, I), spread {args.spread}), L2-normalised, "
         f"seed {args.seed} (generated in {gen_s:.1f} s)")
    emit(f"- versions: densefb {densefb.__version__} (hnswlib 0.6.2 headers from Debian), "
         f"faiss-cpu {version('faiss-cpu')}, hnswlib (PyPI) {version('hnswlib')}, "
         f"numpy {np.__version__} ({blas}), Python {platform.python_version()}")
    emit(f"- timing: best of {args.repeat} runs of the whole query batch; q/s = queries / seconds")
    emit()

    exact_ids10 = None
    flat_rows, hnsw_rows = [], []
    if not args.skip_flat:
        import faiss

        faiss.omp_set_num_threads(threads)
        flat = densefb.FlatIndex(args.dim, metric="ip")
        t = time.perf_counter()
        flat.add(docs)
        flat_add = time.perf_counter() - t
        peer = faiss.IndexFlatIP(args.dim)
        t = time.perf_counter()
        peer.add(docs)
        faiss_add = time.perf_counter() - t
        emit(f"### Exact search (inner product), {args.n} x {args.dim}, {args.queries} queries")
        emit()
        emit(f"add: densefb {flat_add:.2f} s, faiss {faiss_add:.2f} s")
        emit()
        emit("| k | densefb q/s | faiss q/s | numpy q/s | densefb / faiss | densefb / numpy | "
             "rows with ids = faiss | rows differing beyond ties |")
        emit("|---|---:|---:|---:|---:|---:|---:|---:|")
        for k in (10, 100, 1000):
            td, (sd, idd) = best_time(lambda: flat.search(queries, k, num_threads=threads), args.repeat)
            tf, (sf, idf) = best_time(lambda: peer.search(queries, k), args.repeat)
            with threadpool_limits(limits=threads, user_api="blas"):
                tn, (sn, idn) = best_time(lambda: numpy_topk(docs, queries, k), args.repeat)
            same, bad = compare_ids(idd, sd, idf, sf)
            same_np, bad_np = compare_ids(idd, sd, idn, sn)
            qd, qf, qn = args.queries / td, args.queries / tf, args.queries / tn
            emit(f"| {k} | {qd:,.0f} | {qf:,.0f} | {qn:,.0f} | {qd / qf:.2f} | {qd / qn:.2f} | "
                 f"{same}/{args.queries} | {bad} (vs numpy: {bad_np}) |")
            flat_rows.append((k, qd, qf, qn))
            if k == 10:
                exact_ids10 = idd
        emit()
        small_batch_table(emit, flat, peer, docs, queries, threads, min(args.repeat, 3))
        del flat, peer

    if not args.skip_hnsw:
        import hnswlib

        if exact_ids10 is None:
            with threadpool_limits(limits=threads, user_api="blas"):
                _, exact_ids10 = numpy_topk(docs, queries, 10)
        efs = [int(e) for e in args.efs.split(",")]
        ours = densefb.HnswIndex(args.dim, metric="ip", M=args.M,
                                 ef_construction=args.ef_construction, num_threads=threads)
        t = time.perf_counter()
        ours.add(docs)
        build_ours = time.perf_counter() - t
        theirs = hnswlib.Index(space="ip", dim=args.dim)
        theirs.init_index(max_elements=args.n, ef_construction=args.ef_construction, M=args.M,
                          random_seed=100)
        theirs.set_num_threads(threads)
        t = time.perf_counter()
        theirs.add_items(docs, np.arange(args.n), num_threads=threads)
        build_theirs = time.perf_counter() - t
        emit(f"### HNSW (inner product), M={args.M}, ef_construction={args.ef_construction}, "
             f"{args.n} x {args.dim}, {args.queries} queries, k=10")
        emit()
        emit(f"build: densefb {build_ours:.1f} s, hnswlib {build_theirs:.1f} s "
             f"(densefb / hnswlib time {build_ours / build_theirs:.2f})")
        emit()
        hnsw_rows = hnsw_table(emit, ours, theirs, queries, efs, exact_ids10, threads, args.repeat)

        # The same graph for both: densefb's, written in hnswlib's file format and loaded
        # there. Any difference left is the search code, the distance kernel and the pages.
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            ours.save(os.path.join(tmp, "ours.hnsw"))
            hnswlib_file_from_densefb(os.path.join(tmp, "ours.hnsw"), os.path.join(tmp, "ours.hnswlib"))
            same = hnswlib.Index(space="ip", dim=args.dim)
            same.load_index(os.path.join(tmp, "ours.hnswlib"), max_elements=args.n)
        same.set_num_threads(threads)
        emit("Same graph (densefb's, loaded into hnswlib): only the search code, the distance "
             "kernel and the memory pages differ")
        emit()
        hnsw_table(emit, ours, same, queries, efs, exact_ids10, threads, args.repeat)

    emit.save(args.out)
    if args.plot:
        plot(args.plot, flat_rows, hnsw_rows,
             f"{args.n} x {args.dim} float32, {args.queries} queries, {threads} threads, {cpu_model()}")


if __name__ == "__main__":
    main()
