#!/usr/bin/env python3
"""BM25 top-k search against the fastest peers, in one run: densefb's Bm25Index (its default
exhaustive term-at-a-time evaluation, and MaxScore dynamic pruning), bm25s with its numba backend,
and PISA (through PyPI pyterrier-pisa; block-max WAND and MaxScore), on SciFact and on a
synthetic corpus with Zipf-distributed terms.

Every engine indexes the same texts with its own defaults for BM25 (k1 0.9, b 0.4 for densefb and
PISA; bm25s's Lucene variant with the same k1 and b) and is timed on the same queries, query
analysis included where the engine takes text (densefb, PISA) and excluded for bm25s (it takes
token ids, tokenised beforehand). Each search is timed --repeat times (best kept) with --threads
threads. Before any timing, densefb's pruned rankings are checked to equal its exhaustive ones.

Synthetic corpus: --docs documents, lengths uniform in [20, 180], terms drawn from a Zipf law
(exponent 1.1) over --vocab terms; queries of 2-6 terms drawn from the same law with the 50 most
frequent terms left out (stop-word-like). Analysis off (no stop words, no stemming) everywhere.

    pip install bm25s pyterrier-pisa    # the peers (not needed by densefb)
    PYTHONPATH=build/py/py DENSEFB_DATA=../shared/data .venv/bin/python benchmarks/bench_bm25.py \\
        --docs 1000000 --out bench_bm25.md
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Report, best_time, cpu_model, version  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def zipf_corpus(num_docs, vocab, num_queries, seed):
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, vocab + 1) ** 1.1
    p /= p.sum()
    lengths = rng.integers(20, 181, num_docs)
    terms = rng.choice(vocab, size=int(lengths.sum()), p=p)
    words = np.array([f"w{i}" for i in range(vocab)], dtype=object)
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    texts = [" ".join(words[terms[bounds[i]:bounds[i + 1]]]) for i in range(num_docs)]
    q = rng.choice(np.arange(50, vocab), size=(num_queries, 6), p=p[50:] / p[50:].sum())
    qlen = rng.integers(2, 7, num_queries)
    queries = [" ".join(words[q[i, :qlen[i]]]) for i in range(num_queries)]
    return texts, queries


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.environ.get("DENSEFB_DATA", str(REPO.parent / "shared" / "data")))
    ap.add_argument("--docs", type=int, default=1_000_000)
    ap.add_argument("--vocab", type=int, default=200_000)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--k", type=int, nargs="+", default=[10, 1000])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip", nargs="*", default=[], help="collections to skip: scifact, synthetic")
    ap.add_argument("--out", default="")
    args = ap.parse_args()

    import densefb
    from densefb.sparse import Bm25Index

    report = Report()
    report(f"CPU: {cpu_model()}; {os.cpu_count()} cores; threads {args.threads}; best of {args.repeat}")
    report(f"densefb {densefb.__version__}, bm25s {version('bm25s')}, numba {version('numba')}, "
           f"pyterrier-pisa {version('pyterrier-pisa')}")

    collections = []
    if "scifact" not in args.skip:
        ds = densefb.load_beir(str(Path(args.data) / "scifact"))
        collections.append(("scifact", ds.corpus.texts(), list(ds.queries.texts), dict(stopwords=True, stemmer="porter")))
    if "synthetic" not in args.skip:
        t = time.perf_counter()
        texts, queries = zipf_corpus(args.docs, args.vocab, args.queries, seed=7)
        report(f"synthetic corpus: {args.docs:,} documents, {args.vocab:,}-term Zipf vocabulary, "
               f"{len(queries)} queries, made in {time.perf_counter() - t:.0f} s")
        collections.append((f"synthetic Zipf {args.docs:,}", texts, queries, dict(stopwords=False, stemmer="none")))

    for name, texts, queries, analysis in collections:
        report()
        report(f"### {name}: {len(texts):,} documents, {len(queries)} queries")
        report()
        rows = []  # (engine, build s, {k: q/s})
        t = time.perf_counter()
        index = Bm25Index.build(texts, num_threads=args.threads, **analysis)
        build = time.perf_counter() - t
        pruned, exhaustive = {}, {}
        for k in args.k:
            index.dynamic_pruning = True
            ps, pi = index.search(queries, k, num_threads=args.threads)
            index.dynamic_pruning = False
            es, ei = index.search(queries, k, num_threads=args.threads)
            assert np.array_equal(ps, es) and np.array_equal(pi, ei), f"pruned != exhaustive at k={k}"
            index.dynamic_pruning = True
            pruned[k] = len(queries) / best_time(lambda: index.search(queries, k, num_threads=args.threads), args.repeat)[0]
            index.dynamic_pruning = False
            exhaustive[k] = len(queries) / best_time(lambda: index.search(queries, k, num_threads=args.threads), args.repeat)[0]
        index.dynamic_pruning = False
        rows.append(("densefb Bm25Index (default: exhaustive)", build, exhaustive))
        rows.append(("densefb Bm25Index (dynamic_pruning: MaxScore)", build, pruned))
        report(f"densefb: built in {build:.1f} s; pruned rankings identical to exhaustive at k = {args.k}")
        del index

        try:
            import bm25s
            t = time.perf_counter()
            stop = "en" if analysis["stopwords"] else None
            stemmer = None
            if analysis["stemmer"] == "porter":
                try:
                    import Stemmer
                    stemmer = Stemmer.Stemmer("english")
                except ImportError:
                    pass
            corpus_tokens = bm25s.tokenize(texts, stopwords=stop, stemmer=stemmer, show_progress=False)
            retriever = bm25s.BM25(k1=0.9, b=0.4, backend="numba")
            retriever.index(corpus_tokens, show_progress=False)
            bbuild = time.perf_counter() - t
            qtok = bm25s.tokenize(queries, stopwords=stop, stemmer=stemmer, show_progress=False)
            qs = {}
            for k in args.k:
                kk = min(k, len(texts))
                retriever.retrieve(qtok, k=kk, n_threads=args.threads, show_progress=False)  # numba warm-up
                qs[k] = len(queries) / best_time(lambda: retriever.retrieve(qtok, k=kk, n_threads=args.threads,
                                                                             show_progress=False), args.repeat)[0]
            rows.append(("bm25s (numba)", bbuild, qs))
            del retriever, corpus_tokens
        except ImportError:
            report("bm25s: not installed")

        try:
            import pandas as pd
            from pyterrier_pisa import PisaIndex
            with tempfile.TemporaryDirectory() as tmp:
                stem = "porter2" if analysis["stemmer"] == "porter" else "none"
                stops = "terrier" if analysis["stopwords"] else "none"
                t = time.perf_counter()
                pisa = PisaIndex(str(Path(tmp) / "pisa"), stemmer=stem, stops=stops, threads=args.threads)
                pisa.index({"docno": str(i), "text": txt} for i, txt in enumerate(texts))
                pbuild = time.perf_counter() - t
                frame = pd.DataFrame({"qid": [str(i) for i in range(len(queries))], "query": queries})
                for algo in ("block_max_wand", "maxscore"):
                    qs = {}
                    for k in args.k:
                        r = pisa.bm25(k1=0.9, b=0.4, num_results=k, threads=args.threads, query_algorithm=algo)
                        r(frame)  # opens the index
                        qs[k] = len(queries) / best_time(lambda: r(frame), args.repeat)[0]
                    rows.append((f"PISA ({algo})", pbuild, qs))
        except ImportError:
            report("pyterrier-pisa: not installed")

        report()
        report("| engine | build s | " + " | ".join(f"q/s k={k}" for k in args.k) + " |")
        report("|---|---:|" + "---:|" * len(args.k))
        for engine, b, qs in rows:
            report(f"| {engine} | {b:.1f} | " + " | ".join(f"{qs[k]:,.0f}" for k in args.k) + " |")
        report()
        base = rows[0][2]
        for engine, b, qs in rows[1:]:
            report(f"- densefb (default) / {engine}: " + ", ".join(f"{base[k] / qs[k]:.2f}x at k={k}" for k in args.k)
                   + f"; densefb builds {b / rows[0][1]:.2f}x faster")
    report.save(args.out)


if __name__ == "__main__":
    main()
