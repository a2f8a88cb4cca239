#!/usr/bin/env python3
"""Live BM25 updates: the cost of add / delete / update / compact / save batches against a
fresh build, and search speed with tombstones, on a BEIR corpus (SciFact by default).

Every change rebuilds the postings from the forward index (linear in the index size), so a
batch costs about the same whatever its size; the table shows where batching pays. Before any
timing, the changed index's rankings are checked against a fresh build over its live documents.

    .venv/bin/python benchmarks/bench_bm25_live.py --dataset ../shared/data/scifact --repeat 5
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

import densefb
from densefb.sparse import Bm25Index


def best_of(repeat: int, fn) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="scifact")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    ds = densefb.load_beir(args.dataset)
    names, texts = list(ds.corpus.ids), ds.corpus.texts()
    queries = list(ds.queries.texts)
    half = len(names) // 2
    rows = []

    def build():
        return Bm25Index.build(list(zip(names[:half], texts[:half])), num_threads=args.threads)

    rows.append(("fresh build of %d documents" % half, best_of(args.repeat, build)))
    for batch in (1, 100, 1000):
        def add(batch=batch):
            index = build()
            start = time.perf_counter()
            index.add(texts[half:half + batch], names[half:half + batch], num_threads=args.threads)
            return time.perf_counter() - start
        rows.append((f"add {batch}", min(add() for _ in range(args.repeat))))
    for batch in (1, 100, 1000):
        def delete(batch=batch):
            index = build()
            start = time.perf_counter()
            index.delete(names[:batch])
            return time.perf_counter() - start
        rows.append((f"delete {batch}", min(delete() for _ in range(args.repeat))))
        def update(batch=batch):
            index = build()
            start = time.perf_counter()
            index.update(names[:batch], texts[half:half + batch], num_threads=args.threads)
            return time.perf_counter() - start
        rows.append((f"update {batch}", min(update() for _ in range(args.repeat))))

    # A changed index: checked against a fresh build, then compact, save and search timed.
    index = build()
    index.delete(names[: half // 5])
    index.add(texts[half:], names[half:], num_threads=args.threads)
    live = names[half // 5:]
    ref = Bm25Index.build(list(zip(live, texts[half // 5:])), num_threads=args.threads)
    s, i = index.search(queries, 100, num_threads=args.threads)
    rs, ri = ref.search(queries, 100, num_threads=args.threads)
    doc_ids = index.doc_ids
    assert np.array_equal(s, rs) and [[doc_ids[j] for j in r if j >= 0] for r in i] == \
        [[ref.doc_ids[j] for j in r if j >= 0] for r in ri], "changed index differs from a fresh build"
    with tempfile.TemporaryDirectory() as tmp:
        rows.append(("save with %d tombstones (compacted on write)" % index.num_deleted,
                     best_of(args.repeat, lambda: index.save(Path(tmp) / "live.bm25"))))
        rows.append(("save of the fresh build", best_of(args.repeat, lambda: ref.save(Path(tmp) / "fresh.bm25"))))
    search_live = best_of(args.repeat, lambda: index.search(queries, 100, num_threads=args.threads))
    search_ref = best_of(args.repeat, lambda: ref.search(queries, 100, num_threads=args.threads))
    rows.append((f"search {len(queries)} queries, k=100, with tombstones", search_live))
    rows.append((f"search {len(queries)} queries, k=100, fresh build", search_ref))

    def compact():
        changed = build()
        changed.delete(names[: half // 5])
        start = time.perf_counter()
        changed.compact()
        return time.perf_counter() - start
    rows.append(("compact (%d of %d deleted)" % (half // 5, half), min(compact() for _ in range(args.repeat))))

    print(f"| {args.dataset}: operation | best of {args.repeat} (ms) |\n|---|---:|")
    for name, seconds in rows:
        print(f"| {name} | {seconds * 1000:.1f} |")


if __name__ == "__main__":
    main()
