#!/usr/bin/env python3
"""Pipeline stages on SciFact: per-query latency and throughput of each stage, and the cost of
PRF over a plain dense search.

Real data: the SciFact test queries (300) over its 5,183 documents. Documents and queries are
encoded once by densefb's C++ encoder (the packaged all-MiniLM-L6-v2; cached under
build/bench-cache); the query encoder stage is timed on its own. Every pipeline then runs on
the whole batch of queries with the query vectors given, so a pipeline's time is that of its
search, feedback, fusion and reranking stages; a stage's cost is the difference between two
pipelines that differ by that stage. ms/query = batch time / queries, best of `--repeat`.

    .venv/bin/python benchmarks/bench_pipeline.py --threads 2 --out build/bench_pipeline.md
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Report, best_time, cpu_model  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
MODEL = "sentence-transformers/all-MiniLM-L6-v2"

PIPELINES = [
    ("dense (exact search, k=1000)", "dense"),
    ("dense >> avg(k=3) >> dense", "dense >> avg(k=3) >> dense"),
    ("dense >> rocchio(0.4, 0.6, topk=5) >> dense", "dense >> rocchio(alpha=0.4,beta=0.6,topk=5) >> dense"),
    ("dense >> avg(k=3) >> rescore (Vector-PRF ranking setting)", "dense >> avg(k=3) >> rescore"),
    ("bm25", "bm25"),
    ("bm25 >> rm3 >> bm25", "bm25 >> rm3 >> bm25"),
    ("fuse(rrf, dense, bm25)", "fuse(rrf,dense,bm25)"),
    ("fuse(interpolate, dense, bm25)", "fuse(interpolate(weights=[0.5,0.5],norm=minmax),dense,bm25)"),
    ("fuse(interpolate, ...) >> avg(k=3) >> fuse(interpolate, ...)",
     "fuse(interpolate(weights=[0.5,0.5],norm=minmax),dense,bm25) >> avg(k=3) >> "
     "fuse(interpolate(weights=[0.5,0.5],norm=minmax),dense,bm25)"),
]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=os.environ.get("DENSEFB_DATA", str(REPO.parent / "shared" / "data")))
    ap.add_argument("--cache", default=str(REPO / "build" / "bench-cache"))
    ap.add_argument("--index", help="a saved FlatIndex of the SciFact corpus by the same model "
                    "(e.g. one cached by densefb experiment); default: encode once into --cache")
    ap.add_argument("--threads", type=int, default=2, help="threads (default 2)")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs, best kept (default 3)")
    ap.add_argument("--out", help="also write the Markdown report to this file")
    args = ap.parse_args(argv)

    import densefb

    emit = Report()
    ds = densefb.load_beir(str(Path(args.data) / "scifact"), "test")
    encoder = densefb.Encoder.from_pretrained(MODEL, num_threads=args.threads)
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    path = Path(args.index) if args.index else cache / "scifact-minilm.flat"
    if path.is_file():
        index = densefb.FlatIndex.load(str(path))
    else:
        index = densefb.build_index(encoder, ds.corpus, kind="flat")
        index.save(str(path))
    bm25 = densefb.Bm25Index.build(ds.corpus)
    texts = ds.queries.texts
    n = len(texts)

    t_encode, qv = best_time(lambda: encoder.encode_queries(texts), args.repeat)
    res = densefb.Resources(corpus=ds.corpus, encoder=encoder, dense_index=index, bm25=bm25)

    emit(f"- machine: {cpu_model()}, {os.cpu_count()} logical CPUs; {args.threads} threads")
    emit(f"- data: SciFact test, {n} queries, {len(ds.corpus)} documents; {MODEL} (densefb C++ "
         f"encoder), exact inner-product index; BM25 k1 0.9, b 0.4; final k = 1000")
    emit(f"- densefb {densefb.__version__}; best of {args.repeat} runs of the whole batch")
    emit()
    emit(f"query encoding (all {n} queries, batch 32): {1e3 * t_encode / n:.2f} ms/query "
         f"({n / t_encode:,.0f} queries/s)")
    emit()
    emit("| pipeline (query vectors given) | ms/query | queries/s | / plain dense | nDCG@10 |")
    emit("|---|---:|---:|---:|---:|")
    base = None
    for label, spec in PIPELINES:
        p = densefb.Pipeline.parse(spec)
        t, run = best_time(lambda: p.run(res, ds.queries, k=1000, num_threads=args.threads,
                                         query_vectors=qv), args.repeat)
        base = base or t
        ndcg = densefb.evaluate(run, ds.qrels, ["nDCG@10"])["nDCG@10"]
        emit(f"| `{label}` | {1e3 * t / n:.3f} | {n / t:,.0f} | {t / base:.2f}x | {ndcg:.4f} |")
    emit()
    emit.save(args.out)


if __name__ == "__main__":
    main()
