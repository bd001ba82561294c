#!/usr/bin/env bash
# Rebuilds models/digits/1 from datasets/digits.csv (run by `make models` from the project root).
# 8x8 handwritten digits → 10 classes; batch norm and dropout in training, folded and removed at export.
set -euo pipefail
bin=${BIN:-.build/release}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin/nntrain" fit --model models/digits/recipe/model.json --data datasets/digits.csv \
  --epochs 30 --batch-size 32 --lr 0.003 --schedule cosine --seed 42 --name digits --checkpoint "$work/digits.ckpt" --json
rm -rf models/digits/1
"$bin/nnexport" "$work/digits.ckpt" --repository models --version 1
