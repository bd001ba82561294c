#!/usr/bin/env bash
# Runs the studies, then assembles docs/STUDIES.md (`make studies`).
#   STUDIES="s4 s6"   the ones to run (a name's number, or its whole name); default: every
#                     studies/s<N>_*.py, in number order, so new studies join by existing
#   NNTRAIN=path      the nntrain binary; default .build/release/nntrain
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${STUDIES:-}" ]; then
  STUDIES=$(ls studies | sed -n 's/^\(s[0-9][0-9]*\)_.*\.py$/\1/p' | sort -V)
fi

for study in $STUDIES; do
  if [ -e "studies/$study.py" ]; then
    scripts=("studies/$study.py")
  else
    scripts=(studies/"$study"_*.py)  # s1 matches s1_pretraining.py, never s10_….py
  fi
  if [ ! -e "${scripts[0]}" ]; then
    echo "run_all: no studies/${study}_*.py; skipped" >&2
    continue
  fi
  for script in "${scripts[@]}"; do
    started=$SECONDS
    python3 "$script"
    echo "run_all: $script took $((SECONDS - started)) s"
  done
done
python3 studies/build_doc.py
