#!/usr/bin/env bash
# Reproduces docs/effectiveness.md's selective PRF table: dense, the two vector PRF settings
# that hurt on SciFact, and the same wrapped in selective PRF with its default predictor and
# threshold (chosen on CISI and CACM by scripts/selective_threshold.py), on SciFact and
# Cranfield, each tested against dense (paired t-test, Holm-corrected).
# Usage: scripts/selective_effectiveness.sh [OUT_DIR]   (default build/effectiveness/selective)
set -euo pipefail
cd "$(dirname "$0")/.."
data=${DENSEFB_DATA:-../shared/data}
out=${1:-build/effectiveness/selective}
py=${PYTHON:-.venv/bin/python}
mkdir -p "$out"
for name in scifact cranfield; do
  "$py" -m densefb.cli experiment --dataset "$data/$name" --model sentence-transformers/all-MiniLM-L6-v2 \
    --pipeline 'dense' \
    --pipeline 'dense >> avg(k=3) >> dense' \
    --pipeline "dense >> selective(model='avg(k=3)') >> dense" \
    --pipeline 'dense >> rocchio(alpha=0.4,beta=0.6,topk=5) >> dense' \
    --pipeline "dense >> selective(model='rocchio(alpha=0.4,beta=0.6,topk=5)') >> dense" \
    --metrics nDCG@10 R@100 AP --tests t-test wilcoxon --quiet \
    --markdown "$out/$name.md" --json "$out/$name.json"
done
