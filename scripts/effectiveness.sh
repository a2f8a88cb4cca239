#!/usr/bin/env bash
# Reproduces the tables of docs/effectiveness.md: `densefb experiment` on a BEIR folder with the
# packaged all-MiniLM-L6-v2, every pipeline tested against plain dense retrieval.
# Usage:
#   scripts/effectiveness.sh [DATASET_DIR [OUT_DIR]]  the PRF, fusion and multi-vector tables of one
#                                                     collection (default: $DENSEFB_DATA/scifact)
#   scripts/effectiveness.sh headline [OUT_DIR]       the headline tables (docs/effectiveness.md):
#       the fixed three-way pipeline and its ablations on SciFact, Cranfield, CISI and CACM, then
#       OUT_DIR/headline.md and the plot OUT_DIR/headline.png (default OUT_DIR build/effectiveness/headline)
# Needs `densefb` on PATH (pip install .) or PYTHONPATH pointing at a staged build.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${DENSEFB_DATA:-../shared/data}
py=${PYTHON:-.venv/bin/python}

if [ "${1:-}" = headline ]; then
  out=${2:-build/effectiveness/headline}
  # Fixed before any run (docs/effectiveness.md, "Selection rule"): Pyserini's min-max
  # `normalize` fusion, equal weights, of the small model's three views.
  norm='interpolate(norm=minmax)'
  headline="fuse($norm,dense,bm25,maxsim)"
  for name in scifact cranfield cisi cacm; do
    mkdir -p "$out/$name"
    "$py" -m densefb.cli experiment \
      --dataset "$data/$name" --model sentence-transformers/all-MiniLM-L6-v2 \
      --bm25-arg lucene_norms=true \
      --token-arg format=bert --token-arg doc_maxlen=180 --token-arg query_maxlen=32 \
      --threads 2 --cache "$out/cache/$name" \
      --pipeline 'dense' --pipeline 'bm25' --pipeline 'maxsim' \
      --pipeline "fuse($norm,dense,bm25)" \
      --pipeline "$headline" \
      --pipeline 'fuse(rrf(k=60),dense,bm25,maxsim)' \
      --pipeline "$headline >> rocchio(alpha=0.4,beta=0.6,topk=5) >> $headline" \
      --pipeline "fuse($norm,dense,bm25 >> rm3 >> bm25,maxsim)" \
      --metrics nDCG@10 R@100 AP \
      --json "$out/$name/table.json" --markdown "$out/$name/table.md" --save-runs "$out/$name/runs"
  done
  "$py" scripts/headline_report.py "$out" --headline "$headline"
  exit 0
fi
dataset=${1:-$data/scifact}
out=${2:-build/effectiveness/$(basename "$dataset")}
mkdir -p "$out"

rocchio_neg='rocchio(alpha=0.4,beta=0.6,gamma=0.6,topk=5,bottomk=5,depth=1000)'
interp='interpolate(weights=[0.5,0.5],norm=minmax)'
"$py" -m densefb.cli experiment \
  --dataset "$dataset" --model sentence-transformers/all-MiniLM-L6-v2 \
  --bm25-arg lucene_norms=true \
  --pipeline 'dense' \
  --pipeline 'dense >> avg(k=1) >> dense' \
  --pipeline 'dense >> avg(k=3) >> dense' \
  --pipeline 'dense >> avg(k=5) >> dense' \
  --pipeline 'dense >> rocchio(alpha=0.9,beta=0.1,topk=3) >> dense' \
  --pipeline 'dense >> rocchio(alpha=0.4,beta=0.6,topk=5) >> dense' \
  --pipeline "dense >> $rocchio_neg >> dense" \
  --pipeline 'bm25' \
  --pipeline 'bm25 >> rm3 >> bm25' \
  --pipeline "fuse($interp,dense,bm25)" \
  --pipeline 'fuse(rrf(k=60),dense,bm25)' \
  --pipeline "fuse($interp,dense,bm25) >> rocchio(alpha=0.4,beta=0.6,topk=5) >> dense" \
  --pipeline "fuse($interp,dense >> rocchio(alpha=0.4,beta=0.6,topk=5) >> dense,bm25)" \
  --pipeline "fuse($interp,dense,bm25) >> rocchio(alpha=0.4,beta=0.6,topk=5) >> fuse($interp,dense,bm25)" \
  --metrics nDCG@10 R@100 AP \
  --json "$out/table.json" --markdown "$out/table.md" --save-runs "$out/runs" "${@:3}"

# Multi-vector late interaction on the same model's token embeddings (a plain BERT used
# ColBERT-style: no projection, documents cut at 180 tokens, queries at 32), with ColBERT-PRF at
# the reference's defaults (fb_docs 3, k 24, fb_embs 10) and the paper's two beta values.
"$py" -m densefb.cli experiment \
  --dataset "$dataset" --model sentence-transformers/all-MiniLM-L6-v2 \
  --token-arg format=bert --token-arg doc_maxlen=180 --token-arg query_maxlen=32 \
  --pipeline 'maxsim' \
  --pipeline 'maxsim(k=0) >> colbert_prf(beta=1) >> rerank_maxsim' \
  --pipeline 'maxsim(k=0) >> colbert_prf(beta=0.5) >> rerank_maxsim' \
  --pipeline 'maxsim >> colbert_prf(beta=1) >> maxsim' \
  --pipeline 'dense >> rerank_maxsim' \
  --metrics nDCG@10 R@100 AP \
  --json "$out/multivector.json" --markdown "$out/multivector.md" \
  --save-runs "$out/runs-multivector" "${@:3}"
