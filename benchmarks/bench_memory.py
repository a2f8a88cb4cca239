"""Peak memory of building a large index in batches: N synthetic unit vectors (default 1M x 384,
a 1.5 GB float32 matrix) are generated one batch at a time and added to a FlatIndex (or an
HnswIndex with --kind hnsw), then the index is saved and loaded back. The whole matrix never
exists on the Python side, so the peak resident set size (VmHWM, reset between phases through
/proc/self/clear_refs) measures what the index itself holds.

    PYTHONPATH=build/rel/py .venv/bin/python benchmarks/bench_memory.py --n 1000000 --dim 384
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
    args = p.parse_args()

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


if __name__ == "__main__":
    main()
