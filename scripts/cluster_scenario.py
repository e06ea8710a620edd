"""The multi-instance scenario that `make compose-test` (containers) and `make demo`
(processes on loopback) both run through nginx: traffic reaches both instances of each
service; an auth instance stops under load and nobody notices; Redis is killed and restarted
and every session survives; logouts reach both tasks instances within milliseconds while
others keep calling; a deleted account's tokens stop at both tasks instances (its tasks'
purge across services is tested in the auth-service's suite, with a real tasks-service, where
the test can still look at them). Standard library only.

A cluster backend supplies the front door's URL and these operations: name the instance
behind an `X-Upstream` address, stop/start one instance (start returns once it is ready),
kill Redis and start it again (returning once the services are ready again), and identify each service
process (a pid, a container start time) so the scenario can tell that none restarted.
A backend whose services sign with a key set may also offer `rotate_keys()`: the scenario
then rotates the signing key while clients keep calling.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import http.client
import json
import shutil
import ssl
import statistics
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Protocol

import procs

PASSWORD = "scenario-password-0123"
REQUEST_TIMEOUT = 10.0
# `appendfsync everysec`: what was written more than this long ago is on disk.
AOF_FLUSH_WAIT = 1.5


class Cluster(Protocol):
    base_url: str  # https://… : the scenario verifies the certificate with ca_file
    ca_file: str | None
    http_url: str | None  # the plain-HTTP port, which must only redirect to HTTPS

    def instance(self, upstream_addr: str) -> str: ...
    def stop(self, instance: str) -> None: ...
    def start(self, instance: str) -> None: ...
    def restart_redis(self) -> None: ...  # SIGKILL, then start: a crash, not a shutdown
    def service_identities(self) -> dict[str, str]: ...
    # Optional: `auth-service keys rotate` on the shared key set; returns the new key's
    # kid and the Unix time it signs from.
    # def rotate_keys(self) -> tuple[str, float]: ...


class ScenarioFailed(AssertionError):
    pass


# What the runners (compose_test.py, demo.py, swarm.py) share besides the scenario.


def wait_for_port(port: int, timeout: float) -> None:
    """Returns once something accepts connections on 127.0.0.1:`port`."""
    try:
        procs.wait_for_port(port, timeout)
    except procs.PortTimeout as err:
        raise ScenarioFailed(str(err)) from err


def compose_command() -> list[str]:
    """`docker compose` (v2) where installed, else the older `docker-compose`."""
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    raise SystemExit("neither `docker compose` nor `docker-compose` is installed")


def check(condition: bool, message: str) -> None:
    if not condition:
        raise ScenarioFailed(message)


@dataclass
class Reply:
    status: int  # 0: no HTTP answer at all
    body: dict
    upstream: str
    seconds: float


@dataclass
class Phase:
    """What one step sent and got back."""

    name: str
    requests: int = 0
    failures: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    instances: dict[str, int] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    seconds: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, what: str, reply: Reply, cluster: Cluster, ok: tuple[int, ...]) -> None:
        with self.lock:
            self.requests += 1
            self.latencies.append(reply.seconds)
            if reply.upstream:
                name = cluster.instance(reply.upstream)
                self.instances[name] = self.instances.get(name, 0) + 1
            if reply.status not in ok:
                self.failures.append(f"{what}: {reply.status} {reply.body}")

    def finish(self) -> None:
        self.seconds = time.monotonic() - self.started

    def line(self) -> str:
        lat = sorted(self.latencies) or [0.0]
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        seen = ", ".join(f"{k} {v}" for k, v in sorted(self.instances.items()))
        return (
            f"{self.name:<34} {self.requests:>5} requests {len(self.failures):>3} failed  "
            f"p50 {statistics.median(lat) * 1000:6.1f} ms  p99 {p99 * 1000:7.1f} ms  "
            f"{self.seconds:5.1f} s  [{seen}]"
        )


@contextlib.contextmanager
def background(stop: threading.Event, *targets):
    """Runs each of `targets` in a thread for the duration of the block; at its end sets
    `stop` (which the targets watch) and waits for them."""
    workers = [threading.Thread(target=target) for target in targets]
    for worker in workers:
        worker.start()
    try:
        yield
    finally:
        stop.set()
        for worker in workers:
            worker.join()


class Client:
    """JSON over HTTP/1.1 to the front door; one connection per request."""

    def __init__(self, cluster: Cluster):
        self.cluster = cluster
        self.tls = ssl.create_default_context(cafile=cluster.ca_file) if cluster.ca_file else None

    def call(self, method: str, path: str, body: dict | None = None, token: str | None = None) -> Reply:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.cluster.base_url + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT, context=self.tls) as response:
                status, raw, headers = response.status, response.read(), response.headers
        except urllib.error.HTTPError as err:
            status, raw, headers = err.code, err.read(), err.headers
        except (urllib.error.URLError, OSError) as err:
            return Reply(0, {"error": str(err)}, "", time.monotonic() - started)
        upstream = (headers.get("X-Upstream") or "").split(",")[-1].strip()
        try:
            parsed = json.loads(raw) if raw else {}
        except ValueError:
            parsed = {"raw": raw[:200].decode(errors="replace")}
        return Reply(status, parsed, upstream, time.monotonic() - started)


@dataclass
class Session:
    username: str
    access: str
    refresh: str


def login(client: Client, phase: Phase, username: str) -> Session | None:
    reply = client.call("POST", "/auth/login", {"username": username, "password": PASSWORD})
    phase.record(f"login {username}", reply, client.cluster, (200,))
    if reply.status != 200:
        return None
    return Session(username, reply.body["access_token"], reply.body["refresh_token"])


def refresh(client: Client, phase: Phase, session: Session) -> bool:
    reply = client.call("POST", "/auth/refresh", {"refresh_token": session.refresh})
    phase.record(f"refresh {session.username}", reply, client.cluster, (200,))
    if reply.status != 200:
        return False
    session.access, session.refresh = reply.body["access_token"], reply.body["refresh_token"]
    return True


def check_https(cluster: Cluster, log) -> None:
    """The front door speaks HTTPS with a certificate the deployment's CA signed (and one
    that nobody else trusts), says HSTS, sets the refresh cookie `Secure`, and its plain-HTTP
    port only redirects (308, so a POST stays a POST)."""
    url = urllib.parse.urlsplit(cluster.base_url)
    check(url.scheme == "https", f"the front door is not HTTPS: {cluster.base_url}")
    try:
        urllib.request.urlopen(cluster.base_url + "/", timeout=REQUEST_TIMEOUT,
                               context=ssl.create_default_context())
        raise ScenarioFailed("a client without the deployment's CA accepted its certificate")
    except urllib.error.URLError as err:
        check(isinstance(err.reason, ssl.SSLCertVerificationError), f"not a certificate refusal: {err}")
    client = Client(cluster)
    username = f"https-{int(time.time() * 1000) % 10**8}"
    reply = client.call("POST", "/auth/register", {"username": username, "password": PASSWORD})
    check(reply.status == 201, f"register over HTTPS: {reply.status} {reply.body}")
    connection = http.client.HTTPSConnection(url.hostname, url.port, timeout=REQUEST_TIMEOUT, context=client.tls)
    body = json.dumps({"username": username, "password": PASSWORD})
    connection.request("POST", "/auth/login", body, {"Content-Type": "application/json",
                                                      "X-Tessera-Client": "browser"})
    response = connection.getresponse()
    response.read()
    cookie = response.getheader("Set-Cookie") or ""
    hsts = response.getheader("Strict-Transport-Security") or ""
    connection.close()
    check(response.status == 200, f"browser login over HTTPS: {response.status}")
    check(cookie.startswith("tessera_refresh=") and "; Secure" in cookie and "HttpOnly" in cookie,
          f"the refresh cookie is not Secure and HttpOnly: {cookie.split(';', 1)[-1]}")
    check(hsts.startswith("max-age="), f"no HSTS on the login answer: {hsts!r}")
    if cluster.http_url:
        plain = urllib.parse.urlsplit(cluster.http_url)
        connection = http.client.HTTPConnection(plain.hostname, plain.port, timeout=REQUEST_TIMEOUT)
        connection.request("POST", "/auth/login?x=1", body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        location = response.getheader("Location") or ""
        connection.close()
        check(response.status == 308 and location.startswith("https://") and location.endswith("/auth/login?x=1"),
              f"plain HTTP does not redirect to HTTPS: {response.status} {location!r}")
    log("https: certificate verified against the deployment's CA (and refused without it), "
        "HSTS, Secure refresh cookie" + (", plain HTTP redirects (308)" if cluster.http_url else ""))


def run(cluster: Cluster, log=print, users: int = 4, calls: int = 200) -> list[Phase]:
    """Runs every step; raises ScenarioFailed on the first broken promise. Returns the
    phases for the summary."""
    check_https(cluster, log)
    client = Client(cluster)
    names = [f"user-{i}-{int(time.time()) % 100000}" for i in range(users)]
    phases: list[Phase] = []

    # 1. Both instances of each service answer.
    phase = Phase("register, login, /tasks and /me")
    phases.append(phase)
    for name in names:
        reply = client.call("POST", "/auth/register", {"username": name, "password": PASSWORD})
        phase.record(f"register {name}", reply, cluster, (201,))
    sessions = [s for s in (login(client, phase, name) for name in names) if s]
    check(len(sessions) == users, f"logins failed: {phase.failures}")
    for session in sessions:
        reply = client.call("POST", "/tasks", {"title": f"kept across restarts by {session.username}"}, session.access)
        phase.record("create task", reply, cluster, (201,))
    for i in range(calls):
        session = sessions[i % users]
        path = "/tasks" if i % 2 == 0 else "/me"
        phase.record(f"GET {path}", client.call("GET", path, token=session.access), cluster, (200,))
    phase.finish()
    log(phase.line())
    check(not phase.failures, f"failures: {phase.failures[:5]}")
    check({"tasks-1", "tasks-2"} <= phase.instances.keys(), f"not both tasks instances: {phase.instances}")

    phase = Phase("refresh")
    phases.append(phase)
    for i in range(40):
        refresh(client, phase, sessions[i % users])
    phase.finish()
    log(phase.line())
    check(not phase.failures, f"failures: {phase.failures[:5]}")
    check({"auth-1", "auth-2"} <= phase.instances.keys(), f"not both auth instances: {phase.instances}")

    # 2. auth-1 stops while clients keep logging in and refreshing.
    phase = Phase("auth-1 stopped under load")
    phases.append(phase)
    stop = threading.Event()

    def refresher(session: Session) -> None:
        while not stop.is_set():
            if not refresh(client, phase, session):
                return  # a broken chain cannot go on; the failure is recorded
            time.sleep(0.02)

    def logger_in() -> None:
        i = 0
        while not stop.is_set():
            login(client, phase, names[i % users])  # ≤ 1/s: well inside the login limits
            i += 1
            stop.wait(1.0)

    with background(stop, *(functools.partial(refresher, s) for s in sessions), logger_in):
        time.sleep(2)
        stopped = time.monotonic()
        cluster.stop("auth-1")
        log(f"  auth-1 stopped after {time.monotonic() - stopped:.1f} s; load continues")
        time.sleep(3)
        started = time.monotonic()
        cluster.start("auth-1")
        log(f"  auth-1 back and healthy after {time.monotonic() - started:.1f} s")
        time.sleep(2)
    phase.finish()
    log(phase.line())
    check(not phase.failures, f"client requests failed while auth-1 was away: {phase.failures[:5]}")
    check(phase.requests > 50, f"too little load to mean anything: {phase.requests} requests")

    # 3. Redis is killed (no shutdown save) and started again: sessions and tasks come back
    # from the append-only file; no service restarts. The AOF is flushed every second, so
    # the scenario lets a second pass after its last write, as a real crash may not.
    phase = Phase("after Redis was killed")
    phases.append(phase)
    identities = cluster.service_identities()
    time.sleep(AOF_FLUSH_WAIT)
    restarted = time.monotonic()
    cluster.restart_redis()
    log(f"  Redis killed and restarted; services ready again after {time.monotonic() - restarted:.1f} s")
    phase.started = time.monotonic()
    for session in sessions:
        check(refresh(client, phase, session), f"refresh after Redis came back failed: {phase.failures}")
        reply = client.call("GET", "/tasks", token=session.access)
        phase.record("GET /tasks", reply, cluster, (200,))
        titles = [task["title"] for task in reply.body.get("tasks", [])]
        check(
            f"kept across restarts by {session.username}" in titles,
            f"{session.username}'s task is gone after Redis came back: {reply.body}",
        )
    phase.finish()
    log(phase.line())
    check(not phase.failures, f"failures: {phase.failures[:5]}")
    after = cluster.service_identities()
    check(after == identities, f"a service restarted with Redis: {identities} -> {after}")

    phases.append(revocations(cluster, client, sessions, log))

    # 4. An account is deleted: its tokens stop everywhere (and the auth-service purges its
    # tasks at a tasks instance with its own service token — which nobody here can see
    # any more: the account's own token is refused).
    phase = Phase("account deleted, tokens refused")
    phases.append(phase)
    gone = sessions[0]
    reply = client.call("DELETE", "/auth/account", {"password": PASSWORD}, gone.access)
    phase.record("DELETE /auth/account", reply, cluster, (204,))
    check(not refused_at_both(client, gone.access)[1], "the deleted account's token still works")
    reply = client.call("POST", "/auth/login", {"username": gone.username, "password": PASSWORD})
    phase.record("login after deletion", reply, cluster, (401,))
    phase.finish()
    log(phase.line())
    check(not phase.failures, f"failures: {phase.failures[:5]}")

    rotate = getattr(cluster, "rotate_keys", None)
    if rotate is not None:
        phases.append(rotation(cluster, client, sessions[1:], rotate, log))
    return phases


PROPAGATION_BOUND = 5.0  # seconds: a feed that never delivers fails the scenario, not hangs it


def refused_at_both(client: Client, token: str, since: float | None = None) -> tuple[dict[str, float], list[str]]:
    """Polls `GET /me` with `token` through the front door until both tasks instances have
    refused it as revoked; returns each instance's first refusal (ms after `since`) and any
    answer that broke the promise (a 200 from an instance after it had refused)."""
    since = time.monotonic() if since is None else since
    first: dict[str, float] = {}
    broken: list[str] = []
    while len(first) < 2 and time.monotonic() - since < PROPAGATION_BOUND:
        reply = client.call("GET", "/me", token=token)
        instance = client.cluster.instance(reply.upstream)
        if reply.status == 401 and reply.body.get("message") == "token has been revoked":
            first.setdefault(instance, (time.monotonic() - since) * 1000)
        elif instance in first:
            broken.append(f"{instance} answered {reply.status} after refusing the token")
    if len(first) < 2:
        broken.append(f"not refused at both tasks instances within {PROPAGATION_BOUND} s: {first}")
    return first, broken


def revocations(cluster: Cluster, client: Client, others: list[Session], log, rounds: int = 5) -> Phase:
    """3b. Logouts and logouts-everywhere while other sessions keep calling: every later
    `/me` with a revoked token is 401 at both tasks instances. Measures, per revocation, the
    time from the revoking response to each instance's first refusal."""
    phase = Phase("revocations reach both tasks instances")
    stop = threading.Event()

    def caller(session: Session) -> None:
        while not stop.is_set():
            for path in ("/tasks", "/me"):
                phase.record(f"GET {path}", client.call("GET", path, token=session.access), cluster, (200,))
            stop.wait(0.01)

    delays: list[float] = []
    with background(stop, *(functools.partial(caller, s) for s in others[1:])):
        for round_ in range(rounds):
            name = f"revoked-{round_}-{int(time.time()) % 100000}"
            reply = client.call("POST", "/auth/register", {"username": name, "password": PASSWORD})
            phase.record(f"register {name}", reply, cluster, (201,))
            one, two = login(client, phase, name), login(client, phase, name)
            check(one is not None and two is not None, f"logins failed: {phase.failures}")
            seen = set()
            for _ in range(8):
                reply = client.call("GET", "/me", token=one.access)
                phase.record("GET /me before", reply, cluster, (200,))
                seen.add(cluster.instance(reply.upstream))
            check({"tasks-1", "tasks-2"} <= seen, f"not both tasks instances: {seen}")
            # One session logged out; then the other logs out everywhere.
            reply = client.call("POST", "/auth/logout", {"refresh_token": one.refresh})
            phase.record("logout", reply, cluster, (204,))
            first, broken = refused_at_both(client, one.access)
            delays += first.values()
            phase.failures += broken
            reply = client.call("GET", "/me", token=two.access)
            phase.record("other session still valid", reply, cluster, (200,))
            reply = client.call("POST", "/auth/logout-all", {}, two.access)
            phase.record("logout-all", reply, cluster, (204,))
            first, broken = refused_at_both(client, two.access)
            delays += first.values()
            phase.failures += broken
    phase.finish()
    log(phase.line())
    if delays:
        ordered = sorted(delays)
        log(f"  revocation propagation through the front door: p50 {statistics.median(ordered):.1f} ms, "
            f"max {ordered[-1]:.1f} ms over {len(ordered)} refusals (polling resolution ≈ one request)")
    check(not phase.failures, f"failures: {phase.failures[:5]}")
    return phase


def token_kid(token: str) -> str:
    header = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]


def rotation(cluster: Cluster, client: Client, sessions: list[Session], rotate, log) -> Phase:
    """5. The signing key rotates (next → active, the old one retired) while every session
    keeps refreshing and calling the tasks-service: not one request may fail."""
    phase = Phase("signing key rotated under load")
    stop = threading.Event()

    def caller(session: Session) -> None:
        while not stop.is_set():
            if not refresh(client, phase, session):
                return
            for path in ("/tasks", "/me"):
                phase.record(f"GET {path}", client.call("GET", path, token=session.access), cluster, (200,))
            stop.wait(0.1)

    old = token_kid(sessions[0].access)
    with background(stop, *(functools.partial(caller, s) for s in sessions)):
        new, signs_from = rotate()
        log(f"  key {new[:12]}… published; it signs in {signs_from - time.time():.0f} s")
        time.sleep(max(0.0, signs_from - time.time()) + 3)
    phase.finish()
    log(phase.line())
    check(not phase.failures, f"requests failed during the key rotation: {phase.failures[:5]}")
    kids = {token_kid(session.access) for session in sessions}
    check(kids == {new}, f"access tokens are not signed by the new key {new}: {kids}")
    published = {key["kid"] for key in client.call("GET", "/.well-known/jwks.json").body.get("keys", [])}
    check(published == {old, new}, f"the JWKS should hold the new and the retired key: {published}")
    return phase


def summary(phases: list[Phase], seconds: float) -> str:
    total = sum(p.requests for p in phases)
    failed = sum(len(p.failures) for p in phases)
    return f"scenario: {total} requests, {failed} failed, {seconds:.1f} s"
