#!/usr/bin/env python3
"""Reduced-precision encoders: corpus-encoding speed, cosine to float32 and nDCG@10 of dense
search, for densefb's BERT encoder in fp32, int8 and bf16 and for sentence-transformers in
fp32 (the baseline), int8 (torch's quantize_dynamic, what its users run) and bf16, in one
process, same texts, same batch size, same torch intra-op threads.

    .venv/bin/python benchmarks/bench_precision.py --datasets scifact cranfield \\
        --threads 2 --out build/bench_precision.md

For each collection: every encoder encodes the corpus (timed) and the test queries; the
documents are searched exactly (inner product over unit vectors, top 1000) and scored with
nDCG@10; the difference to densefb fp32 is tested with a paired t-test over the queries.
Cosines are per text (documents and queries) against densefb fp32. bf16 rows appear only on a
CPU with bf16 instructions (densefb resolves "bf16" to fp32 elsewhere, and says so).
"""
from __future__ import annotations

import argparse
import importlib.metadata
import os
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import cpu_model  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=os.environ.get("DENSEFB_DATA", "../shared/data"))
    ap.add_argument("--datasets", nargs="+", default=["scifact", "cranfield"])
    ap.add_argument("--model", default="sentence-transformers/all-MiniLM-L6-v2")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--limit", type=int, default=0, help="encode only the first N documents (0 = all)")
    ap.add_argument("--out", help="also write the Markdown report here")
    args = ap.parse_args()

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from sentence_transformers import SentenceTransformer

    import densefb
    from densefb import _torch

    torch.set_num_threads(args.threads)
    model_dir = str(densefb.resolve_model(args.model))
    has_bf16 = _torch.cpu_has_bf16()

    def st(precision):
        m = SentenceTransformer(model_dir, device="cpu")
        if precision == "int8":
            warnings.filterwarnings("ignore", message=".*quantiz", category=DeprecationWarning)
            m = torch.ao.quantization.quantize_dynamic(m, {torch.nn.Linear}, dtype=torch.qint8)
        elif precision == "bf16":
            m = m.to(torch.bfloat16)
        return m

    encoders = [("densefb", "fp32"), ("densefb", "int8"), ("sentence-transformers", "fp32"),
                ("sentence-transformers", "int8")]
    if has_bf16:
        encoders[2:2] = [("densefb", "bf16")]
        encoders.append(("sentence-transformers", "bf16"))

    report = [f"CPU {cpu_model()}, bf16 instructions: {'yes' if has_bf16 else 'no'}; {args.threads} torch "
              f"threads; {args.model}; batch {args.batch_size}; torch {torch.__version__}, "
              f"sentence-transformers {importlib.metadata.version('sentence-transformers')}", ""]
    for name in args.datasets:
        ds = densefb.load_beir(os.path.join(args.data, name), "test")
        texts = ds.corpus.texts()
        doc_ids = ds.corpus.ids
        if args.limit:
            texts, doc_ids = texts[: args.limit], doc_ids[: args.limit]
        queries = list(ds.queries.texts)
        rows = {}
        for who, precision in encoders:
            if who == "densefb":
                enc = densefb.Encoder.from_pretrained(model_dir, precision=precision)
                assert enc.precision == precision, (precision, enc.precision)
                encode = lambda t, q=False, e=enc: (e.encode_queries if q else e.encode)(  # noqa: E731
                    t, batch_size=args.batch_size)
            else:
                m = st(precision)
                encode = lambda t, q=False, m=m: m.encode(  # noqa: E731
                    t, batch_size=args.batch_size, convert_to_numpy=True).astype(np.float32)
            encode(texts[:64])  # warm-up
            t = time.perf_counter()
            docs = encode(texts)
            seconds = time.perf_counter() - t
            qv = encode(queries, True)
            index = densefb.FlatIndex(docs.shape[1], metric="ip")
            index.add(docs)
            scores, ids = index.search(qv, 1000)
            run = densefb.make_run(ds.queries.ids, ids, scores, doc_ids)
            mean, per_query = densefb.evaluate(run, ds.qrels, ["nDCG@10"], per_query=True)
            rows[(who, precision)] = dict(seconds=seconds, docs=docs, queries=qv, ndcg=mean["nDCG@10"],
                                          per_query=per_query)
            print(f"{name}: {who} {precision}: {seconds:.1f} s, nDCG@10 {mean['nDCG@10']:.4f}", flush=True)

        base = rows[("densefb", "fp32")]
        st_seconds = rows[("sentence-transformers", "fp32")]["seconds"]
        qids = [q for q in base["per_query"]]

        def cos(a, b):
            return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))

        report += [f"**{name}** ({len(texts)} documents, {len(queries)} queries):", "",
                   "| encoder | precision | corpus seconds | docs/s | speed vs sentence-transformers fp32 | "
                   "min cosine to densefb fp32 | mean cosine | nDCG@10 | vs densefb fp32 | p (paired t) |",
                   "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for (who, precision), r in rows.items():
            c = np.concatenate([cos(r["docs"], base["docs"]), cos(r["queries"], base["queries"])])
            x = [r["per_query"][q]["nDCG@10"] for q in qids]
            y = [base["per_query"][q]["nDCG@10"] for q in qids]
            same = (who, precision) == ("densefb", "fp32")
            delta = "" if same else f"{r['ndcg'] - base['ndcg']:+.4f}"
            p = "" if same or x == y else f"{densefb.stats.paired_ttest(x, y).pvalue:.2f}"
            report.append(
                f"| {who} | {precision} | {r['seconds']:.1f} | {len(texts) / r['seconds']:.1f} | "
                f"{st_seconds / r['seconds']:.2f}x | {c.min():.5f} | {c.mean():.5f} | {r['ndcg']:.4f} | "
                f"{delta} | {p} |")
        report.append("")
    print("\n".join(report))
    if args.out:
        with open(args.out, "w") as f:
            f.write("\n".join(report) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
