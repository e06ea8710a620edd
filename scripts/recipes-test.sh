#!/usr/bin/env bash
# The tested recipes of docs/verify-in-other-languages.md (part of `make test`): the Python
# one (PyJWT) against the auth-service's debug binary in EdDSA mode. The Python side
# (pinned in tests/recipes/requirements.txt) goes into a venv under the target directory.
set -euo pipefail
cd "$(dirname "$0")/.."

exec scripts/pytest-suite.sh recipes "$@"
