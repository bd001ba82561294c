#!/usr/bin/env bash
# Same seed → same checkpoint bytes, across a refactor: runs one matrix of nntrain commands
# (every optimizer, schedule and loss family; early stopping; resume and a restarted schedule;
# --lr auto; transfer with frozen layers; a siamese pair head; a PBT study) with two nntrain
# binaries and compares every checkpoint byte for byte.
#
#   ops/checkpoint-identity.sh BASE_NNTRAIN NEW_NNTRAIN
#
# BASE_NNTRAIN is usually the previous main built in a worktree:
#   git worktree add /tmp/base main && (cd /tmp/base && swift build -c release --product nntrain)
#   ops/checkpoint-identity.sh /tmp/base/.build/release/nntrain .build/release/nntrain
# Both run on this machine: checkpoints are identical per CPU kernel path, not across CPUs.
set -euo pipefail
base=$(realpath "$1") new=$(realpath "$2")
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cat > "$work/cancer.json" <<'JSON'
{
  "inputs": [{"name": "x"}],
  "layers": [
    {"name": "h1", "type": "dense", "inputs": ["x"], "units": 32, "activation": "selu", "initializer": "lecun_normal", "l2": 0.001},
    {"name": "drop", "type": "dropout", "inputs": ["h1"], "rate": 0.2},
    {"name": "h2", "type": "dense", "inputs": ["drop"], "units": 16},
    {"name": "bn", "type": "batch_norm", "inputs": ["h2"]},
    {"name": "act", "type": "activation", "inputs": ["bn"], "activation": "elu"},
    {"name": "out", "type": "dense", "inputs": ["act"], "units": 1, "activation": "sigmoid"}
  ],
  "outputs": [{"name": "malignant", "node": "out", "loss": "binary_crossentropy", "class_weight": "balanced"}]
}
JSON

# name|arguments (run in $work/<binary>/, datasets and examples from the repository)
runs=(
  "adam|fit --model $root/examples/digits.json --data $root/datasets/digits.csv --epochs 3 --seed 7"
  "momentum-cosine|fit --model $root/examples/digits.json --data $root/datasets/digits.csv --epochs 3 --optimizer momentum --schedule cosine --warmup-epochs 1 --clip-norm 1 --batch-size 64 --scale-lr linear --base-batch-size 32 --lr 0.01"
  "nesterov-step-early|fit --model $root/examples/digits.json --data $root/datasets/digits.csv --epochs 6 --optimizer nesterov --schedule step --lr 0.05 --early-stopping-patience 1 --monitor val_accuracy --min-delta 0.01"
  "sgd-exponential|fit --model $root/examples/digits.json --data $root/datasets/digits.csv --epochs 2 --optimizer sgd --schedule exponential --lr 0.1 --validation-fraction 0"
  "adamw-onecycle-huber|fit --model $root/examples/diamonds.json --data $root/datasets/diamonds.csv --target price --epochs 1 --optimizer adamw --schedule one_cycle --lr 0.003 --batch-size 128"
  "bce-selu-bn-dropout|fit --model $work/cancer.json --data $root/datasets/breast_cancer.csv --epochs 4 --early-stopping-patience 2 --monitor loss"
  "lr-auto|fit --model $root/examples/digits.json --data $root/datasets/digits.csv --epochs 2 --lr auto"
  "encoder|fit --model $root/examples/digits-autoencoder.json --data $root/datasets/digits.csv --epochs 2"
)

train() {  # binary directory name args...
  local binary=$1 dir=$2 name=$3; shift 3
  (cd "$dir" && "$binary" "$@" --checkpoint "$name.ckpt" > "$name.log" 2>&1) || {
    echo "FAIL: $name with $binary:"; cat "$dir/$name.log"; exit 1; }
}

for side in base new; do
  binary=${!side}; dir=$work/$side; mkdir -p "$dir"
  for run in "${runs[@]}"; do
    # shellcheck disable=SC2086
    train "$binary" "$dir" "${run%%|*}" ${run#*|}
  done
  cp "$dir/adam.ckpt" "$dir/resumed.ckpt"
  (cd "$dir" && "$binary" resume resumed.ckpt --epochs 2 > resumed.log 2>&1)
  cp "$dir/nesterov-step-early.ckpt" "$dir/after-early-stop.ckpt"
  (cd "$dir" && "$binary" resume after-early-stop.ckpt --epochs 2 > after-early-stop.log 2>&1)
  cp "$dir/adam.ckpt" "$dir/restarted.ckpt"
  (cd "$dir" && "$binary" resume restarted.ckpt --epochs 2 --schedule cosine --lr 3e-4 > restarted.log 2>&1)
  train "$binary" "$dir" transfer fit --model "$root/examples/digits-from-encoder.json" --data "$root/datasets/digits.csv" \
    --epochs 3 --init-from encoder.ckpt --unfreeze-after 1
  (cd "$dir" && "$binary" pairs --data "$root/datasets/digits.csv" --label label --pairs 2000 --positive-fraction 0.5 --out pairs.csv > pairs.log 2>&1)
  train "$binary" "$dir" siamese fit --model "$root/examples/digits-siamese.json" --data pairs.csv --target similar --epochs 2
  (cd "$dir" && "$binary" tune --space "$root/examples/digits-space.json" --model "$root/examples/digits.json" \
    --data "$root/datasets/digits.csv" --population 4 --generations 2 --epochs-per-generation 1 --workers 2 \
    --study study.db --out tune-best.ckpt --report tune > tune.log 2>&1) || { cat "$dir/tune.log"; exit 1; }
done

status=0
for file in "$work"/base/*.ckpt; do
  name=$(basename "$file")
  if cmp -s "$file" "$work/new/$name"; then
    echo "identical  $name  $(sha256sum < "$file" | cut -c1-16)"
  else
    echo "DIFFERENT  $name"; status=1
  fi
done
exit $status
