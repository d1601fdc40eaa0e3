#!/usr/bin/env bash
# Installs what chatkeep's build and tests need, only where missing:
# Debian packages via apt, and the Rust toolchain's fmt and clippy components.
set -euo pipefail

packages=(build-essential pkg-config sqlite3 zstd tar age python3 jq poppler-utils qpdf)
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
