#!/usr/bin/env bash
# chatkeep on PostgreSQL with the 1M-message demo data, each figure beside its
# peer in the same run:
#   - snapshot (pg_dump -Fc inside chatkeep's container, verified) vs a bare `pg_dump -Fc`;
#   - CSV export of everything vs `psql \copy (SELECT ...) TO ... CSV` of the same columns;
# The purge benchmark with a concurrent writer is bench/retention.sh with a postgres URL.
# Usage: bench/postgres.sh [MESSAGES (default 1000000)] [RUNS (default 3)]
# The server is CHATKEEP_BENCH_PG_URL (default postgres://postgres@127.0.0.1:5432/postgres);
# the benchmark creates and drops its own database on it.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-deps.sh
messages=${1:-1000000}
runs=${2:-3}
admin=${CHATKEEP_BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}
database=chatkeep_bench
db_url="${admin%/*}/$database"
cargo build --quiet --release -p chatkeep-cli
bin="$CARGO_TARGET_DIR/release/chatkeep"
work=$(mktemp -d)
trap 'rm -rf "$work"; psql "$admin" -qc "DROP DATABASE IF EXISTS $database WITH (FORCE)" >/dev/null 2>&1 || true' EXIT
psql "$admin" -qc "DROP DATABASE IF EXISTS $database WITH (FORCE)" >/dev/null
export DATABASE_URL="$db_url" CHAT_BACKUP_DIRECTORY="$work/backups" TIMEZONE=UTC CHAT_EXPORT_MAX_RANGE_DAYS=3660
start=$(date +%s.%N)
"$bin" demo seed --conversations $((messages / 10)) --messages "$messages" --months 12 --until 2026-11-30 >/dev/null
echo "seeded $messages messages in $(echo "$(date +%s.%N) - $start" | bc)s"
psql "$db_url" -qc "VACUUM ANALYZE" >/dev/null
echo "database: $(psql "$db_url" -Atc "SELECT pg_size_pretty(pg_database_size(current_database()))"), $messages messages"

measure() { # label, command...
  local label=$1; shift
  /usr/bin/time -f "%e %M" -o "$work/time" "$@" >"$work/stdout"
  read -r seconds kib <"$work/time"
  echo "$label: ${seconds}s, peak RSS $((kib / 1024)) MiB"
  last=$seconds
}
ratio() { echo "scale=2; $1 / $2" | bc; }

for run in $(seq "$runs"); do
  measure "run $run chatkeep backup snapshot (pg_dump -Fc, zstd, verify)" "$bin" backup snapshot
  ours=$last
  measure "run $run peer pg_dump -Fc" pg_dump -Fc -f "$work/peer.dump" "$db_url"
  echo "  ratio $(ratio "$ours" "$last"); sizes: chatkeep $(du -m "$work/backups"/chatkeep-snapshot-* | tail -1 | cut -f1) MiB, peer $(du -m "$work/peer.dump" | cut -f1) MiB"
  rm -f "$work/peer.dump"
done

range=(--from 2025-06-01 --to 2026-12-31)
peer_sql="SELECT c.external_id, c.title, c.kind, m.external_id, ck_ts(m.created_at), ck_ts(m.created_at),
                 s.external_id, s.display_name, m.role, m.kind, m.body, m.tokens_used, r.external_id,
                 m.pinned, ck_ts(m.expired_at)
          FROM messages m JOIN conversations c ON c.id = m.conversation_id
          LEFT JOIN users s ON s.id = m.sender_id LEFT JOIN messages r ON r.id = m.reply_to_id
          WHERE m.expired_at IS NULL AND c.expired_at IS NULL
          ORDER BY m.conversation_id, m.created_at, m.id"
for run in $(seq "$runs"); do
  measure "run $run chatkeep export csv" "$bin" export "${range[@]}" --format csv --out "$work/out.csv" --overwrite
  ours=$last
  measure "run $run peer psql \\copy csv" psql "$db_url" -qc "\\copy ($(echo "$peer_sql" | tr '\n' ' ')) TO '$work/peer.csv' CSV HEADER"
  echo "  throughput ratio (peer time / chatkeep time) $(ratio "$last" "$ours"); rows: $(($(wc -l <"$work/peer.csv") - 1)); sizes: chatkeep $(du -m "$work/out.csv" | cut -f1) MiB, peer $(du -m "$work/peer.csv" | cut -f1) MiB"
  rm -f "$work/out.csv" "$work/peer.csv"
done
