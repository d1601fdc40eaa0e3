#!/usr/bin/env bash
# Retention throughput beside a bare DELETE, with a concurrent writer.
# Usage: bench/retention.sh [--postgres] [MESSAGES (default 1000000)] [BATCH_SIZE (default 1000)]
# With --postgres it runs on the server CHATKEEP_BENCH_PG_URL names (default the local one).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-deps.sh
example=retention_bench
if [ "${1:-}" = "--postgres" ]; then
  example=pg_retention_bench
  shift
fi
cargo run --quiet --release -p chatkeep-core --example "$example" -- "$@"
