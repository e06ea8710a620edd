#!/usr/bin/env bash
# `make keys`: the secrets docker-compose.yml reads from keys/ — `jwt-secret` (the HS256
# signing secret both services share) and `redis-password`. Idempotent: an existing file
# is kept, never overwritten (rotating the JWT secret logs everyone out).
#
# Modes: keys/ is 0700, so nobody else on the host can reach the files; the files are
# 0644 because docker-compose mounts file secrets with the host file's owner and mode, and
# the services run as an unprivileged user inside their containers.
set -euo pipefail
dir=${1:-$(cd "$(dirname "$0")/.." && pwd)/keys}
mkdir -p "$dir"
chmod 700 "$dir"

# 48 random bytes, base64: 64 characters, well above the 32-byte minimum.
secret() {
  local file=$dir/$1
  if [[ -s $file ]]; then
    echo "keys: keeping $file"
    return
  fi
  (umask 077 && head -c 48 /dev/urandom | base64 -w0 >"$file.tmp")
  chmod 644 "$file.tmp"
  mv "$file.tmp" "$file"
  echo "keys: wrote $file"
}

secret jwt-secret
secret redis-password
