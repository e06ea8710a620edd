#!/usr/bin/env bash
# `make test-web` (and the last step of `make test`): the web client in real headless
# Chromium against the services' debug binaries behind the dev front door (nginx).
# Needs chromium, chromium-driver and nginx (scripts/test-deps.sh installs them); the
# Python side (pytest, selenium, pinned in tests/web/requirements.txt) goes into a venv
# under the target directory. Screenshots and logs: <target>/web-artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."

rm -rf "${CARGO_TARGET_DIR:-$PWD/target}/web-artifacts"
exec scripts/pytest-suite.sh web "$@"
