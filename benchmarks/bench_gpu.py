#!/usr/bin/env python3
"""Exact search and encoding on a torch device: densefb.TorchFlatIndex against torch matmul +
topk and faiss-gpu (where it installs), and densefb's encoder against sentence-transformers on
the same device, in fp32 and fp16/bf16, in one process.

    .venv/bin/python benchmarks/bench_gpu.py --device cuda --out build/bench_gpu.md
    .venv/bin/python benchmarks/bench_gpu.py --device cpu --docs 200000 --queries 1000   # no GPU

Search: a synthetic corpus of unit vectors (--docs x --dim, Gaussian, seeded) and --queries
queries, searched at k = 10, 100 and 1000. Each system gets its best of --repeat runs; its
queries per second include the copy of the queries to the device and of the results back.
Every result is checked against densefb.FlatIndex (the CPU index) on the first 100 queries:
ids must agree except at near ties (the half-precision storage, fp16 on cuda and bf16 on cpu,
agrees less: its vectors are rounded). On "cpu", densefb.FlatIndex is timed too.

Encoding: the first --encode-docs SciFact documents (or the collection given), encoded by
densefb.Encoder and sentence-transformers with the packaged all-MiniLM-L6-v2, at each precision
the device runs (cuda: fp32, fp16, bf16; cpu: fp32, int8, and bf16 where the CPU has it).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Report, best_time, cpu_model, version  # noqa: E402


def sync(torch, device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def torch_topk(torch, docs, queries, k, device, block=65536):
    """The plain torch recipe: matmul per block of documents, topk, merge (ties unordered)."""
    q = torch.from_numpy(queries).to(device)
    best_s = best_i = None
    for d0 in range(0, docs.shape[0], block):
        s = q @ docs[d0:d0 + block].T
        ts, ti = torch.topk(s, min(k, s.shape[1]), dim=1)
        ti += d0
        if best_s is None:
            best_s, best_i = ts, ti
        else:
            cs, ci = torch.cat([best_s, ts], 1), torch.cat([best_i, ti], 1)
            best_s, pos = torch.topk(cs, min(k, cs.shape[1]), dim=1)
            best_i = torch.gather(ci, 1, pos)
    return best_s.cpu().numpy(), best_i.cpu().numpy()


def agree(ref_s, ref_i, got_i, tol=2e-6):
    """Share of the first 100 queries whose ids equal the reference's up to near ties."""
    ok = 0
    for q in range(min(100, len(ref_i))):
        bad = np.flatnonzero(ref_i[q] != got_i[q])
        ok += all(abs(ref_s[q, j] - ref_s[q, j - 1 if j else 0]) < tol or
                  (j + 1 < len(ref_s[q]) and abs(ref_s[q, j] - ref_s[q, j + 1]) < tol) for j in bad)
    return ok / min(100, len(ref_i))


def search_bench(args, report, torch):
    import densefb
    from densefb.index import TorchFlatIndex

    rng = np.random.default_rng(0)
    docs = rng.standard_normal((args.docs, args.dim), dtype=np.float32)
    docs /= np.linalg.norm(docs, axis=1, keepdims=True)
    queries = rng.standard_normal((args.queries, args.dim), dtype=np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)

    flat = densefb.FlatIndex(args.dim)
    flat.add(docs)
    t = time.perf_counter()
    index = TorchFlatIndex(args.dim, device=args.device)
    index.reserve(args.docs)
    index.add(docs)
    sync(torch, args.device)
    report(f"TorchFlatIndex add: {time.perf_counter() - t:.2f} s for {args.docs} x {args.dim}; "
           f"{index.device_bytes / 2**20:.0f} MiB on {args.device}")
    docs_t = torch.from_numpy(docs).to(args.device)
    half = TorchFlatIndex(args.dim, device=args.device, storage="fp16" if args.device.startswith("cuda") else "bf16")
    half.add(docs)

    systems = {"densefb TorchFlatIndex": lambda k: index.search(queries, k),
               f"densefb TorchFlatIndex {half.storage} storage": lambda k: half.search(queries, k),
               "torch matmul + topk": lambda k: torch_topk(torch, docs_t, queries, k, args.device)}
    if args.device == "cpu":
        systems["densefb FlatIndex (CPU)"] = lambda k: flat.search(queries, k)
    try:
        import faiss

        if args.device.startswith("cuda") and hasattr(faiss, "StandardGpuResources"):
            res = faiss.StandardGpuResources()
            gpu = faiss.GpuIndexFlatIP(res, args.dim)
            gpu.add(docs)
            systems["faiss-gpu GpuIndexFlatIP"] = lambda k: gpu.search(queries, k)
        elif args.device.startswith("cuda"):
            report("faiss-gpu: not installed (faiss here has no GPU support)")
    except ImportError:
        report("faiss: not installed")

    report()
    report(f"| k | " + " | ".join(systems) + " |")
    report("|---:|" + "---:|" * len(systems))
    for k in (10, 100, 1000):
        ref_s, ref_i = flat.search(queries[:100], k)
        cells = []
        base = None
        for name, fn in systems.items():
            fn(k)  # warm-up (allocator, kernels)
            sync(torch, args.device)
            secs, (s, i) = best_time(lambda: fn(k), args.repeat)
            qps = args.queries / secs
            base = base or qps
            cells.append(f"{qps:,.0f} q/s ({qps / base:.2f}x), agree {agree(ref_s, ref_i, np.asarray(i)[:100]):.2f}")
        report(f"| {k} | " + " | ".join(cells) + " |")


def encode_bench(args, report, torch):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    import densefb
    from densefb import _torch

    corpus = densefb.load_beir(os.path.join(args.data, args.dataset)).corpus if args.encode_docs else None
    if corpus is None:
        return
    texts = corpus.texts()[: args.encode_docs]
    model_dir = str(densefb.resolve_model("sentence-transformers/all-MiniLM-L6-v2"))
    cuda = args.device.startswith("cuda")
    precisions = ["fp32", "fp16", "bf16"] if cuda else ["fp32", "int8"] + (["bf16"] if _torch.cpu_has_bf16() else [])
    report()
    report(f"Encoding {len(texts)} {args.dataset} documents on {args.device}, batch {args.batch_size}:")
    report()
    report("| precision | densefb docs/s | sentence-transformers docs/s | ratio | min cosine to densefb fp32 |")
    report("|---|---:|---:|---:|---:|")
    ref = None
    for precision in precisions:
        enc = densefb.Encoder.from_pretrained(model_dir, device=args.device, precision=precision)
        enc.encode(texts[:64])
        secs, ours = best_time(lambda: enc.encode(texts, batch_size=args.batch_size), 1)
        ref = ours if precision == "fp32" else ref
        st_rate = float("nan")
        if precision != "int8":
            st = SentenceTransformer(model_dir, device=args.device)
            if precision != "fp32":
                st = st.to({"fp16": torch.float16, "bf16": torch.bfloat16}[precision])
            st.encode(texts[:64])
            st_secs, _ = best_time(lambda: st.encode(texts, batch_size=args.batch_size, convert_to_numpy=True), 1)
            st_rate = len(texts) / st_secs
        cos = float(np.min(np.sum(ours * ref, axis=1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(ref, axis=1)))
        rate = len(texts) / secs
        report(f"| {enc.precision} | {rate:,.0f} | {st_rate:,.0f} | {rate / st_rate:.2f}x | {cos:.4f} |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--docs", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--queries", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--data", default=os.environ.get("DENSEFB_DATA", "../shared/data"))
    ap.add_argument("--dataset", default="scifact")
    ap.add_argument("--encode-docs", type=int, default=5183, help="documents to encode (0 = skip encoding)")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--threads", type=int, default=0, help="torch intra-op threads on cpu (0 = leave)")
    ap.add_argument("--out", help="also write the Markdown report here")
    args = ap.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("CUDA is not available; run with --device cpu", file=sys.stderr)
        return 2
    report = Report()
    machine = torch.cuda.get_device_name(args.device) if args.device.startswith("cuda") else cpu_model()
    report(f"Machine: {machine} ({args.device}); CPU {cpu_model()}; torch {torch.__version__}, "
           f"sentence-transformers {version('sentence-transformers')}, faiss {version('faiss-gpu')}"
           f"/{version('faiss-cpu')}; densefb {version('densefb')}")
    report(f"Search: {args.docs} x {args.dim} unit vectors, {args.queries} queries, best of {args.repeat}")
    search_bench(args, report, torch)
    encode_bench(args, report, torch)
    report.save(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
