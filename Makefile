# The few commands people type. `make test` is what CI runs (.ci/run).
CARGO ?= cargo

.PHONY: build test fmt lint bench

build:
	$(CARGO) build --workspace --all-features

## Formatting, lints (warnings are errors) and every test.
test:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --all-features -- -D warnings
	$(CARGO) test --workspace --all-features

fmt:
	$(CARGO) fmt --all

lint:
	$(CARGO) clippy --workspace --all-targets --all-features -- -D warnings

## Criterion benchmarks of issuing and verifying (reports in target/criterion/).
bench:
	$(CARGO) bench -p auth-core --bench tokens
