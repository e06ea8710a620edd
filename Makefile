# The few commands people type. `make test` is what CI runs (.ci/run).
CARGO ?= cargo

.PHONY: build run test test-deps fmt lint bench

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

## Criterion benchmarks of issuing and verifying (reports in target/criterion/).
bench:
	$(CARGO) bench -p auth-core --bench tokens
