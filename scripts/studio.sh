#!/usr/bin/env bash
# Launches the studio on the built-in model, from a fresh machine: system packages, a release
# build, then the window. Extra arguments go to showo-studio.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
exec cargo run --release --locked -- "$@"
