#!/usr/bin/env python3
"""The headline tables and plot of docs/effectiveness.md, from the `densefb experiment` outputs
that `scripts/effectiveness.sh headline OUT` writes (OUT/<collection>/table.json, its runs, and
the index cache OUT/cache/<collection>).

For each collection: nDCG@10, R@100 and AP of every pipeline (significance against dense as in
the experiment's own table), ms/query (the pipeline's wall time over the queries it ran, query
encoding included) and the bytes of the indexes it reads; the published bge-small-en-v1.5 and
bge-base-en-v1.5 figures as reference lines where they exist. Writes OUT/headline.md and the plot
OUT/headline.png (nDCG@10 against ms/query).

    .venv/bin/python scripts/headline_report.py build/effectiveness/headline \\
        --headline 'fuse(interpolate(norm=minmax),dense,bm25,maxsim)'
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Dict, List, Optional

COLLECTIONS = [("scifact", "SciFact (BEIR test, 300 queries, 5,183 documents)"),
               ("cranfield", "Cranfield (225 queries, 1,400 documents)"),
               ("cisi", "CISI (76 judged queries, 1,460 documents)"),
               ("cacm", "CACM (52 judged queries, 3,204 documents)")]

# Published nDCG@10 (docs: ../shared/reference/anchors.md 4(c) and 7.2). Only SciFact among
# these collections has them.
REFERENCES = {"scifact": [("bge-small-en-v1.5 (33M, published: MTEB)", 0.7127),
                          ("bge-base-en-v1.5 (110M, published: Pyserini 2CR)", 0.7408)]}

# Which index folders of the experiment cache a pipeline's resources read.
CACHE_OF = {"dense_index": "dense", "bm25": "bm25", "multivector": "multivector"}


def label(spec: str, headline: str) -> str:
    """A short name for the plot and the first column."""
    if spec == headline:
        return "headline: dense + BM25 + MaxSim (min-max)"
    known = {"dense": "dense (all-MiniLM-L6-v2)", "bm25": "BM25", "maxsim": "MaxSim (token embeddings)",
             "fuse(interpolate(norm=minmax),dense,bm25)": "dense + BM25 (min-max)",
             "fuse(rrf(k=60),dense,bm25,maxsim)": "dense + BM25 + MaxSim (RRF)"}
    import densefb

    known = {densefb.Pipeline(k).spec: v for k, v in known.items()}
    if spec in known:
        return known[spec]
    if spec.startswith(headline) and "rocchio" in spec:
        return "headline >> Rocchio >> headline"
    if "rm3" in spec:
        return "dense + BM25>>RM3>>BM25 + MaxSim (min-max)"
    return spec


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def index_bytes(spec: str, cache: Path) -> int:
    import densefb

    needs = densefb.Pipeline(spec).requires
    return sum(folder_bytes(cache / folder) for name, folder in CACHE_OF.items() if name in needs)


def queries_run(run_file: Optional[str]) -> int:
    if not run_file or not Path(run_file).exists():
        raise SystemExit(f"headline_report: run file {run_file!r} is missing; run the experiment "
                         "with --save-runs")
    with open(run_file, encoding="utf-8") as f:
        return len({line.split(None, 1)[0] for line in f if line.strip()})


def marks(tests: List[Dict], system: str, metric: str) -> str:
    out = ""
    for test, mark in (("t-test", "\\*"), ("wilcoxon", "†")):
        if any(t["system"] == system and t["metric"] == metric and t["test"] == test
               and t["significant"] for t in tests):
            out += mark
    return out


def collection_rows(out: Path, name: str, headline: str) -> List[Dict]:
    table = json.loads((out / name / "table.json").read_text(encoding="utf-8"))
    rows = []
    for s in table["systems"]:
        n = queries_run(s["run_file"])
        rows.append({"label": label(s["pipeline"], headline), "spec": s["pipeline"],
                     "name": s["name"], "mean": s["mean"], "ms": 1000.0 * s["seconds"] / n,
                     "bytes": index_bytes(s["pipeline"], out / "cache" / name),
                     "marks": {m: marks(table["tests"], s["name"], m) for m in table["metrics"]},
                     "headline": s["pipeline"] == headline})
    return rows


def markdown(out: Path, headline: str) -> str:
    lines = []
    for name, title in COLLECTIONS:
        if not (out / name / "table.json").exists():
            continue
        rows = collection_rows(out, name, headline)
        dense = rows[0]["mean"]["nDCG@10"]
        lines += [f"### {title}", "",
                  "| pipeline | nDCG@10 | R@100 | AP | ms/query | index MB |",
                  "| --- | ---: | ---: | ---: | ---: | ---: |"]
        for r in rows:
            cells = [f"{r['mean'][m]:.4f}{r['marks'][m]}" for m in ("nDCG@10", "R@100", "AP")]
            first = f"**{r['label']}**" if r["headline"] else r["label"]
            lines.append(f"| {first} | " + " | ".join(cells)
                         + f" | {r['ms']:.1f} | {r['bytes'] / 1e6:.1f} |")
        for ref, value in REFERENCES.get(name, []):
            lines.append(f"| {ref} | {value:.4f} | – | – | – | – |")
        head = next(r for r in rows if r["headline"])["mean"]["nDCG@10"]
        lines += ["", f"Headline against small-model dense: {head - dense:+.4f} nDCG@10."]
        for ref, value in REFERENCES.get(name, []):
            lines.append(f"Headline against {ref.split(' (')[0]}: {head - value:+.4f}.")
        if name not in REFERENCES:
            lines.append("No published bge-small or bge-base figure exists for this collection.")
        lines += ["", "\\* paired t-test / † Wilcoxon signed-rank test: p < 0.05 against dense "
                  "(Holm-Bonferroni corrected across pipelines, two-sided).", ""]
    return "\n".join(lines)


def plot(out: Path, headline: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    present = [(n, t) for n, t in COLLECTIONS if (out / n / "table.json").exists()]
    cols = 2 if len(present) > 1 else 1
    nrows = (len(present) + cols - 1) // cols
    fig, axes = plt.subplots(nrows, cols, figsize=(6.2 * cols, 4.2 * nrows + 1.4), squeeze=False)
    axes = axes.ravel()
    for ax in axes[len(present):]:
        ax.set_visible(False)
    markers = "osD^vP*X<>"
    for ax, (name, title) in zip(axes, present):
        rows = collection_rows(out, name, headline)
        for i, r in enumerate(rows):
            ax.scatter(r["ms"], r["mean"]["nDCG@10"], marker=markers[i % len(markers)],
                       s=90 if r["headline"] else 45, zorder=3,
                       edgecolors="black" if r["headline"] else "none", label=r["label"])
        for j, (ref, value) in enumerate(REFERENCES.get(name, [])):
            ax.axhline(value, linestyle="--", color=("tab:gray", "black")[j % 2], linewidth=1,
                       label=ref.replace("published", "published, cost not measured"))
        ax.set_xscale("log")
        ax.set_xlabel("ms/query (2 threads, query encoding included)")
        ax.set_ylabel("nDCG@10")
        ax.set_title(title.split(" (")[0])
        ax.grid(True, which="both", alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=2, fontsize=8, frameon=False)
    fig.suptitle("all-MiniLM-L6-v2 pipelines: effectiveness against cost")
    fig.tight_layout(rect=(0, 1.4 / (4.2 * nrows + 1.4), 1, 0.96))
    fig.savefig(path, dpi=110)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="the OUT folder of scripts/effectiveness.sh headline")
    parser.add_argument("--headline", required=True, help="the headline pipeline's spec")
    parser.add_argument("--plot", type=Path, help="where to write the plot (default OUT/headline.png)")
    args = parser.parse_args(argv)
    import densefb

    headline = densefb.Pipeline(args.headline).spec  # canonical, as the experiment records it
    text = markdown(args.out, headline)
    if not text:
        print(f"headline_report: no OUT/<collection>/table.json under {args.out}", file=sys.stderr)
        return 2
    (args.out / "headline.md").write_text(text, encoding="utf-8")
    plot(args.out, headline, args.plot or args.out / "headline.png")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
