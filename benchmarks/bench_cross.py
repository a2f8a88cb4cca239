#!/usr/bin/env python3
"""Cross-encoder scoring speed: densefb's CrossEncoder in fp32 and int8 against
sentence-transformers' CrossEncoder in fp32 and in int8 (torch's quantize_dynamic, what its users
run), in one process, same pairs, same batch size, same torch intra-op threads.

    .venv/bin/python benchmarks/bench_cross.py --threads 2 --out build/bench_cross.md

No cross-encoder weights are reachable offline, so the model is built here in the shape of
cross-encoder/ms-marco-MiniLM-L-6-v2 (BertForSequenceClassification, 6 layers, hidden 384, one
label): all-MiniLM-L6-v2's transformer weights with a pooler and classifier drawn from a fixed
seed. Speed depends on the shape and the sequence lengths, not on the weights' values; the
scores themselves carry no relevance, so quality is reported as agreement with fp32: each
query's ranking of its passages (Kendall's tau) and the largest score difference relative to
the scores' spread. The pairs are SciFact test queries, each with passages drawn from the
corpus by a fixed seed; max_length 512 (the tokenizer's, as both libraries default to).
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import cpu_model, version  # noqa: E402


def build_model(minilm_dir: str, out_dir: str) -> None:
    import torch
    import transformers

    torch.manual_seed(0)
    base = transformers.AutoModel.from_pretrained(minilm_dir)
    config = transformers.BertConfig.from_pretrained(minilm_dir, num_labels=1)
    model = transformers.BertForSequenceClassification(config).eval()
    missing = model.bert.load_state_dict(base.state_dict(), strict=False).missing_keys
    assert all(k.startswith("pooler.") for k in missing), missing
    model.save_pretrained(out_dir)
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if os.path.exists(os.path.join(minilm_dir, name)):
            shutil.copy(os.path.join(minilm_dir, name), out_dir)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=os.environ.get("DENSEFB_DATA", "../shared/data"))
    ap.add_argument("--queries", type=int, default=40)
    ap.add_argument("--per-query", type=int, default=25, help="passages scored per query")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--out", help="also write the Markdown report here")
    args = ap.parse_args()

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from scipy.stats import kendalltau
    from sentence_transformers import CrossEncoder as StCrossEncoder

    import densefb
    from densefb import _torch

    torch.set_num_threads(args.threads)
    ds = densefb.load_beir(os.path.join(args.data, "scifact"))
    rng = np.random.default_rng(0)
    docs = ds.corpus.texts()
    queries, passages = [], []
    for q in ds.queries.texts[:args.queries]:
        for j in rng.choice(len(docs), args.per_query, replace=False):
            queries.append(q)
            passages.append(docs[j])
    pairs = list(zip(queries, passages))
    n = len(pairs)

    results = {}
    with tempfile.TemporaryDirectory() as model_dir:
        build_model(str(densefb.resolve_model("sentence-transformers/all-MiniLM-L6-v2")), model_dir)

        def run(name, score):
            start = time.perf_counter()
            scores = np.asarray(score(), dtype=np.float32).reshape(-1)
            seconds = time.perf_counter() - start
            results[name] = (seconds, scores)
            print(f"{name}: {seconds:.1f} s, {n / seconds:.1f} pairs/s", file=sys.stderr, flush=True)

        for precision in ("fp32", "int8"):
            ce = densefb.CrossEncoder.from_pretrained(model_dir, precision=precision)
            assert ce.precision == precision
            run(f"densefb {precision}", lambda: ce.predict((queries, passages), batch_size=args.batch_size,
                                                           show_progress=False))
        for precision in ("fp32", "int8"):
            st = StCrossEncoder(model_dir, device="cpu", max_length=512)
            if precision == "int8":
                warnings.filterwarnings("ignore", message=".*quantiz", category=DeprecationWarning)
                torch.ao.quantization.quantize_dynamic(st.model, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)
            run(f"sentence-transformers {precision}",
                lambda: st.predict(pairs, batch_size=args.batch_size, show_progress_bar=False,
                                   activation_fn=torch.nn.Identity()))

    base_seconds, base = results["sentence-transformers fp32"][0], results["densefb fp32"][1]
    spread = float(base.std())
    report = [f"CPU {cpu_model()}, bf16 instructions: {'yes' if _torch.cpu_has_bf16() else 'no'}, int8 weight "
              f"bits {_torch.int8_weight_bits()}; {args.threads} torch threads; {n} SciFact pairs ({args.queries} "
              f"queries x {args.per_query} passages), batch {args.batch_size}, max_length 512; "
              f"torch {version('torch')}, sentence-transformers {version('sentence-transformers')}", "",
              "| scorer | precision | seconds | pairs/s | speed vs sentence-transformers fp32 | "
              "max abs diff to densefb fp32 / score std | mean Kendall tau per query to densefb fp32 |",
              "|---|---|---:|---:|---:|---:|---:|"]
    for name, (seconds, scores) in results.items():
        who, precision = name.rsplit(" ", 1)
        taus = [kendalltau(scores[i:i + args.per_query], base[i:i + args.per_query]).statistic
                for i in range(0, n, args.per_query)]
        report.append(f"| {who} | {precision} | {seconds:.1f} | {n / seconds:.1f} | {base_seconds / seconds:.2f}x | "
                      f"{float(np.abs(scores - base).max()) / spread:.4f} | {float(np.mean(taus)):.4f} |")
    text = "\n".join(report) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
