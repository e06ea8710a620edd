#!/usr/bin/env bash
# The API contract, executed (part of `make test`): schemathesis against both services'
# /openapi.json, real binaries and a private redis-server (tests/contract/). Each service's
# run is bounded by CONTRACT_SECONDS (default 90); schemathesis (pinned in
# tests/contract/requirements.txt) goes into a venv under the target directory.
set -euo pipefail
cd "$(dirname "$0")/.."

exec scripts/pytest-suite.sh contract -s "$@"
