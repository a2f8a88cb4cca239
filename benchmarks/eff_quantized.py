#!/usr/bin/env python3
"""Effectiveness of compressed flat storage: nDCG@10 of the float32 FlatIndex against
ScalarQuantizedIndex int8, fp16, bf16 (and int8 with exact re-scoring) and ProductQuantizedIndex
(m 48 and 96, 256 centroids per sub-space, trained on the collection itself), dense retrieval alone
and with Rocchio PRF (dense >> rocchio(alpha=0.4,beta=0.6,topk=5) >> dense), over
all-MiniLM-L6-v2 vectors of SciFact and Cranfield, with each index's memory.

Vectors: sentence-transformers all-MiniLM-L6-v2 (unit length; inner product), the cache that
tests/python/conftest.py writes (build/test-cache/<name>-minilm-<key>.npz), encoded here with
the same recipe when absent.

    PYTHONPATH=build/py/py DENSEFB_DATA=../shared/data .venv/bin/python benchmarks/eff_quantized.py
"""
from __future__ import annotations

import argparse
import hashlib
import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
PLAIN = "dense(k=1000)"
ROCCHIO = "dense >> rocchio(alpha=0.4,beta=0.6,topk=5) >> dense(k=1000)"
KINDS = [("fp32", None, 0), ("int8", "int8", 0), ("fp16", "fp16", 0), ("bf16", "bf16", 0),
         ("int8 + rescore 4", "int8", 4), ("pq m48", "pq48", 0), ("pq m96", "pq96", 0),
         ("pq m48 + rescore 4", "pq48", 4)]


def vectors(ds, name, cache: Path):
    texts, queries = ds.corpus.texts(), ds.queries.texts
    key = hashlib.sha256("\x00".join(texts + queries).encode()).hexdigest()[:16]
    path = cache / f"{name}-minilm-{key}.npz"
    if not path.exists():
        sys.path.insert(0, str(REPO / "tests" / "python"))
        from conftest import packaged_minilm
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(str(packaged_minilm()), device="cpu")
        docs = model.encode(texts, batch_size=64, convert_to_numpy=True).astype(np.float32)
        qs = model.encode(queries, batch_size=64, convert_to_numpy=True).astype(np.float32)
        cache.mkdir(parents=True, exist_ok=True)
        np.savez(path, docs=docs, queries=qs)
    z = np.load(path)
    return np.ascontiguousarray(z["docs"]), np.ascontiguousarray(z["queries"])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.environ.get("DENSEFB_DATA", str(REPO.parent / "shared" / "data")))
    ap.add_argument("--cache", default=str(REPO / "build" / "test-cache"))
    ap.add_argument("--collections", nargs="+", default=["scifact", "cranfield"])
    args = ap.parse_args()

    import densefb
    from densefb import Pipeline, Resources

    for name in args.collections:
        ds = densefb.load_beir(Path(args.data) / name, "test")
        D, Q = vectors(ds, name, Path(args.cache))
        print(f"\n#### {name}: {len(D):,} documents x {D.shape[1]}, {len(Q)} queries\n")
        print("| storage | nDCG@10 dense | Δ vs fp32 | nDCG@10 dense >> rocchio >> dense | Δ vs fp32 | vectors MB | vs fp32 | with ids MB | vs fp32 |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        base = None
        for label, enc, rescore in KINDS:
            if enc is None:
                ix = densefb.FlatIndex(D.shape[1], metric="ip")
                mem = len(D) * (D.shape[1] * 4 + 24)  # vectors + ids, as memory_usage() counts them
                vec = len(D) * D.shape[1] * 4
            elif enc.startswith("pq"):
                ix = densefb.ProductQuantizedIndex(D.shape[1], m=int(enc[2:]), metric="ip", rescore_factor=rescore)
            else:
                ix = densefb.ScalarQuantizedIndex(D.shape[1], metric="ip", encoding=enc, rescore_factor=rescore)
            ix.add(D)
            if enc is not None:
                u = ix.memory_usage()
                mem, vec = u["total"], u["total"] - u["ids"]
            res = Resources(corpus=ds.corpus, dense_index=ix)
            m = [densefb.evaluate(Pipeline.parse(spec).run(res, ds.queries, k=1000, query_vectors=Q), ds.qrels,
                                  ["nDCG@10"])["nDCG@10"] for spec in (PLAIN, ROCCHIO)]
            if base is None:
                base, base_mem, base_vec = m, mem, vec
            print(f"| {label} | {m[0]:.4f} | {m[0] - base[0]:+.4f} | {m[1]:.4f} | {m[1] - base[1]:+.4f} | "
                  f"{vec / 1e6:.2f} | {base_vec / vec:.2f}x smaller | {mem / 1e6:.2f} | {base_mem / mem:.2f}x smaller |")


if __name__ == "__main__":
    main()
