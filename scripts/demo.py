#!/usr/bin/env python3
"""`make demo`: the multi-instance story without Docker. A private redis-server (AOF on,
a password), two auth-service and two tasks-service processes (release builds) and nginx
with the deployment's own configuration — HTTPS with a certificate from a CA made for the
run (scripts/tls-cert.sh), plain HTTP redirecting — all on loopback; then the same scenario as
`make compose-test` (scripts/cluster_scenario.py): both instances answer, auth-1 stops
under load, Redis is killed and comes back. Everything stops and is removed at the end;
the run is bounded by TIME_LIMIT.

Unlike the compose deployment (HS256), the demo signs with EdDSA: the auth instances share
a key set (AUTH__JWT__KEYS_DIR, made by `auth-service keys generate`) and each tasks
instance fetches the JWKS of one auth instance (TASKS__JWT__JWKS_URL). The scenario then
also rotates the signing key with `auth-service keys rotate` while clients keep calling
(short JWKS max-age so the new key signs about a minute later).

Needs redis-server, nginx and openssl (Debian: apt-get install -y redis-server nginx-light
openssl).
With --keep, the cluster stays up after the scenario until Ctrl-C, for a look around.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import cluster_scenario
import procs
from procs import free_port, wait_for_port

ROOT = Path(__file__).resolve().parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
TIME_LIMIT = 600
READY_TIMEOUT = 30
INSTANCES = {"auth-1": "auth", "auth-2": "auth", "tasks-1": "tasks", "tasks-2": "tasks"}
# Key-set timing: the JWKS may be cached 2 s, instances re-read the set every second, so a
# rotation's new key signs 2 + 1 + 60 s after it is published.
KEY_TIMING = {"AUTH__JWT__JWKS_MAX_AGE_SECS": "2", "AUTH__JWT__KEYS_RELOAD_SECS": "1"}


def find(binary: str) -> str:
    path = shutil.which(binary) or (f"/usr/sbin/{binary}" if os.path.exists(f"/usr/sbin/{binary}") else None)
    if not path:
        sys.exit(f"demo: {binary} is not installed (Debian: apt-get install -y redis-server nginx-light)")
    return path


class LocalCluster:
    def __init__(self, work: Path):
        self.work = work
        self.ports = {name: free_port() for name in [*INSTANCES, "redis", "nginx", "nginx-http"]}
        self.base_url = f"https://127.0.0.1:{self.ports['nginx']}"
        self.http_url = f"http://127.0.0.1:{self.ports['nginx-http']}"
        # The front door's certificate, from a CA of this run's own.
        subprocess.run([str(ROOT / "scripts" / "tls-cert.sh"), str(work / "tls")], check=True,
                       capture_output=True)
        self.ca_file = str(work / "tls" / "ca.pem")
        self.processes: dict[str, subprocess.Popen] = {}
        self.redis_password = secrets.token_urlsafe(32)
        (work / "redis-password").write_text(self.redis_password)
        (work / "refresh-secret").write_text(secrets.token_urlsafe(48))
        (work / "redis").mkdir()
        self.keys = work / "signing"
        self.auth_command("keys", "generate", "--alg", "eddsa", "--dir", str(self.keys))

    def auth_command(self, *args: str) -> str:
        env = dict(os.environ, AUTH__JWT__KEYS_DIR=str(self.keys), **KEY_TIMING)
        return subprocess.run([str(TARGET / "release" / "auth-service"), *args], env=env, check=True,
                              capture_output=True, text=True).stdout

    def rotate_keys(self) -> tuple[str, float]:
        self.auth_command("keys", "rotate")
        manifest = json.loads((self.keys / "keyset.json").read_text())
        newest = max(manifest["keys"], key=lambda key: key["signs_from"])
        return newest["kid"], float(newest["signs_from"])

    def spawn(self, name: str, argv: list[str], env: dict | None = None, stdin: str | None = None) -> None:
        # Own session: Ctrl-C on the demo reaches only the demo, which stops the rest.
        self.processes[name] = procs.spawn(argv, env, self.work / f"{name}.log", stdin, own_session=True)

    def start_redis(self) -> None:
        # Same settings as the deployment (deploy/redis/redis.conf), on a private port; the
        # password arrives on stdin as in docker-compose.yml.
        config = (ROOT / "deploy" / "redis" / "redis.conf").read_text()
        config = config.replace("bind 0.0.0.0 -::*", "bind 127.0.0.1").replace("dir /data", f"dir {self.work / 'redis'}")
        config = config.replace("port 6379", f"port {self.ports['redis']}")
        (self.work / "redis.conf").write_text(config)
        self.spawn("redis", [find("redis-server"), str(self.work / "redis.conf"), "-"], stdin=f"requirepass {self.redis_password}\n")

    def start(self, instance: str) -> None:
        service = INSTANCES[instance]
        prefix = service.upper()
        env = dict(
            os.environ,
            **{
                f"{prefix}__LISTEN": f"127.0.0.1:{self.ports[instance]}",
                f"{prefix}__REDIS__URL": f"redis://127.0.0.1:{self.ports['redis']}",
                f"{prefix}__REDIS__PASSWORD_FILE": str(self.work / "redis-password"),
                f"{prefix}__JWT__ALGORITHM": "eddsa",
                f"{prefix}__LOG__FORMAT": "json",
                f"{prefix}__WORKERS": "2",
            },
        )
        if service == "auth":
            env.update(KEY_TIMING)
            env["AUTH__JWT__KEYS_DIR"] = str(self.keys)
            env["AUTH__REFRESH__SECRET_FILE"] = str(self.work / "refresh-secret")
            env["AUTH__TRUST_FORWARDED_FOR"] = "true"
            env["AUTH__PUBLIC_URL"] = self.base_url
            env["AUTH__PURGE__TASKS_URLS"] = ",".join(
                f"http://127.0.0.1:{self.ports[name]}" for name in ("tasks-1", "tasks-2")
            )
        else:
            auth = "auth-" + instance.split("-")[1]
            env["TASKS__JWT__JWKS_URL"] = f"http://127.0.0.1:{self.ports[auth]}/.well-known/jwks.json"
            env["TASKS__JWT__JWKS_MIN_INTERVAL_SECS"] = "1"
        self.spawn(instance, [str(TARGET / "release" / f"{service}-service")], env=env)
        self.wait_ready([instance])

    def wait_ready(self, instances: list[str]) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        for instance in instances:
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{self.ports[instance]}/readyz", timeout=2):
                        break
                except OSError:
                    process = self.processes[instance]
                    if process.poll() is not None:
                        raise cluster_scenario.ScenarioFailed(f"{instance} exited; see {self.work / instance}.log")
                    if time.monotonic() > deadline:
                        raise cluster_scenario.ScenarioFailed(f"{instance} not ready after {READY_TIMEOUT} s")
                    time.sleep(0.1)

    def start_nginx(self) -> None:
        config = (ROOT / "deploy" / "nginx" / "nginx.conf").read_text()
        for instance in INSTANCES:
            port = 8081 if instance.startswith("auth") else 8082
            config = config.replace(f"server {instance}:{port} ", f"server 127.0.0.1:{self.ports[instance]} ")
        https, plain = self.ports["nginx"], self.ports["nginx-http"]
        config = config.replace("listen 8443 ssl;", f"listen 127.0.0.1:{https} ssl;")
        config = config.replace("listen 8080;", f"listen 127.0.0.1:{plain};")
        config = config.replace("https://$host:8443$request_uri", f"https://$host:{https}$request_uri")
        config = config.replace("/run/secrets/tls-cert", str(self.work / "tls" / "cert.pem"))
        config = config.replace("/run/secrets/tls-key", str(self.work / "tls" / "key.pem"))
        config = config.replace("root /srv/tessera/web;", f"root {ROOT / 'web'};")
        config = config.replace("access_log /dev/stdout combined;", f"access_log {self.work / 'nginx-access.log'};")
        (self.work / "nginx.conf").write_text(config)
        self.spawn("nginx", [find("nginx"), "-p", f"{self.work}/", "-c", str(self.work / "nginx.conf"), "-e", str(self.work / "nginx-error.log")])
        wait_for_port(self.ports["nginx"], READY_TIMEOUT)

    def up(self) -> None:
        self.start_redis()
        for instance in INSTANCES:
            self.start(instance)
        self.start_nginx()

    def instance(self, upstream_addr: str) -> str:
        port = int(upstream_addr.rsplit(":", 1)[-1])
        return next((name for name, p in self.ports.items() if p == port), upstream_addr)

    def stop(self, instance: str, sig: int = signal.SIGTERM) -> None:
        procs.stop(self.processes.pop(instance), sig, grace=30)

    def restart_redis(self) -> None:
        self.stop("redis", signal.SIGKILL)
        self.start_redis()
        self.wait_ready(list(INSTANCES))

    def service_identities(self) -> dict[str, str]:
        return {name: str(self.processes[name].pid) for name in INSTANCES}

    def down(self) -> None:
        for name in list(self.processes):
            self.stop(name)


def main() -> int:
    signal.signal(signal.SIGALRM, lambda *_: sys.exit(f"demo: over the {TIME_LIMIT} s limit"))
    keep = "--keep" in sys.argv
    if not keep:
        signal.alarm(TIME_LIMIT)
    find("redis-server")
    find("nginx")
    subprocess.run(["cargo", "build", "--release", "--locked", "-p", "auth-service", "-p", "tasks-service"], cwd=ROOT, check=True)
    work = Path(tempfile.mkdtemp(prefix="tessera-demo."))
    work.chmod(0o755)  # nginx workers may run as another user
    cluster = LocalCluster(work)
    passed = False
    try:
        cluster.up()
        print(
            f"demo: redis :{cluster.ports['redis']}, "
            + ", ".join(f"{name} :{cluster.ports[name]}" for name in INSTANCES)
            + f", nginx {cluster.base_url}",
            flush=True,
        )
        began = time.monotonic()
        phases = cluster_scenario.run(cluster, log=lambda line: print(line, flush=True))
        print(cluster_scenario.summary(phases, time.monotonic() - began))
        passed = True
        if keep:
            print(f"demo: still running at {cluster.base_url} (web client there too; its certificate's "
                  f"CA is {cluster.ca_file}); Ctrl-C stops it")
            try:
                signal.pause()
            except KeyboardInterrupt:
                pass
    except cluster_scenario.ScenarioFailed as err:
        print(f"demo: FAILED: {err}", file=sys.stderr)
    finally:
        cluster.down()
        if passed:
            shutil.rmtree(work)
        else:
            print(f"demo: logs kept in {work}", file=sys.stderr)
    return 0 if passed else 1

if __name__ == "__main__":
    sys.exit(main())
