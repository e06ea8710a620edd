# The few commands people type. `make test` is what CI runs (.ci/run).
CARGO ?= cargo

.PHONY: build run test test-web test-deps fmt lint bench bench-core

build:
	$(CARGO) build --workspace --all-features

## Both services in dev mode on the embedded in-memory stores: auth-service on :8081,
## tasks-service on :8082, and (with nginx installed) the web client on :8080.
## No Redis, no configuration. Ctrl-C stops all.
run:
	@scripts/run-dev.sh

## Formatting, lints (warnings are errors) and every test: the Rust suites, then the web
## client in headless Chromium. Installs redis-server, chromium, nginx if missing (as root).
test: test-deps
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --all-features -- -D warnings
	$(CARGO) test --workspace --all-features
	scripts/web-test.sh

## Only the browser tests of web/ (scripts/web-test.sh; artifacts in target/web-artifacts/).
test-web: test-deps
	scripts/web-test.sh

test-deps:
	@scripts/test-deps.sh

fmt:
	$(CARGO) fmt --all

lint:
	$(CARGO) clippy --workspace --all-targets --all-features -- -D warnings

## The HTTP benchmark harness (services pinned to core 0, wrk to core 1; ~5 minutes):
## writes BENCHMARKS.md. Installs wrk if missing (as root).
bench:
	python3 scripts/bench.py

## Criterion benchmarks of issuing and verifying only (reports in target/criterion/).
bench-core:
	$(CARGO) bench -p auth-core --bench tokens
