#!/usr/bin/env bash
# Builds chatkeep, seeds demo data into the default database (a SQLite file in
# the platform data folder), and shows what is there.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-deps.sh

cargo build --release --quiet -p chatkeep-cli
chatkeep="$CARGO_TARGET_DIR/release/chatkeep"

"$chatkeep" demo seed --conversations 2000 --messages 20000 --months 12
echo
"$chatkeep" stats
echo
# What retention would do to this data (nothing is changed by a preview).
preview=$("$chatkeep" retention preview)
sed -n 1,12p <<<"$preview"
echo
"$chatkeep" backup snapshot
echo
"$chatkeep" audit verify
echo
# The desktop app on the same database, when there is a display to show it on.
if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
  cargo build --release --quiet -p chatkeep-desktop
  echo "Opening the desktop app (it stays in the tray when its window is closed; Quit is in the tray menu)."
  "$CARGO_TARGET_DIR/release/chatkeep-desktop" &
else
  echo "No display here, so the desktop app was not opened; on a desktop, run this script again to see it."
fi
echo
echo "chatkeep is at $chatkeep; try:"
echo "  $chatkeep config show"
echo "  $chatkeep retention preview --all"
echo "  $chatkeep backup list"
echo "  $chatkeep audit list"
echo "  $chatkeep --help"
