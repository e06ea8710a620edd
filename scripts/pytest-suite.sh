#!/usr/bin/env bash
# Runs the pytest suite in tests/<suite>/ against the workspace's debug binaries: builds them
# (the same flags as `make test`, so its build is reused), installs the suite's pinned
# tests/<suite>/requirements.txt into a venv under the target directory, and runs pytest
# there with the remaining arguments. Used by web-test.sh and recipes-test.sh.
set -euo pipefail
suite=$1
shift
cd "$(dirname "$0")/.."

target=${CARGO_TARGET_DIR:-$PWD/target}
export CARGO_TARGET_DIR=$target
cargo build --workspace --all-features --bins

venv=$target/$suite-venv
if [[ ! -x $venv/bin/python ]]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "tests/$suite/requirements.txt"

cd "tests/$suite"
export PYTHONDONTWRITEBYTECODE=1
exec "$venv/bin/python" -m pytest -q -p no:cacheprovider "$@"
