#!/usr/bin/env bash
# Snapshot + compress + verify, and one monthly archive, on the 1M-message demo
# database, beside the peer pipeline `sqlite3 .backup` + `zstd` in the same run.
# Usage: bench/backup.sh [MESSAGES (default 1000000)] [RUNS (default 3)]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-deps.sh
messages=${1:-1000000}
runs=${2:-3}
cargo build --quiet --release -p chatkeep-cli
bin="$CARGO_TARGET_DIR/release/chatkeep"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export DATABASE_URL="sqlite://$work/chatkeep.db" CHAT_BACKUP_DIRECTORY="$work/backups" TIMEZONE=UTC
"$bin" demo seed --conversations $((messages / 10)) --messages "$messages" --months 12 >/dev/null
sqlite3 "$work/chatkeep.db" "PRAGMA wal_checkpoint(TRUNCATE);" >/dev/null
echo "database: $(du -m "$work/chatkeep.db" | cut -f1) MiB, $messages messages"

seconds() { local start=$1; echo "$(date +%s.%N) - $start" | bc; }
for run in $(seq "$runs"); do
  start=$(date +%s.%N)
  "$bin" backup snapshot >/dev/null
  ours=$(seconds "$start")
  start=$(date +%s.%N)
  sqlite3 "$work/chatkeep.db" ".backup $work/peer.db"
  zstd -q -f "$work/peer.db" -o "$work/peer.db.zst"
  peer=$(seconds "$start")
  rm -f "$work/peer.db" "$work/peer.db.zst"
  echo "run $run: chatkeep snapshot+zstd+verify ${ours}s; peer .backup+zstd ${peer}s; ratio $(echo "scale=2; $ours / $peer" | bc)"
done
month=$(sqlite3 "$work/chatkeep.db" "SELECT substr(created_at, 1, 7) AS m FROM messages GROUP BY m ORDER BY count(*) DESC LIMIT 1")
in_month=$(sqlite3 "$work/chatkeep.db" "SELECT count(*) FROM messages WHERE substr(created_at, 1, 7) = '$month'")
for run in $(seq "$runs"); do
  start=$(date +%s.%N)
  "$bin" backup archive --month "$month" >/dev/null
  echo "run $run: archive of $month ($in_month messages) $(seconds "$start")s"
done
ls -la "$work/backups" | tail -n +2
