#!/usr/bin/env python3
"""`make compose-test`: docker-compose.yml end to end, for real.

Builds the images the offline way (scripts/images-offline.sh; no registry needed), starts
the stack under a private project name on a free port, waits for every healthcheck, runs
the multi-instance scenario (scripts/cluster_scenario.py) through nginx, then checks
through Prometheus's HTTP API that every instance is scraped, that a known sequence moves
the counters exactly and that the reuse alert fires, and always takes the stack down again
(`down -v`). Bounded: the whole run is killed after TIME_LIMIT.

With `--redis-cluster` (`make compose-test-cluster`) the stack runs on a six-node Redis
Cluster (docker-compose.cluster.yml over the base file): the scenario's Redis crash kills a
master and brings it back as a replica, and a last phase kills a master container while
clients refresh and write tasks: requests may fail only with 503 `store_unavailable` and
only until the cluster has failed over; after that, zero failures.

Usage: scripts/compose_test.py [--no-build] [--redis-cluster]   (root, Docker; `make keys`
is run for you)
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import cluster_scenario
from cluster_scenario import compose_command, wait_for_port
from procs import free_port

ROOT = Path(__file__).resolve().parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
TIME_LIMIT = 900  # seconds, images included
HEALTHY_TIMEOUT = 120
PROMETHEUS_TIMEOUT = 60
SERVICES = ["auth-1", "auth-2", "tasks-1", "tasks-2"]
NODES = [f"redis-c{i}" for i in range(1, 7)]
# After the cluster reports ok again: how long the services may still answer 503 (their
# circuit breaker's window and the cluster client's slot refresh).
SETTLE = 2.0
# Not the compose file's default subnet, so a stack someone runs with `make up` is untouched.
SUBNET = os.environ.get("TESSERA_TEST_SUBNET", "172.30.54")


class ComposeCluster:
    def __init__(self, project: str, port: int, http_port: int, prometheus_port: int,
                 redis_cluster: bool = False):
        self.project = project
        self.base_url = f"https://127.0.0.1:{port}"
        self.http_url = f"http://127.0.0.1:{http_port}"
        self.ca_file = str(ROOT / "keys" / "tls" / "ca.pem")  # `make keys`
        env_file = TARGET / "offline" / "images.env"
        self.prometheus_url = f"http://127.0.0.1:{prometheus_port}"
        self.env = dict(os.environ, TESSERA_PORT=str(port), TESSERA_HTTP_PORT=str(http_port),
                        TESSERA_PROMETHEUS_PORT=str(prometheus_port),
                        TESSERA_SUBNET=SUBNET, TESSERA_PUBLIC_URL=self.base_url)
        for line in env_file.read_text().splitlines():
            key, _, value = line.partition("=")
            self.env[key] = value
        self.compose = compose_command() + ["-p", project, "-f", str(ROOT / "docker-compose.yml")]
        self.redis_cluster = redis_cluster
        if redis_cluster:
            self.compose += ["-f", str(ROOT / "docker-compose.cluster.yml")]
        self.addresses: dict[str, str] = {}

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            self.compose + list(args), env=self.env, cwd=ROOT, check=check, capture_output=True, text=True
        )

    def container(self, service: str) -> str:
        return self.run("ps", "-q", service).stdout.strip()

    def inspect(self, service: str) -> dict:
        out = subprocess.run(["docker", "inspect", self.container(service)], capture_output=True, text=True, check=True)
        return json.loads(out.stdout)[0]

    def wait_healthy(self, services: list[str], timeout: float = HEALTHY_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        pending = list(services)
        while pending:
            pending = [s for s in pending if self.inspect(s)["State"].get("Health", {}).get("Status") != "healthy"]
            if pending and time.monotonic() > deadline:
                raise cluster_scenario.ScenarioFailed(f"not healthy after {timeout} s: {pending}")
            time.sleep(0.5)

    def wait_ready(self, services: list[str], timeout: float = 60) -> None:
        """Readiness now, asked directly (a healthcheck status can lag by its interval)."""
        deadline = time.monotonic() + timeout
        for service in services:
            binary = service.rsplit("-", 1)[0] + "-service"
            while subprocess.run(
                ["docker", "exec", self.container(service), binary, "healthcheck"], capture_output=True
            ).returncode:
                if time.monotonic() > deadline:
                    raise cluster_scenario.ScenarioFailed(f"{service} not ready after {timeout} s")
                time.sleep(0.2)

    def up(self) -> None:
        self.run("up", "-d")
        self.wait_healthy((NODES if self.redis_cluster else []) + ["redis"] + SERVICES)
        for service in SERVICES:
            networks = self.inspect(service)["NetworkSettings"]["Networks"]
            for network in networks.values():
                self.addresses[network["IPAddress"]] = service
        # nginx answers once its upstreams resolve; it has no healthcheck of its own.
        wait_for_port(int(self.env["TESSERA_PORT"]), 30)

    def instance(self, upstream_addr: str) -> str:
        return self.addresses.get(upstream_addr.rsplit(":", 1)[0], upstream_addr)

    def stop(self, instance: str) -> None:
        self.run("stop", instance)

    def start(self, instance: str) -> None:
        self.run("start", instance)
        self.wait_ready([instance])

    def restart_redis(self) -> None:
        if self.redis_cluster:
            # A master crashes; its replica takes over; it comes back as a replica.
            node = self.masters()[0]
            self.run("kill", "-s", "SIGKILL", node)
            self.wait_failed_over(node)
            self.run("start", node)
            self.wait_healthy([node])
            self.wait_ready(SERVICES)
            return
        self.run("kill", "-s", "SIGKILL", "redis")
        self.run("start", "redis")
        self.wait_healthy(["redis"])
        self.wait_ready(SERVICES)

    def cluster_nodes(self, via: str) -> list[list[str]]:
        """`CLUSTER NODES` as `via` sees it, one list of fields per node."""
        script = 'REDISCLI_AUTH="$(cat /run/secrets/redis-password)" redis-cli cluster nodes'
        out = subprocess.run(["docker", "exec", self.container(via), "sh", "-c", script],
                             capture_output=True, text=True, check=True).stdout
        return [line.split() for line in out.splitlines() if line.strip()]

    def node_name(self, address: str) -> str:
        """`redis-cN` from its address in `CLUSTER NODES` (docker-compose.cluster.yml gives
        node N the fixed address <subnet>.3N)."""
        last = int(address.split(":")[0].rsplit(".", 1)[1])
        return f"redis-c{last - 30}"

    def masters(self, via: str = "redis-c2") -> list[str]:
        """The nodes serving slots now (masters not marked failed)."""
        return [self.node_name(f[1]) for f in self.cluster_nodes(via)
                if "master" in f[2] and "fail" not in f[2] and len(f) > 8]

    def wait_failed_over(self, killed: str, timeout: float = 60) -> None:
        """Until every slot is served by a live master again."""
        witness = next(n for n in NODES if n != killed)
        deadline = time.monotonic() + timeout
        while killed in self.masters(witness) or len(self.masters(witness)) < 3:
            if time.monotonic() > deadline:
                raise cluster_scenario.ScenarioFailed(f"no failover within {timeout} s of killing {killed}")
            time.sleep(0.2)

    def service_identities(self) -> dict[str, str]:
        return {s: self.inspect(s)["State"]["StartedAt"] for s in SERVICES}

    def logs(self) -> str:
        """The last lines of every service, and every nginx error or warning."""
        recent = self.run("logs", "--no-color", "--tail", "40", check=False).stdout
        nginx = self.run("logs", "--no-color", "nginx", check=False).stdout.splitlines()
        problems = [line for line in nginx if "[error]" in line or "[warn]" in line]
        return recent + "\n--- nginx errors and warnings ---\n" + "\n".join(problems)

    def down(self) -> None:
        self.run("down", "-v", "--remove-orphans", check=False)


def prometheus_query(cluster: ComposeCluster, expr: str) -> dict[str, float]:
    """An instant query's samples, keyed by their labels (`k=v,…`)."""
    url = f"{cluster.prometheus_url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=10) as response:
        result = json.load(response)["data"]["result"]
    return {",".join(f"{k}={v}" for k, v in sorted(r["metric"].items())): float(r["value"][1]) for r in result}


def until(what: str, condition, timeout: float = PROMETHEUS_TIMEOUT):
    """Polls `condition` (returning a value, falsy while not yet) until it holds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = condition()
        except OSError:
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise cluster_scenario.ScenarioFailed(f"Prometheus: {what} not seen within {timeout} s")
        time.sleep(1)


def check_prometheus(cluster: ComposeCluster) -> str:
    """Through Prometheus's HTTP API: all four instances are scraped, a known sequence
    (n logins, m of them failing, k refreshes, one reuse) moves the counters by exactly
    that much, and the reuse alert fires."""
    def four_up() -> dict[str, float] | None:
        up = prometheus_query(cluster, 'up{job="tessera"}')
        return up if len(up) == 4 and set(up.values()) == {1.0} else None

    up = until("four instances scraped", four_up)
    totals = {
        "logins": 'sum by (outcome) (tessera_logins_total{outcome=~"success|invalid_credentials"})',
        "refreshes": 'sum by (outcome) (tessera_refresh_total{outcome=~"rotated|reused"})',
    }

    def snapshot() -> dict[str, float]:
        return {f"{name}:{labels}": value for name, expr in totals.items()
                for labels, value in prometheus_query(cluster, expr).items()}

    time.sleep(6)  # one scrape after the scenario's last request
    before = snapshot()
    client = cluster_scenario.Client(cluster)
    name = f"prom-{int(time.time()) % 100000}"
    password = cluster_scenario.PASSWORD
    client.call("POST", "/auth/register", {"username": name, "password": password})
    n, m, k = 5, 2, 3
    session = None
    for i in range(n):
        attempt = password if i >= m else "not-the-password"
        reply = client.call("POST", "/auth/login", {"username": name, "password": attempt})
        if reply.status == 200:
            session = reply.body
    tokens = [session["refresh_token"]]
    for _ in range(k):
        reply = client.call("POST", "/auth/refresh", {"refresh_token": tokens[-1]})
        tokens.append(reply.body["refresh_token"])
    time.sleep(11)  # past the grace window: presenting the first token again is reuse
    reuse = client.call("POST", "/auth/refresh", {"refresh_token": tokens[0]})
    cluster_scenario.check(reuse.body.get("error") == "refresh_token_reused", f"no reuse: {reuse.body}")
    want = {"logins:outcome=success": n - m, "logins:outcome=invalid_credentials": m,
            "refreshes:outcome=rotated": k, "refreshes:outcome=reused": 1}

    def moved() -> dict[str, float] | None:
        now = snapshot()
        delta = {key: now.get(key, 0.0) - before.get(key, 0.0) for key in want}
        return delta if delta == want else None

    try:
        until("the counters moving by exactly the sequence", moved)
    except cluster_scenario.ScenarioFailed:
        now = snapshot()
        raise cluster_scenario.ScenarioFailed(
            f"counter deltas {({key: now.get(key, 0.0) - before.get(key, 0.0) for key in want})} != {want}")
    def reuse_alert() -> list[dict]:
        with urllib.request.urlopen(f"{cluster.prometheus_url}/api/v1/alerts", timeout=10) as response:
            alerts = json.load(response)["data"]["alerts"]
        return [a for a in alerts if a["labels"]["alertname"] == "TesseraRefreshTokenReuse" and a["state"] == "firing"]

    until("TesseraRefreshTokenReuse firing", reuse_alert)
    print(f"prometheus: {len(up)} instances scraped; {n} logins ({m} failed), {k} refreshes and 1 reuse "
          "counted exactly; TesseraRefreshTokenReuse firing", flush=True)
    payload = session["access_token"].split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sub"]


def check_audit(cluster: ComposeCluster, user_id: str) -> None:
    """The audit trail of the Prometheus sequence's user, from both auth instances' logs:
    registration, 2 failed and 3 successful logins, one reuse detection, each with the
    client's address and a request id."""
    text = cluster.run("logs", "--no-color", "--no-log-prefix", "auth-1", "auth-2").stdout
    trail = []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("target") == "audit" and record.get("user_id") == user_id:
            trail.append(record)
    counts = {}
    for record in trail:
        counts[record["event"]] = counts.get(record["event"], 0) + 1
    want = {"user_registered": 1, "login_failed": 2, "login_succeeded": 3, "refresh_reuse_detected": 1}
    cluster_scenario.check(counts == want, f"audit trail of {user_id}: {counts} != {want}")
    cluster_scenario.check(all(r["client_ip"] and r["request_id"] for r in trail),
                           f"audit records without the client's address or request id: {trail}")
    print(f"audit: the user's trail across both auth instances is {counts}", flush=True)


def check_failover_under_load(cluster: ComposeCluster, log) -> None:
    """A master container is killed while clients refresh and write tasks through nginx:
    failures are 503 `store_unavailable` only, none before the kill and none once the
    cluster has failed over (plus SETTLE); every client then goes on without a login."""
    client = cluster_scenario.Client(cluster)
    names = [f"failover-{i}-{int(time.time()) % 100000}" for i in range(4)]
    sessions = []
    for name in names:
        client.call("POST", "/auth/register", {"username": name, "password": cluster_scenario.PASSWORD})
        reply = client.call("POST", "/auth/login", {"username": name, "password": cluster_scenario.PASSWORD})
        cluster_scenario.check(reply.status == 200, f"login {name}: {reply.status} {reply.body}")
        sessions.append(cluster_scenario.Session(name, reply.body["access_token"], reply.body["refresh_token"]))
    outcomes: list[tuple[float, str, int, str | None]] = []
    lock = threading.Lock()
    stop = threading.Event()

    def worker(session: cluster_scenario.Session) -> None:
        while not stop.is_set():
            reply = client.call("POST", "/auth/refresh", {"refresh_token": session.refresh})
            if reply.status == 200:
                session.access, session.refresh = reply.body["access_token"], reply.body["refresh_token"]
            with lock:
                outcomes.append((time.monotonic(), "refresh", reply.status, reply.body.get("error")))
            reply = client.call("POST", "/tasks", {"title": "written through a failover"}, session.access)
            with lock:
                outcomes.append((time.monotonic(), "task", reply.status, reply.body.get("error")))
            time.sleep(0.01)

    threads = [threading.Thread(target=worker, args=(s,), daemon=True) for s in sessions]
    for thread in threads:
        thread.start()
    time.sleep(3)
    victim = cluster.masters()[0]
    killed = time.monotonic()
    cluster.run("kill", "-s", "SIGKILL", victim)
    cluster.wait_failed_over(victim)
    failed_over = time.monotonic()
    time.sleep(SETTLE + 5)
    stop.set()
    for thread in threads:
        thread.join(timeout=2 * cluster_scenario.REQUEST_TIMEOUT)
    ok = {"refresh": 200, "task": 201}
    failures = [o for o in outcomes if o[2] != ok[o[1]]]
    wrong = [o for o in failures if o[2] != 503 or o[3] != "store_unavailable"]
    cluster_scenario.check(not wrong, f"failures other than 503 store_unavailable: {wrong[:5]}")
    early = [o for o in failures if o[0] < killed]
    late = [o for o in failures if o[0] > failed_over + SETTLE]
    cluster_scenario.check(not early, f"failures before the kill: {early[:5]}")
    cluster_scenario.check(not late, f"failures after the failover window: {late[:5]}")
    after = [o for o in outcomes if o[0] > failed_over + SETTLE]
    cluster_scenario.check(len(after) >= 20, f"too little load after the failover: {len(after)} requests")
    window = (max(o[0] for o in failures) - killed) if failures else 0.0
    log(f"redis cluster: {victim} (a master) killed under load: {len(outcomes)} requests, "
        f"{len(failures)} answered 503 within {window:.1f} s of the kill; the cluster failed over "
        f"{failed_over - killed:.1f} s after it; {len(after)} requests after the window, none failed")


def main() -> int:
    signal.signal(signal.SIGALRM, lambda *_: sys.exit(f"compose-test: over the {TIME_LIMIT} s limit"))
    signal.alarm(TIME_LIMIT)
    began = time.monotonic()
    subprocess.run([ROOT / "scripts" / "keys.sh"], check=True)
    if "--no-build" not in sys.argv:
        subprocess.run([ROOT / "scripts" / "images-offline.sh"], check=True)
    images_seconds = time.monotonic() - began

    redis_cluster = "--redis-cluster" in sys.argv
    cluster = ComposeCluster(f"tessera-ct-{os.getpid()}", free_port(), free_port(), free_port(),
                             redis_cluster=redis_cluster)
    try:
        started = time.monotonic()
        cluster.up()
        print(f"compose-test: stack up and healthy in {time.monotonic() - started:.1f} s", flush=True)
        scenario_began = time.monotonic()
        phases = cluster_scenario.run(cluster, log=lambda line: print(line, flush=True))
        print(cluster_scenario.summary(phases, time.monotonic() - scenario_began))
        check_audit(cluster, check_prometheus(cluster))
        if redis_cluster:
            check_failover_under_load(cluster, log=lambda line: print(line, flush=True))
    except (cluster_scenario.ScenarioFailed, subprocess.CalledProcessError) as err:
        detail = getattr(err, "stderr", "") or ""
        print(f"compose-test: FAILED: {err}\n{detail}\n--- logs ---\n{cluster.logs()}", file=sys.stderr)
        return 1
    finally:
        cluster.down()
    print(
        f"compose-test: passed (images {images_seconds:.0f} s, total {time.monotonic() - began:.0f} s); "
        "stack removed"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
