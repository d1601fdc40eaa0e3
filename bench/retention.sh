#!/usr/bin/env bash
# Retention throughput beside a bare DELETE, with a concurrent writer.
# Usage: bench/retention.sh [MESSAGES (default 1000000)] [BATCH_SIZE (default 1000)]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-deps.sh
cargo run --quiet --release -p chatkeep-core --example retention_bench -- "$@"
