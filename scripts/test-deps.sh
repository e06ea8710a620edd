#!/usr/bin/env bash
# Makes sure what the test suites need is installed: redis-server (integration tests start
# private instances on loopback), openssl (a test reads the generated keys with it),
# chromium + chromium-driver and nginx (the browser tests of web/ and the front door they
# go through), python3's venv, promtool (Debian's prometheus: the alert rules' unit tests),
# and rustfmt/clippy for the lint steps. As root on Debian it
# installs what is missing; otherwise it says exactly what to install.
set -euo pipefail

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v cc >/dev/null 2>&1 || missing+=(gcc libc6-dev)
command -v c++ >/dev/null 2>&1 || missing+=(g++) # libFuzzer, for `make fuzz-smoke`
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
[[ -x /usr/bin/chromium ]] || missing+=(chromium)
[[ -x /usr/bin/chromedriver ]] || missing+=(chromium-driver)
command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]] || missing+=(nginx-light)
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus) # promtool: the alert rules' tests

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
