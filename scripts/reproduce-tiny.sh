#!/usr/bin/env bash
# Retrains the built-in model from scratch with train-tiny's default recipe and seed, then
# compares every file it writes with the shipped one in assets/tiny (all but model_id.txt, which
# names the release). For v12 about 1 h 46 min of training on 2 cores, estimated from the paces
# that timed v9 (phase 1 14 min 07 s, phase 2 0.67 s/step, phase 3 24 min, phase 4 5.5 min,
# v11's phase 6 about 16 min) scaled by the two-lane pace measured against the one-graph code
# (phase 3 x0.45, phase 4 x0.50, phase 6's steps x0.61; README "Why v12"). Phases 3, 4 and 6 of
# v12 took 51 min 34 s on a host about 1.9x slower than v9's; a whole run there takes about 3 h.
# Exit status 0 only when all are identical.
#
#   scripts/reproduce-tiny.sh [OUT_DIR]     (default: a new temporary folder; an existing run's
#                                            folder resumes from its checkpoints)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-$(mktemp -d)/tiny}"
cargo build --release --locked
echo "training into $out"
SECONDS=0
./target/release/showo-studio train-tiny --out "$out"
echo "train-tiny took $((SECONDS / 60)) min $((SECONDS % 60)) s"

status=0
for shipped in assets/tiny/*; do
  name="$(basename "$shipped")"
  [[ "$name" == model_id.txt ]] && continue
  if [[ ! -f "$out/$name" ]]; then
    echo "MISSING    $name (train-tiny did not write it)"
    status=1
  elif cmp -s "$shipped" "$out/$name"; then
    echo "identical  $name"
  else
    echo "DIFFERENT  $name"
    status=1
  fi
done
exit $status
