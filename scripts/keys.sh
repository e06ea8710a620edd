#!/usr/bin/env bash
# `make keys`: the secrets docker-compose.yml reads from keys/ — `jwt-secret` (the HS256
# signing secret both services share), `redis-password`, and the front door's HTTPS
# certificate with the local CA that signed it (`tls/`, by scripts/tls-cert.sh; TLS_HOSTS
# adds host names) — plus `refresh-secret` and the asymmetric key set `signing/`
# (AUTH__JWT__KEYS_DIR for the eddsa/es256 modes; made by `auth-service keys generate`,
# private keys 0600; KEYS_ALG=es256 for P-256). Idempotent:
# an existing file or set is kept, never overwritten (rotating the JWT secret logs everyone
# out; the key set rotates with `auth-service keys rotate`).
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
secret refresh-secret
"$(dirname "$0")/tls-cert.sh" "$dir/tls"

# The key set, by the auth-service binary itself: the one already built, else cargo.
if [[ -e $dir/signing/keyset.json ]]; then
  echo "keys: keeping $dir/signing"
else
  root=$(cd "$(dirname "$0")/.." && pwd)
  bin=$(ls -t "$root"/target/{release,debug}/auth-service 2>/dev/null | head -n1 || true)
  if [[ -z $bin ]]; then
    cargo build --quiet --manifest-path "$root/Cargo.toml" -p auth-service
    bin=$root/target/debug/auth-service
  fi
  out=$(env -u AUTH__JWT__KEYS_DIR "$bin" keys generate --alg "${KEYS_ALG:-eddsa}" --dir "$dir/signing")
  echo "keys: ${out%%$'\n'*}"
fi
