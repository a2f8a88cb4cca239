#!/usr/bin/env python3
"""Vector-PRF benchmark: densefb's Average / Rocchio PRF against the same computation done the
way Pyserini does it (faiss-cpu + numpy), and the PRF overhead over a plain dense search.

Pyserini's flow (pyserini/search/faiss: `batch_search(..., return_vector=True)` then
`get_batch_prf_q_emb`, then a second `batch_search`):
  1. first pass: faiss `search_and_reconstruct(Q, prf_depth)` -> ids and the stored vectors;
  2. per query, numpy: Average = mean(vstack(q, d_1..d_k)); Rocchio = alpha q + beta
     mean(d[:topk]) - gamma mean(d[-bottomk:]);
  3. second pass: a fresh faiss search with q' at `hits` (1000).
densefb: `densefb.prf_search(index, Q, model, k=hits, first_k=prf_depth)` (one call, C++).

Both sides run in this process on the same vectors with the same thread count; the new query
vectors and the final rankings are compared before any speed is reported. Data: a synthetic
Gaussian mixture (as benchmarks/bench_index.py), or with `--scifact` the real SciFact corpus
embedded by all-MiniLM-L6-v2 (encoded once by densefb, cached under build/).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python benchmarks/bench_prf.py \\
        --n 100000 --dim 384 --queries 1000 --threads 2 --out build/bench_prf.md
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_index import compare_ids, mixture  # noqa: E402
from common import Report, best_time, cpu_model, version  # noqa: E402


# ---- the peer: Pyserini's computation, written out with faiss + numpy ----------------------

def pyserini_average(q, vectors):
    """DenseVectorAveragePrf.get_prf_q_emb: mean of the query and the feedback vectors."""
    return np.mean(np.vstack((q, vectors)), axis=0).astype(np.float32)


def pyserini_rocchio(q, vectors, alpha, beta, gamma, topk, bottomk):
    """DenseVectorRocchioPrf.get_prf_q_emb."""
    mean_pos = np.mean(vectors[:topk], axis=0)
    new_q = alpha * q + beta * mean_pos
    if bottomk > 0:
        new_q -= gamma * np.mean(vectors[-bottomk:], axis=0)
    return new_q.astype(np.float32)


def pyserini_prf(peer, queries, depth, hits, rule):
    """First pass with stored vectors, per-query numpy PRF rule, second full search."""
    _, ids, vecs = peer.search_and_reconstruct(queries, depth)
    new_q = np.empty_like(queries)
    for i in range(len(queries)):  # get_batch_prf_q_emb: one numpy call per topic
        valid = ids[i] >= 0
        new_q[i] = rule(queries[i], vecs[i][valid])
    scores, final_ids = peer.search(new_q, hits)
    return new_q, scores, final_ids


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=100000, help="database vectors (default 100000)")
    ap.add_argument("--dim", type=int, default=384, help="dimension (default 384)")
    ap.add_argument("--queries", type=int, default=1000, help="queries (default 1000)")
    ap.add_argument("--threads", type=int, default=2, help="threads for every peer (default 2)")
    ap.add_argument("--hits", type=int, default=1000, help="depth of the final search (default 1000)")
    ap.add_argument("--seed", type=int, default=0, help="data seed (default 0)")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs, best kept (default 3)")
    ap.add_argument("--out", help="also write the Markdown report to this file")
    args = ap.parse_args(argv)

    import faiss

    import densefb

    threads = args.threads
    faiss.omp_set_num_threads(threads)
    emit = Report()

    rng = np.random.default_rng(args.seed)
    centres = rng.standard_normal((1000, args.dim), dtype=np.float32)
    docs = mixture(args.n, args.dim, centres, 1.0, rng)
    queries = mixture(args.queries, args.dim, centres, 1.0, rng)

    ours = densefb.FlatIndex(args.dim, metric="ip")
    ours.add(docs)
    peer = faiss.IndexFlatIP(args.dim)
    peer.add(docs)

    emit(f"- machine: {cpu_model()}, {os.cpu_count()} logical CPUs; {threads} threads for both")
    emit(f"- data: {args.n} x {args.dim} float32 + {args.queries} queries (Gaussian mixture, "
         f"L2-normalised, seed {args.seed}); exact inner-product index (densefb FlatIndex, faiss "
         f"IndexFlatIP); final depth {args.hits}")
    emit(f"- versions: densefb {densefb.__version__}, faiss-cpu {version('faiss-cpu')}, "
         f"numpy {np.__version__}")
    emit(f"- timing: best of {args.repeat} runs of the whole query batch; ms/query = batch time "
         f"/ queries (batched, {threads} threads)")
    emit()

    # Plain dense search at the final depth: the baseline PRF adds to.
    t_plain_ours, (s0, i0) = best_time(
        lambda: ours.search(queries, args.hits, num_threads=threads), args.repeat)
    t_plain_peer, _ = best_time(lambda: peer.search(queries, args.hits), args.repeat)

    settings = [
        ("Average PRF 3", densefb.AveragePrf(k=3), 3,
         lambda q, v: pyserini_average(q, v)),
        ("Rocchio PRF 5 A0.4 B0.6", densefb.RocchioPrf(alpha=0.4, beta=0.6, topk=5), 5,
         lambda q, v: pyserini_rocchio(q, v, 0.4, 0.6, 0.1, 5, 0)),
        ("Rocchio defaults (0.9/0.1, topk 3)", densefb.RocchioPrf(), 3,
         lambda q, v: pyserini_rocchio(q, v, 0.9, 0.1, 0.1, 3, 0)),
        ("Rocchio + negatives (depth 1000, top/bottom 5, gamma 0.6)",
         densefb.RocchioPrf(alpha=0.4, beta=0.6, gamma=0.6, topk=5, bottomk=5, depth=1000), 1000,
         lambda q, v: pyserini_rocchio(q, v, 0.4, 0.6, 0.6, 5, 5)),
    ]

    emit(f"### Dense search with vector PRF ({args.queries} queries, final k = {args.hits})")
    emit()
    emit(f"plain dense search, k = {args.hits}: densefb {1e3 * t_plain_ours / args.queries:.3f} "
         f"ms/query, faiss {1e3 * t_plain_peer / args.queries:.3f} ms/query")
    emit()
    emit("| setting | first-pass depth | densefb ms/query | Pyserini-style ms/query | "
         "densefb / peer speed | PRF overhead over plain search (densefb) | max abs q' diff | "
         "final rows differing beyond ties |")
    emit("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, model, depth, rule in settings:
        t_ours, (s_ours, i_ours) = best_time(
            lambda: densefb.prf_search(ours, queries, model, k=args.hits, first_k=depth,
                                       num_threads=threads), args.repeat)
        t_peer, (q_peer, s_peer, i_peer) = best_time(
            lambda: pyserini_prf(peer, queries, depth, args.hits, rule), args.repeat)
        _, first = ours.search(queries, depth, num_threads=threads)
        q_ours = model.refine(queries, first, ours)
        qdiff = float(np.max(np.abs(q_ours - q_peer)))
        _, bad = compare_ids(i_ours, s_ours, i_peer, s_peer, tol=1e-4)
        emit(f"| {name} | {depth} | {1e3 * t_ours / args.queries:.3f} | "
             f"{1e3 * t_peer / args.queries:.3f} | {t_peer / t_ours:.2f} | "
             f"{t_ours / t_plain_ours:.2f}x | {qdiff:.1e} | {bad} |")
    emit()

    # The PRF step alone (fetch the stored vectors + combine), first pass given.
    emit("### The feedback step alone (stored-vector fetch + combination), first pass given")
    emit()
    emit("| setting | depth | densefb refine ms/query | faiss reconstruct + numpy ms/query | "
         "densefb / peer speed |")
    emit("|---|---:|---:|---:|---:|")
    for name, model, depth, rule in settings:
        _, first = ours.search(queries, depth, num_threads=threads)

        def peer_refine():
            vecs = peer.reconstruct_batch(first.reshape(-1)).reshape(len(queries), depth, -1)
            return np.stack([rule(queries[i], vecs[i]) for i in range(len(queries))])

        t_ours, _ = best_time(lambda: model.refine(queries, first, ours), args.repeat)
        t_peer, _ = best_time(peer_refine, args.repeat)
        emit(f"| {name} | {depth} | {1e3 * t_ours / args.queries:.4f} | "
             f"{1e3 * t_peer / args.queries:.4f} | {t_peer / t_ours:.1f} |")
    emit()

    emit.save(args.out)


if __name__ == "__main__":
    main()
