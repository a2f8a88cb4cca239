#!/usr/bin/env python3
"""Effectiveness of residual-compressed multi-vector storage (ColBERTv2's, 2 and 1 bits per
dimension) against the float32 MultiVectorIndex on SciFact (test, 300 queries): MaxSim end to end
and ColBERT-PRF (reranker at beta 1 and 0.5, ranker at beta 1), nDCG@10, R@100 and AP, paired
t-tests of each compressed run against the same pipeline on float32 storage, and each
collection's memory and build time.

Token embeddings: the packaged all-MiniLM-L6-v2 as a plain-BERT ColBERT encoder, the cache of
bench_multivector.py (build/test-cache/scifact_colbert_minilm.mvec; encoded on the first run).
Compression settings are ColBERTv2's defaults (num_centroids 2^floor(log2(16 sqrt(tokens))),
4 k-means iterations, nprobe 4), never tuned here.

    PYTHONPATH=build/py/py DENSEFB_DATA=../shared/data .venv/bin/python benchmarks/eff_residual.py \\
        --out build/eff_residual.md
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_multivector import scifact_multivector  # noqa: E402
from common import Report, cpu_model  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PIPELINES = [
    "maxsim",
    "maxsim(k=0) >> colbert_prf(beta=1) >> rerank_maxsim",
    "maxsim(k=0) >> colbert_prf(beta=0.5) >> rerank_maxsim",
    "maxsim >> colbert_prf(beta=1) >> maxsim",
]
METRICS = ["nDCG@10", "R@100", "AP"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.environ.get("DENSEFB_DATA", str(REPO.parent / "shared" / "data")))
    ap.add_argument("--cache", default=os.environ.get("DENSEFB_TEST_CACHE", str(REPO / "build" / "test-cache")))
    ap.add_argument("--nbits", type=int, nargs="+", default=[2, 1])
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--out", default="")
    args = ap.parse_args()

    import densefb

    report = Report()
    ds, encoder, index, _ = scifact_multivector(Path(args.data), Path(args.cache), report)
    qids, qtexts, doc_ids = list(ds.queries.ids), list(ds.queries.texts), list(ds.corpus.ids)
    t = time.perf_counter()
    index.build_token_index("flat")
    report(f"float32: flat token index built in {time.perf_counter() - t:.1f} s")
    collections = [("float32", index._impl, index.num_tokens * index.dim * 4)]
    for nbits in args.nbits:
        t = time.perf_counter()
        c = index.compress(nbits, num_threads=args.threads)
        mem = c.memory_usage()
        report(f"{nbits}-bit: {c.num_centroids} centroids, built in {time.perf_counter() - t:.0f} s, "
               f"{mem['total'] / 2**20:.0f} MiB ({mem['float32_matrix'] / mem['total']:.1f}x smaller than the "
               f"float32 matrix)")
        collections.append((f"{nbits}-bit residual", c, mem["total"]))

    per_query = {}
    rows = []
    for name, coll, mem in collections:
        resources = densefb.Resources(multivector=coll, token_encoder=encoder)
        for spec in PIPELINES:
            t = time.perf_counter()
            s, i = densefb.Pipeline(spec).rank(resources, qtexts, k=1000, num_threads=args.threads)
            ms = (time.perf_counter() - t) * 1000 / len(qids)
            run = densefb.make_run(qids, i, s, doc_ids, name=f"{name}: {spec}")
            agg, per_query[(name, spec)] = densefb.evaluate(run, ds.qrels, METRICS, per_query=True)
            rows.append((name, spec, agg, ms, mem))
            report(f"{name} | {spec} | " + " | ".join(f"{agg[m]:.4f}" for m in METRICS) + f" | {ms:.0f} ms/query")

    report()
    report(f"SciFact test, {len(qids)} queries, {index.num_tokens} token embeddings of dim {index.dim}; "
           f"threads = {args.threads or os.cpu_count()}; CPU {cpu_model()}")
    report()
    report("| storage | pipeline | nDCG@10 | R@100 | AP | Δ nDCG@10 vs float32 (p, paired t) | ms/query | memory |")
    report("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, spec, agg, ms, mem in rows:
        if name == "float32":
            delta = "—"
        else:
            base, mine = per_query[("float32", spec)], per_query[(name, spec)]
            q = sorted(set(base) & set(mine))
            t = densefb.stats.paired_ttest([mine[x]["nDCG@10"] for x in q], [base[x]["nDCG@10"] for x in q])
            delta = f"{t.mean_difference:+.4f} (p = {t.pvalue:.3g})"
        report(f"| {name} | `{spec}` | " + " | ".join(f"{agg[m]:.4f}" for m in METRICS) +
               f" | {delta} | {ms:.0f} | {mem / 2**20:.0f} MiB |")
    report.save(args.out)


if __name__ == "__main__":
    main()
