#!/usr/bin/env python3
"""Encoder benchmark: corpus-encoding throughput of densefb's C++ BERT encoder against
sentence-transformers, same model, same texts, same batch size, same torch intra-op threads,
in one process; the outputs are checked to be identical (cosine >= 0.99999 for every text).

    .venv/bin/python benchmarks/bench_encode.py --dataset ../shared/data/scifact \\
        --threads 2 --batch-size 32 --out build/bench_encode.md
    .venv/bin/python benchmarks/bench_encode.py --device cuda --batch-size 128   # on a GPU
"""
from __future__ import annotations

import argparse
import importlib.metadata
import os
import platform
import time

import numpy as np


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", default=os.path.join(os.environ.get("DENSEFB_DATA", "../shared/data"), "scifact"))
    ap.add_argument("--model", default="sentence-transformers/all-MiniLM-L6-v2")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--limit", type=int, default=0, help="encode only the first N documents (0 = all)")
    ap.add_argument("--repeat", type=int, default=2, help="timed runs of each (alternating); best kept")
    ap.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N, for both encoders")
    ap.add_argument("--out", help="also write the Markdown table here")
    args = ap.parse_args()

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from sentence_transformers import SentenceTransformer

    import densefb

    torch.set_num_threads(args.threads)
    ds = densefb.load_beir(args.dataset, "test")
    texts = ds.corpus.texts()
    if args.limit:
        texts = texts[: args.limit]
    ours = densefb.Encoder.from_pretrained(args.model, device=args.device)
    peer = SentenceTransformer(ours.model_dir, device=args.device)
    assert peer.max_seq_length == ours.max_length, (peer.max_seq_length, ours.max_length)

    ours.encode(texts[:64], batch_size=args.batch_size)  # warm-up (allocator, thread pool)
    peer.encode(texts[:64], batch_size=args.batch_size)
    t_ours, t_peer = float("inf"), float("inf")
    for _ in range(args.repeat):
        t = time.perf_counter()
        a = ours.encode(texts, batch_size=args.batch_size, show_progress=False)
        t_ours = min(t_ours, time.perf_counter() - t)
        t = time.perf_counter()
        b = peer.encode(texts, batch_size=args.batch_size, convert_to_numpy=True)
        t_peer = min(t_peer, time.perf_counter() - t)
    device_name = (torch.cuda.get_device_name(torch.device(args.device)) if args.device.startswith("cuda")
                   else f"CPU, {args.threads} torch threads")
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    ratio = t_peer / t_ours
    lines = [
        f"Corpus encoding, {os.path.basename(args.dataset.rstrip('/'))} ({len(texts)} documents, title + text), "
        f"{args.model}, max_length {ours.max_length}, batch {args.batch_size}, {device_name}, "
        f"best of {args.repeat}:",
        "",
        "| encoder | seconds | docs/s | speed-up vs sentence-transformers |",
        "|---|---:|---:|---:|",
        f"| densefb (C++ over libtorch) | {t_ours:.1f} | {len(texts) / t_ours:.1f} | {ratio:.2f}x |",
        f"| sentence-transformers {importlib.metadata.version('sentence-transformers')} | {t_peer:.1f} | "
        f"{len(texts) / t_peer:.1f} | 1.00x |",
        "",
        f"Identical output: min cosine {cos.min():.7f}, max |diff| {np.abs(a - b).max():.2e} over all "
        f"{len(texts)} texts. torch {torch.__version__}, {platform.processor() or platform.machine()}.",
    ]
    print("\n".join(lines))
    if args.out:
        with open(args.out, "w") as f:
            f.write("\n".join(lines) + "\n")
    return 0 if cos.min() >= 0.99999 else 1


if __name__ == "__main__":
    raise SystemExit(main())
