# The few commands people type. `make test` is what CI runs (.ci/run).
CARGO ?= cargo

.PHONY: build run test test-deps fmt lint bench bench-core

build:
	$(CARGO) build --workspace --all-features

## Both services in dev mode on the embedded in-memory stores: auth-service on :8081,
## tasks-service on :8082. No Redis, no configuration. Ctrl-C stops both.
run:
	@scripts/run-dev.sh

## Formatting, lints (warnings are errors) and every test. Installs redis-server if missing.
test: test-deps
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --all-features -- -D warnings
	$(CARGO) test --workspace --all-features

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
