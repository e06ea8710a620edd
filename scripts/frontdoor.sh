#!/usr/bin/env bash
# The development front door: the deployment's nginx configuration (deploy/nginx/nginx.conf)
# in the foreground, serving web/ and proxying /auth/, /oauth/, /.well-known/, /tasks, /me
# and /admin/ to one auth-service and one tasks-service on loopback, so the browser client
# is same-origin with both. Plain HTTP: the lines marked `# tls` (certificate, HSTS, the
# redirect server) are dropped, since browsers treat http://localhost as a secure origin.
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
# Both "instances" of each upstream are the one process given.
sed -e '/# tls$/d' -e "s|auth-[12]:8081|$2|" -e "s|tasks-[12]:8082|$3|" -e "s|listen 8443 ssl;|listen $1;|" \
  -e "s|root /srv/tessera/web;|root $root/web;|" -e "s|access_log /dev/stdout combined;|access_log off;|" \
  "$root/deploy/nginx/nginx.conf" >"$prefix/nginx.conf"

"$nginx_bin" -p "$prefix" -c "$prefix/nginx.conf" -e "$prefix/error.log" &
pid=$!
stop() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -rf "$prefix"
}
trap stop INT TERM EXIT
wait "$pid"
