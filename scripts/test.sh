#!/usr/bin/env bash
# Runs every check CI runs: formatting, lints, then the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-deps.sh
source scripts/postgres-for-tests.sh

cargo fmt --all --check
# The desktop's end-to-end test needs its test-only hook (a stand-in for the save dialog).
features=(--features chatkeep-desktop/test-hooks)
cargo clippy --workspace --all-targets "${features[@]}" --quiet -- -D warnings
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace "${features[@]}" --no-fail-fast
else
  cargo test --workspace "${features[@]}" --no-fail-fast
fi
