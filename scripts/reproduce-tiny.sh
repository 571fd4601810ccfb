#!/usr/bin/env bash
# Retrains the built-in model from scratch with train-tiny's default recipe and seed, then
# compares every file it writes with the shipped one in assets/tiny (all but model_id.txt, which
# names the release). About 1 h 18 min of training on 2 cores, estimated from the paces that
# timed v9 (phase 1 14 min 07 s, phase 2 0.67 s/step, ...) scaled by the measured speed-ups of
# v12's two lanes and session 24's bit-identical candle paths (README "Why v12", "Session 24").
# On session 24's host phase 1 took 12 min 44 s and phase 2 ran at 0.85-1.1 s/step: about
# 2 h 15 min there.
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
