"""The main job: index a real collection with the packaged all-MiniLM-L6-v2 (encoded by
densefb's C++ encoder), search it exactly (FlatIndex) and approximately (HnswIndex), and print
an effectiveness table.

    scripts/demo.sh            # = setup, build, then this script on $DENSEFB_DATA/scifact
    .venv/bin/python scripts/demo.py --dataset ../shared/data/scifact
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

import densefb

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    default_data = Path(os.environ.get("DENSEFB_DATA", REPO.parent / "shared" / "data"))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", default=str(default_data / "scifact"), help="BEIR folder")
    ap.add_argument("--model", default="sentence-transformers/all-MiniLM-L6-v2")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--out", default=str(REPO / "build" / "demo"), help="where indexes and runs go")
    args = ap.parse_args()

    ds = densefb.load_beir(args.dataset, "test")
    print(ds)
    encoder = densefb.Encoder.from_pretrained(args.model)
    print(encoder)
    t = time.perf_counter()
    flat = densefb.build_index(encoder, ds.corpus, kind="flat", batch_size=args.batch_size)
    print(f"encoded and indexed {flat.ntotal} documents in {time.perf_counter() - t:.1f} s", flush=True)
    queries = encoder.encode_queries(ds.queries.texts, batch_size=args.batch_size)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    metrics = ["nDCG@10", "R@100", "AP", "RR@10"]
    rows = []

    flat.save(out / "scifact.flat")
    flat = densefb.FlatIndex.load(out / "scifact.flat")
    docs = flat.reconstruct(flat.ids)  # the stored vectors (the PRF primitive)
    hnsw = densefb.HnswIndex(docs.shape[1], metric="ip", M=16, ef_construction=200)
    t = time.perf_counter()
    hnsw.add(docs)
    print(f"HNSW built in {time.perf_counter() - t:.2f} s")
    hnsw.save(out / "scifact.hnsw")
    hnsw = densefb.HnswIndex.load(out / "scifact.hnsw")

    for label, search in [
        ("exact (FlatIndex)", lambda: flat.search(queries, 1000)),
        ("HNSW M=16 ef=1000", lambda: hnsw.search(queries, 1000, ef=1000)),
        ("HNSW M=16 ef=100, k=100", lambda: hnsw.search(queries, 100, ef=100)),
    ]:
        t = time.perf_counter()
        scores, ids = search()
        ms = 1000 * (time.perf_counter() - t) / len(queries)
        run = densefb.make_run(ds.queries.ids, ids, scores, ds.corpus.ids, name="densefb")
        densefb.write_trec_run(out / f"run.{len(rows)}.trec", run)
        rows.append((label, densefb.evaluate(run, ds.qrels, metrics), ms))

    name = Path(args.dataset).name
    print(f"\n{name} (test, {len(ds.queries)} queries), {args.model}")
    print("| pipeline | " + " | ".join(metrics) + " | ms/query |")
    print("|---|" + "---:|" * (len(metrics) + 1))
    for label, values, ms in rows:
        print(f"| {label} | " + " | ".join(f"{values[m]:.4f}" for m in metrics) + f" | {ms:.2f} |")
    if name == "scifact":
        print("\npublished all-MiniLM-L6-v2 nDCG@10 on SciFact (MTEB): 0.6451")
    return 0


if __name__ == "__main__":
    sys.exit(main())
