#!/usr/bin/env bash
# Rebuilds models/diamonds/1 from datasets/diamonds.csv (run by `make models` from the project root).
# Price regression: softplus output (prices are positive), huber loss on prices scaled by
# their standard deviation, the raw features routed to the output layer (wide & deep).
set -euo pipefail
bin=${BIN:-.build/release}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin/nntrain" fit --model models/diamonds/recipe/model.json --data datasets/diamonds.csv --target price \
  --epochs 12 --batch-size 64 --lr 0.003 --schedule cosine --seed 42 --name diamonds --checkpoint "$work/diamonds.ckpt" --json
rm -rf models/diamonds/1
"$bin/nnexport" "$work/diamonds.ckpt" --repository models --version 1
