"""Peak memory of building a large index in batches: N synthetic unit vectors (default 1M x 384,
a 1.5 GB float32 matrix) are generated one batch at a time and added to a FlatIndex (or an
HnswIndex with --kind hnsw), then the index is saved and loaded back. The whole matrix never
exists on the Python side, so the peak resident set size (VmHWM, reset between phases through
/proc/self/clear_refs) measures what the index itself holds.

    PYTHONPATH=build/rel/py .venv/bin/python benchmarks/bench_memory.py --n 1000000 --dim 384

With --encoder, it measures instead the peak RSS of encoding SciFact documents with the
packaged all-MiniLM-L6-v2 at several batch sizes, and at one batch size for two corpus sizes:
activations are bounded by the batch, so the peak above the output matrix should grow with the
batch size and not with the number of texts.

    PYTHONPATH=build/rel/py .venv/bin/python benchmarks/bench_memory.py --encoder --threads 2
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Report, cpu_model  # noqa: E402

import densefb  # noqa: E402

GIB = 1 << 30


def _status(field: str) -> int:
    """A size field of /proc/self/status (VmRSS, VmHWM) in bytes."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak() -> None:
    """Resets VmHWM to the current RSS (Linux >= 4.0)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def _batch(start: int, size: int, dim: int) -> np.ndarray:
    x = np.random.default_rng(start).standard_normal((size, dim), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--dim", type=int, default=384)
    p.add_argument("--batch", type=int, default=10_000)
    p.add_argument("--kind", choices=["flat", "hnsw"], default="flat")
    p.add_argument("--reserve", action="store_true", help="reserve room for n vectors first")
    p.add_argument("--dir", default=None, help="where the index file goes (default: a temp dir)")
    p.add_argument("--markdown", default=None, help="also write the report here")
    p.add_argument("--encoder", action="store_true", help="measure encoding memory instead (see above)")
    p.add_argument("--threads", type=int, default=2, help="torch threads for --encoder")
    args = p.parse_args()
    if args.encoder:
        encoder_memory(args)
        return

    report = Report()
    raw = args.n * args.dim * 4
    report(f"machine: {cpu_model()}, {os.cpu_count()} cores; densefb {densefb.__version__}")
    report(f"{args.kind} index, {args.n:,} x {args.dim} float32 vectors in batches of "
                f"{args.batch:,}: raw matrix {raw / GIB:.2f} GiB")

    index = densefb.FlatIndex(args.dim) if args.kind == "flat" else densefb.HnswIndex(args.dim, M=16)
    if args.reserve:
        index.reserve(args.n)
    base = _status("VmRSS")
    _reset_peak()
    t = time.perf_counter()
    for start in range(0, args.n, args.batch):
        index.add(_batch(start, min(args.batch, args.n - start), args.dim))
    add_s = time.perf_counter() - t
    add_peak, after_add = _status("VmHWM"), _status("VmRSS")
    assert len(index) == args.n

    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = os.path.join(tmp, "index.dfb")
        _reset_peak()
        t = time.perf_counter()
        index.save(path)
        save_s = time.perf_counter() - t
        save_peak = _status("VmHWM")
        size = os.path.getsize(path)
        del index
        base_load = _status("VmRSS")
        _reset_peak()
        t = time.perf_counter()
        loaded = (densefb.FlatIndex if args.kind == "flat" else densefb.HnswIndex).load(path)
        load_s = time.perf_counter() - t
        load_peak = _status("VmHWM")
        assert len(loaded) == args.n
        check = _batch(0, 1, args.dim)
        _, ids = loaded.search(check, 1)
        assert ids[0, 0] == 0, ids

    def row(phase, peak, baseline, seconds):
        above = peak - baseline
        report(f"| {phase} | {peak / GIB:.2f} | {above / GIB:.2f} | {above / raw:.2f} | {seconds:.1f} |")

    report("")
    report("| phase | peak RSS (GiB) | above the baseline (GiB) | / raw matrix | seconds |")
    report("|---|---|---|---|---|")
    row("add in batches", add_peak, base, add_s)
    row("save", save_peak, base, save_s)
    row("load", load_peak, base_load, load_s)
    report("")
    report(f"baseline (interpreter, numpy, densefb) {base / GIB:.2f} GiB; RSS after adding "
                f"{after_add / GIB:.2f} GiB; file {size / GIB:.2f} GiB")
    if args.markdown:
        report.save(args.markdown)


def _encode_once(n: int, batch: int, threads: int) -> str:
    """One measurement, in a fresh process (freed memory that the allocator keeps would
    otherwise hide the next configuration's peak): a table row."""
    import torch

    torch.set_num_threads(threads)
    data = os.path.join(os.environ.get("DENSEFB_DATA", os.path.join("..", "shared", "data")), "scifact")
    texts = densefb.load_beir(data, "test").corpus.texts()[:n]
    model = densefb.Encoder.from_pretrained("sentence-transformers/all-MiniLM-L6-v2")
    model.encode(texts[:2], batch_size=2, show_progress=False)  # thread pool, allocator
    base = _status("VmRSS")
    _reset_peak()
    t = time.perf_counter()
    out = model.encode(texts, batch_size=batch, show_progress=False)
    seconds = time.perf_counter() - t
    above = _status("VmHWM") - base
    rest = above - out.nbytes
    return (f"| {n:,} | {batch} | {above / 2**20:.1f} | {out.nbytes / 2**20:.1f} | "
            f"{rest / 2**20 / batch:.2f} | {seconds:.1f} |")


def encoder_memory(args) -> None:
    import subprocess

    import torch

    report = Report()
    report(f"machine: {cpu_model()}, {os.cpu_count()} cores, {args.threads} torch threads; densefb "
           f"{densefb.__version__}, torch {torch.__version__}; SciFact documents (title + text), "
           f"all-MiniLM-L6-v2 (max_length 256); each row a fresh process")
    report("")
    report("| documents | batch size | peak RSS above the loaded model (MiB) | of which the output (MiB) | "
           "rest, per text of a batch (MiB) | seconds |")
    report("|---:|---:|---:|---:|---:|---:|")
    for n, batch in ((512, 8), (512, 32), (512, 128), (2048, 32)):
        code = (f"import sys; sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r}); "
                f"import bench_memory; print(bench_memory._encode_once({n}, {batch}, {args.threads}))")
        row = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
        report(row.strip().splitlines()[-1])
    if args.markdown:
        report.save(args.markdown)


if __name__ == "__main__":
    main()
