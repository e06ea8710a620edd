#!/usr/bin/env bash
# The tested recipes of docs/verify-in-other-languages.md (part of `make test`): the Python
# one (PyJWT) against the auth-service's debug binary in EdDSA mode. The Python side
# (pinned in tests/recipes/requirements.txt) goes into a venv under the target directory.
set -euo pipefail
cd "$(dirname "$0")/.."

target=${CARGO_TARGET_DIR:-$PWD/target}
export CARGO_TARGET_DIR=$target
# The same flags as `make test`, so its build is reused.
cargo build --workspace --all-features --bins

venv=$target/recipes-venv
if [[ ! -x $venv/bin/python ]]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/recipes/requirements.txt

cd tests/recipes
export PYTHONDONTWRITEBYTECODE=1
exec "$venv/bin/python" -m pytest -q -p no:cacheprovider "$@"
