#!/usr/bin/env bash
# The whole test suite, from a fresh machine: system packages, build, every test.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
# wgpu renders the GUI snapshot tests on the CPU Vulkan adapter.
export WGPU_BACKEND="${WGPU_BACKEND:-vulkan}"
# Mesa's software Vulkan asks for a runtime dir (and prints an error per device without one);
# headless CI sessions have none, so give the run a private one.
if [[ -z "${XDG_RUNTIME_DIR:-}" || ! -d "${XDG_RUNTIME_DIR}" ]]; then
  XDG_RUNTIME_DIR="$(mktemp -d)"
  chmod 700 "$XDG_RUNTIME_DIR"
  export XDG_RUNTIME_DIR
fi
cargo test --locked --all-targets "$@"
