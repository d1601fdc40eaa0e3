#!/usr/bin/env bash
# Installs what chatkeep's build and tests need, only where missing:
# Debian packages via apt (the desktop app's WebKitGTK stack and its headless
# test tools included), the Rust toolchain's fmt and clippy components, the
# dashboard's npm packages, and tauri-driver for the end-to-end tests.
set -euo pipefail

packages=(build-essential pkg-config sqlite3 zstd tar age python3 jq poppler-utils qpdf
  curl file libssl-dev libwebkit2gtk-4.1-dev libgtk-3-dev libayatana-appindicator3-dev librsvg2-dev
  libsoup-3.0-dev libxdo-dev xvfb xauth dbus-x11 webkit2gtk-driver imagemagick dunst postgresql postgresql-client)
missing=()
for package in "${packages[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if ((${#missing[@]})); then
  echo "chatkeep: installing ${missing[*]}" >&2
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "chatkeep: Rust is not installed; install it with rustup (https://rustup.rs) and run this again" >&2
  exit 1
fi
if command -v rustup >/dev/null 2>&1; then
  for component in rustfmt clippy; do
    rustup component list --installed 2>/dev/null | grep -q "^$component" || rustup component add "$component"
  done
elif ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
  echo "chatkeep: cargo fmt and cargo clippy are needed (rustup component add rustfmt clippy)" >&2
  exit 1
fi

# Build output lives outside the clone, so fresh clones on one machine build incrementally.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/chatkeep/target}"

# The dashboard: the desktop app embeds ui/dist when it is compiled.
if ! command -v npm >/dev/null 2>&1; then
  echo "chatkeep: npm is needed to build the dashboard (install Node.js 20 or newer)" >&2
  exit 1
fi
(
  cd ui
  if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    # The lock pins every version; `npm install` (not `ci`) because npm leaves the lock
    # without entries for other platforms' optional packages, which `ci` then refuses.
    npm install --no-audit --no-fund --loglevel=error
  fi
  npm run --silent build >/dev/null
)

# tauri-driver drives the real window in the end-to-end tests; kept outside the clone.
export CHATKEEP_TOOLS="${CHATKEEP_TOOLS:-$HOME/.cache/chatkeep/tools}"
if [ ! -x "$CHATKEEP_TOOLS/bin/tauri-driver" ]; then
  echo "chatkeep: installing tauri-driver into $CHATKEEP_TOOLS" >&2
  cargo install tauri-driver --version '^2' --locked --quiet --root "$CHATKEEP_TOOLS"
fi
