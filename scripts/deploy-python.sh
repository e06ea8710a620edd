#!/usr/bin/env bash
# Runs a deployment script (scripts/swarm.py) with Python and PyYAML — pinned in
# scripts/deploy-requirements.txt — from a venv under the target directory.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${CARGO_TARGET_DIR:-$root/target}/deploy-venv
if ! "$venv/bin/python" -c 'import yaml' >/dev/null 2>&1; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$root/scripts/deploy-requirements.txt"
fi
exec "$venv/bin/python" "$@"
