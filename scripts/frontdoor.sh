#!/usr/bin/env bash
# The development front door: nginx in the foreground serving web/ and proxying /auth/,
# /tasks, /me, /admin/ and /.well-known/ to one auth-service and one tasks-service, so the
# browser client is same-origin with both (deploy/nginx/dev.conf).
#
# Usage: scripts/frontdoor.sh LISTEN AUTH_ADDR TASKS_ADDR
#   e.g. scripts/frontdoor.sh 127.0.0.1:8080 127.0.0.1:8081 127.0.0.1:8082
# Stops nginx and removes its scratch directory on SIGINT/SIGTERM.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
if (($# != 3)); then
  echo "usage: $0 LISTEN AUTH_ADDR TASKS_ADDR" >&2
  exit 2
fi
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
if [[ ! -x $nginx_bin ]]; then
  echo "frontdoor: nginx is not installed (apt-get install -y nginx-light)" >&2
  exit 1
fi

prefix=$(mktemp -d -t tessera-frontdoor.XXXXXX)
chmod 755 "$prefix" # nginx workers may run as another user and must reach the temp dirs
sed -e "s|@PREFIX@|$prefix|g" -e "s|@LISTEN@|$1|g" -e "s|@AUTH@|$2|g" \
  -e "s|@TASKS@|$3|g" -e "s|@WEB@|$root/web|g" \
  "$root/deploy/nginx/dev.conf" >"$prefix/nginx.conf"

"$nginx_bin" -p "$prefix" -c "$prefix/nginx.conf" -e "$prefix/error.log" &
pid=$!
stop() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -rf "$prefix"
}
trap stop INT TERM EXIT
wait "$pid"
