# The few commands people type. `make test` is what CI runs (.ci/run), followed by
# `make demo`, `make compose-test` and `make swarm-test`.
CARGO ?= cargo
# `docker compose` (v2) where installed, else the older `docker-compose`.
COMPOSE ?= $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || echo docker-compose)

.PHONY: build run test test-web test-deps fuzz-smoke test-recipes test-contract openapi fmt lint \
	bench bench-core \
	keys up down logs images-offline compose-test compose-test-cluster demo swarm-up swarm-down swarm-test

build:
	$(CARGO) build --workspace --all-features

## Both services in dev mode on the embedded in-memory stores: auth-service on :8081,
## tasks-service on :8082, and (with nginx installed) the web client on :8080.
## No Redis, no configuration. Ctrl-C stops all.
run:
	@scripts/run-dev.sh

## Formatting, lints (warnings are errors) and every test: the Rust suites, the tested
## recipes, schemathesis against both OpenAPI documents, then the web
## client in headless Chromium. Installs redis-server, chromium, nginx if missing (as root).
test: test-deps
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --all-features -- -D warnings
	# auth-core without features (no HTTP stack) must build clean on its own too.
	$(CARGO) clippy -p auth-core --lib -- -D warnings
	$(CARGO) test --workspace --all-features
	promtool check config deploy/prometheus/prometheus.yml
	promtool test rules deploy/prometheus/alerts.test.yml
	scripts/recipes-test.sh
	scripts/contract-test.sh
	scripts/web-test.sh

## Only the browser tests of web/ (scripts/web-test.sh; artifacts in target/web-artifacts/).
test-web: test-deps
	scripts/web-test.sh

## Every cargo-fuzz target briefly (FUZZ_SECONDS each, default 20), from the committed seeds.
fuzz-smoke: test-deps
	scripts/fuzz-smoke.sh

## Only the schemathesis run against both services' OpenAPI documents (CONTRACT_SECONDS
## per service, default 90; reports in target/contract-artifacts/).
test-contract: test-deps
	scripts/contract-test.sh

## Rewrites docs/openapi/*.json from the code (a test fails while they are stale).
openapi:
	UPDATE_OPENAPI=1 $(CARGO) test -p auth-service -p tasks-service --lib openapi

## Only the tested other-language recipes (docs/verify-in-other-languages.md).
test-recipes: test-deps
	scripts/recipes-test.sh

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

## The secrets docker-compose.yml reads from keys/ (JWT secret, Redis password). Never
## overwrites an existing file.
keys:
	@scripts/keys.sh

## The compose deployment: Redis, auth-1/2, tasks-1/2, nginx on https://localhost:8443
## (http://localhost:8080 redirects).
## Builds the service images from deploy/Dockerfile when they are missing. Uses the images
## of `make images-offline` when it has run (target/offline/images.env).
OFFLINE_ENV := $(wildcard target/offline/images.env)
up: keys
	$(COMPOSE) $(if $(OFFLINE_ENV),--env-file $(OFFLINE_ENV)) up -d

down:
	$(COMPOSE) down

logs:
	$(COMPOSE) logs -f --tail=100

## Every image docker-compose.yml needs, without a registry (root; debootstrap + docker
## import + binaries built here). Writes target/offline/images.env.
images-offline:
	@scripts/images-offline.sh

## docker-compose.yml end to end (root, Docker): offline images, stack up, both instances
## answer, auth-1 stopped under load, Redis killed, stack removed. About 2 minutes.
compose-test:
	python3 scripts/compose_test.py

## The same on a six-node Redis Cluster (docker-compose.cluster.yml over the base file),
## with a master container killed under load.
compose-test-cluster:
	python3 scripts/compose_test.py --redis-cluster

## The same scenario without Docker: redis-server, 2+2 service processes and nginx on
## loopback. `make demo ARGS=--keep` leaves it running afterwards.
demo:
	python3 scripts/demo.py $(ARGS)

## The same docker-compose.yml as a Docker Swarm stack `tessera` (scripts/swarm.py renders
## it for `docker stack deploy`); the images must exist on every node.
swarm-up: keys
	scripts/deploy-python.sh scripts/swarm.py up

swarm-down:
	scripts/deploy-python.sh scripts/swarm.py down

## Single-node swarm (created and left again if none is active): deploy the stack, wait for
## every service to be healthy, register/login/list through nginx, remove it.
swarm-test:
	scripts/deploy-python.sh scripts/swarm.py test
