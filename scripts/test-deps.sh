#!/usr/bin/env bash
# Makes sure what the test suites need is installed: redis-server (integration tests start
# private instances on loopback), and rustfmt/clippy for the lint steps. As root on Debian
# it installs what is missing; otherwise it says exactly what to install.
set -euo pipefail

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v cc >/dev/null 2>&1 || missing+=(gcc libc6-dev)

if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y --no-install-recommends "${missing[@]}"
  else
    echo "The tests need: ${missing[*]}. Install them, e.g. sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt
cargo clippy --version >/dev/null 2>&1 || rustup component add clippy
