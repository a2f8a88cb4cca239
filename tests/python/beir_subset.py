"""A small real BEIR folder cut from SciFact, for tests that encode text (fast on a CPU)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Tuple


def write_subset(dataset, folder: Path, num_queries: int = 30, extra_docs: int = 100) -> Tuple[list, list]:
    """Writes ``folder`` (corpus.jsonl, queries.jsonl, qrels/test.tsv): the first
    ``num_queries`` judged test queries, every document judged for them, and the first
    ``extra_docs`` other documents, in corpus order. Returns (corpus positions kept, query ids)."""
    qrels = dataset.qrels.to_dict()
    qids = [q for q in dataset.queries.ids if q in qrels][:num_queries]
    judged = {d for q in qids for d in qrels[q]}
    corpus = dataset.corpus
    keep = [i for i, doc_id in enumerate(corpus.ids) if doc_id in judged or i < extra_docs]
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "corpus.jsonl", "w", encoding="utf-8") as f:
        for i in keep:
            f.write(json.dumps(dict(corpus[i])) + "\n")
    texts = dict(zip(dataset.queries.ids, dataset.queries.texts))
    with open(folder / "queries.jsonl", "w", encoding="utf-8") as f:
        for q in qids:
            f.write(json.dumps({"_id": q, "text": texts[q]}) + "\n")
    (folder / "qrels").mkdir(exist_ok=True)
    with open(folder / "qrels" / "test.tsv", "w", encoding="utf-8") as f:
        f.write("query-id\tcorpus-id\tscore\n")
        for q in qids:
            for d, grade in qrels[q].items():
                f.write(f"{q}\t{d}\t{grade}\n")
    return keep, qids
