#!/usr/bin/env bash
# Rebuilds models/titanic/1 from datasets/titanic.csv (run by `make models` from the project root).
# A raw table: string categories (sex, passengerClass), 263 missing ages (filled with the
# training mean plus a "was missing" feature), text labels "no"/"yes". Served, it takes the
# same raw rows (strings and gaps) and reports each column's drift from its training data.
set -euo pipefail
bin=${BIN:-.build/release}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin/nntrain" fit --model models/titanic/recipe/model.json --data datasets/titanic.csv \
  --epochs 30 --batch-size 32 --lr 0.01 --seed 42 --name titanic --checkpoint "$work/titanic.ckpt" --json
rm -rf models/titanic/1
"$bin/nnexport" "$work/titanic.ckpt" --repository models --version 1
