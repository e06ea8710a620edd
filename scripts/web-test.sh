#!/usr/bin/env bash
# `make test-web` (and the last step of `make test`): the web client in real headless
# Chromium against the services' debug binaries behind the dev front door (nginx).
# Needs chromium, chromium-driver and nginx (scripts/test-deps.sh installs them); the
# Python side (pytest, selenium, pinned in tests/web/requirements.txt) goes into a venv
# under the target directory. Screenshots and logs: <target>/web-artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."

target=${CARGO_TARGET_DIR:-$PWD/target}
export CARGO_TARGET_DIR=$target
# The same flags as `make test`, so its build is reused.
cargo build --workspace --all-features --bins

venv=$target/web-venv
if [[ ! -x $venv/bin/python ]]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/web/requirements.txt

rm -rf "$target/web-artifacts"
cd tests/web
export PYTHONDONTWRITEBYTECODE=1
exec "$venv/bin/python" -m pytest -q -p no:cacheprovider "$@"
