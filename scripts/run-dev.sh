#!/usr/bin/env bash
# `make run`: both services in dev mode on the embedded in-memory stores — auth-service on
# 127.0.0.1:8081, tasks-service on 127.0.0.1:8082, sharing the built-in development secret.
# No Redis, no configuration. Ctrl-C stops both; if either exits, the other is stopped.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build -p auth-service -p tasks-service
AUTH__DEV=true ./target/debug/auth-service &
auth=$!
TASKS__DEV=true ./target/debug/tasks-service &
tasks=$!
stop() {
  kill "$auth" "$tasks" 2>/dev/null || true
  wait "$auth" "$tasks" 2>/dev/null || true
}
trap stop INT TERM EXIT
echo "auth-service http://127.0.0.1:8081  tasks-service http://127.0.0.1:8082  (dev mode; Ctrl-C stops both)"
wait -n "$auth" "$tasks"
