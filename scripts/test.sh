#!/usr/bin/env bash
# The whole test suite, from a fresh machine: system packages, build, every test.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
# wgpu renders the GUI snapshot tests on the CPU Vulkan adapter.
export WGPU_BACKEND="${WGPU_BACKEND:-vulkan}"
cargo test --locked --all-targets "$@"
