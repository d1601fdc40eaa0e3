#!/usr/bin/env bash
# Exports of the whole 1M-message demo database (CSV, JSON), beside the peer
# `sqlite3 -csv` writing the same columns in the same order, with peak memory;
# then PDF transcripts of the latest days holding about 10,000 messages (the
# 10 s target) and about 100,000 (to show a PDF's memory does not grow with it).
# Usage: bench/export.sh [MESSAGES (default 1000000)] [pdf (only the PDF runs)]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-deps.sh
messages=${1:-1000000}
only=${2:-}
cargo build --quiet --release -p chatkeep-cli
bin="$CARGO_TARGET_DIR/release/chatkeep"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export DATABASE_URL="sqlite://$work/chatkeep.db" TIMEZONE=UTC CHAT_EXPORT_MAX_RANGE_DAYS=3660
"$bin" demo seed --conversations $((messages / 10)) --messages "$messages" --months 12 >/dev/null
sqlite3 "$work/chatkeep.db" "PRAGMA wal_checkpoint(TRUNCATE);" >/dev/null
range=(--from 2025-06-01 --to 2026-12-31)
measure() { # label, command...
  local label=$1; shift
  /usr/bin/time -f "%e %M" -o "$work/time" "$@" >"$work/stdout"
  read -r seconds kib <"$work/time"
  echo "$label: ${seconds}s, peak RSS $((kib / 1024)) MiB"
}
if [ "$only" != pdf ]; then
  for run in 1 2 3; do
    measure "run $run chatkeep csv " "$bin" export "${range[@]}" --format csv --out "$work/out.csv" --overwrite
    measure "run $run peer sqlite3 -csv" sqlite3 -csv -header -cmd ".output $work/peer.csv" "$work/chatkeep.db" \
      "SELECT c.external_id, c.title, c.kind, m.external_id, m.created_at, m.created_at, s.external_id, s.display_name,
              m.role, m.kind, m.body, m.tokens_used, r.external_id, CASE m.pinned WHEN 1 THEN 'true' ELSE 'false' END,
              m.expired_at
       FROM messages m JOIN conversations c ON c.id = m.conversation_id
       LEFT JOIN users s ON s.id = m.sender_id LEFT JOIN messages r ON r.id = m.reply_to_id
       WHERE m.expired_at IS NULL AND c.expired_at IS NULL
       ORDER BY m.conversation_id, m.created_at, m.id"
    echo "  sizes: chatkeep $(du -m "$work/out.csv" | cut -f1) MiB, peer $(du -m "$work/peer.csv" | cut -f1) MiB"
  done
  measure "chatkeep json" "$bin" export "${range[@]}" --format json --out "$work/out.json"
  measure "chatkeep jsonl" "$bin" export "${range[@]}" --format jsonl --out "$work/out.jsonl"
  echo "rows: csv $(($(wc -l <"$work/peer.csv") - 1)) (peer lines), json $(du -m "$work/out.json" | cut -f1) MiB"
fi

# The latest UTC days holding at least $1 live messages: "FIRST_DAY LAST_DAY".
latest_days() {
  sqlite3 -separator ' ' "$work/chatkeep.db" "
    WITH days AS (SELECT substr(m.created_at, 1, 10) AS day, count(*) AS n
                  FROM messages m JOIN conversations c ON c.id = m.conversation_id
                  WHERE m.expired_at IS NULL AND c.expired_at IS NULL GROUP BY day),
         running AS (SELECT day, sum(n) OVER (ORDER BY day DESC) AS total FROM days)
    SELECT (SELECT day FROM running WHERE total >= $1 ORDER BY day DESC LIMIT 1), (SELECT max(day) FROM days);"
}
for target in 10000 100000; do
  read -r first last < <(latest_days "$target")
  for run in 1 2 3; do
    measure "run $run chatkeep pdf, $first to $last" "$bin" export --from "$first" --to "$last" --format pdf \
      --out "$work/out.pdf" --overwrite
    echo "  $(cat "$work/stdout"); $(pdfinfo "$work/out.pdf" | grep '^Pages:' | tr -s ' '), $(du -k "$work/out.pdf" | cut -f1) KiB"
  done
done
