#!/usr/bin/env bash
# `make run`: both services in dev mode on the embedded in-memory stores — auth-service on
# 127.0.0.1:8081, tasks-service on 127.0.0.1:8082, sharing the built-in development secret —
# and, when nginx is installed, the front door on http://127.0.0.1:8080 serving the web
# client same-origin with both (scripts/frontdoor.sh). No Redis, no configuration.
# Ctrl-C stops everything; if one part exits, the others are stopped.
set -euo pipefail
cd "$(dirname "$0")/.."

# The same flags as `make build` and `make test`, so their build artifacts are reused.
cargo build --workspace --all-features --bins
pids=()
AUTH__DEV=true AUTH__BROWSER__ALLOWED_ORIGINS=http://127.0.0.1:8080,http://localhost:8080 \
  AUTH__PUBLIC_URL=http://127.0.0.1:8080 AUTH__PURGE__TASKS_URLS=http://127.0.0.1:8082 \
  ./target/debug/auth-service &
pids+=($!)
TASKS__DEV=true ./target/debug/tasks-service &
pids+=($!)
web="web client: install nginx (apt-get install -y nginx-light) and rerun for http://127.0.0.1:8080"
if command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]]; then
  scripts/frontdoor.sh 127.0.0.1:8080 127.0.0.1:8081 127.0.0.1:8082 &
  pids+=($!)
  web="web client: http://127.0.0.1:8080"
fi
stop() {
  kill "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
}
trap stop INT TERM EXIT
echo "auth-service http://127.0.0.1:8081  tasks-service http://127.0.0.1:8082  (dev mode; Ctrl-C stops all)"
echo "$web"
wait -n "${pids[@]}"
