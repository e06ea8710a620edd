#!/usr/bin/env python3
"""Docker Swarm from the same docker-compose.yml.

`docker stack deploy` reads the older (3.x) file format, which refuses what makes the
compose deployment come up in order (`depends_on` with health conditions) and has no use
for what only a single engine needs (fixed addresses, `build`, `restart`). This script
renders the compose file as a stack file — the compose tool's own resolved `config`,
minus those keys, with the two configuration files as swarm `configs` — and deploys it.

  scripts/swarm.py render            print the stack file
  scripts/swarm.py up                docker stack deploy (stack `tessera`)
  scripts/swarm.py down              docker stack rm
  scripts/swarm.py test              CI: single-node swarm, deploy, converge, smoke, remove

Images must exist on every node (`make images-offline`, or a registry the nodes share);
pass the compose file's parameters (e.g. --env-file target/offline/images.env) as for
compose. The web client's files are a bind mount: on several nodes, have web/ at the
same path on the nodes that may run nginx (or pin nginx with a placement constraint).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

from cluster_scenario import compose_command

ROOT = Path(__file__).resolve().parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
STACK = "tessera"
# The test's own stack name, so it never touches a stack someone deployed with `make swarm-up`.
TEST_STACK = "tessera-swarm-test"
SERVICES = ["redis", "auth-1", "auth-2", "tasks-1", "tasks-2", "nginx"]
# Keys the swarm ignores or refuses; each has a swarm counterpart in the file already.
SINGLE_ENGINE_KEYS = ["build", "depends_on", "restart", "security_opt", "container_name"]
TEST_TIMEOUT = 180


def compose_config(env_file: str | None) -> dict:
    env_args = ["--env-file", env_file] if env_file else []
    out = subprocess.run(
        compose_command() + env_args + ["-f", str(ROOT / "docker-compose.yml"), "config"],
        check=True, capture_output=True, text=True, cwd=ROOT,
    )
    return yaml.safe_load(out.stdout)


def render(config: dict) -> dict:
    stack = {"version": "3.9", "services": {}, "networks": {}, "volumes": config.get("volumes", {}),
             "secrets": config["secrets"], "configs": {}}
    for name, network in config["networks"].items():
        # Overlay networks; the swarm gives every service a stable virtual IP, so no subnet.
        stack["networks"][name] = {k: v for k, v in network.items() if k in ("internal", "driver_opts", "labels")}
    for name, service in config["services"].items():
        service = {k: v for k, v in service.items() if k not in SINGLE_ENGINE_KEYS}
        service["networks"] = list(service.get("networks", {}))
        ports = []
        for port in service.get("ports", []):
            if isinstance(port, str):  # [host_ip:]published:target[/protocol]
                *_, published, target = port.split("/")[0].split(":")
                port = {"published": int(published), "target": int(target)}
            port.pop("host_ip", None)  # the swarm publishes on every interface of every node
            ports.append({**port, "protocol": "tcp", "mode": "ingress"})
        if ports:
            service["ports"] = ports
        volumes, configs = [], []
        for volume in service.get("volumes", []):
            if isinstance(volume, str):
                source, target, *mode = volume.split(":")
                volume = {"type": "bind" if source.startswith("/") else "volume", "source": source, "target": target,
                          "read_only": mode == ["ro"]}
            if volume["type"] == "bind" and Path(volume["source"]).is_file():
                config_name = f"{name}-{Path(volume['source']).name}"
                stack["configs"][config_name] = {"file": volume["source"]}
                configs.append({"source": config_name, "target": volume["target"], "mode": 0o444})
            else:
                volumes.append(volume)
        # Service-level `tmpfs` is not honoured by the swarm; a tmpfs mount is.
        volumes += [{"type": "tmpfs", "target": target} for target in service.pop("tmpfs", [])]
        service["volumes"] = volumes
        limits = service.get("deploy", {}).get("resources", {}).get("limits", {})
        if "cpus" in limits:
            limits["cpus"] = str(limits["cpus"])  # a string in the 3.x schema
        if configs:
            service["configs"] = configs
        stack["services"][name] = service
    return stack


def write_stack(env_file: str | None) -> Path:
    path = TARGET / "swarm" / "stack.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(render(compose_config(env_file)), sort_keys=False))
    return path


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], check=check, capture_output=True, text=True)


def service_tasks(stack: str, service: str) -> list[dict]:
    ids = docker("service", "ps", "-q", "--filter", "desired-state=running", f"{stack}_{service}").stdout.split()
    return [json.loads(docker("inspect", task_id).stdout)[0] for task_id in ids]


def container_health(container_id: str) -> str:
    state = json.loads(docker("inspect", container_id).stdout)[0]["State"]
    return state.get("Health", {}).get("Status", state["Status"])


def converge(stack: str, timeout: float) -> dict[str, str]:
    """Waits until every service has one running task whose container is healthy (or, for
    nginx, which has no healthcheck, running). Returns service → container id."""
    deadline = time.monotonic() + timeout
    while True:
        containers, waiting = {}, []
        for service in SERVICES:
            running = [t for t in service_tasks(stack, service) if t["Status"]["State"] == "running"]
            container = running[0]["Status"].get("ContainerStatus", {}).get("ContainerID") if running else None
            if container and container_health(container) in ("healthy", "running"):
                containers[service] = container
            else:
                waiting.append(service)
        if not waiting:
            return containers
        if time.monotonic() > deadline:
            for service in waiting:
                logs = docker("service", "logs", "--raw", "--tail", "5", f"{stack}_{service}", check=False)
                print(f"--- {service} ---\n{logs.stdout}{logs.stderr}", file=sys.stderr)
            raise SystemExit(f"swarm: not converged after {timeout} s: {waiting}")
        time.sleep(1)


# Inside the nginx container (which carries the openssl CLI; the images have no HTTP
# client): plain HTTP must only redirect, then register, log in and list tasks over HTTPS
# through nginx. (The certificate is verified against its CA by compose-test and the demo.)
SMOKE = r'''
set -eu
exec 3<>/dev/tcp/127.0.0.1/8080
printf 'GET /tasks HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
head -n1 <&3
exec 3<&-
https() {  # METHOD PATH BODY [TOKEN] -> the whole response on stdout
  {
    printf '%s %s HTTP/1.0\r\nHost: localhost\r\nContent-Type: application/json\r\n' "$1" "$2"
    if [ -n "${4:-}" ]; then printf 'Authorization: Bearer %s\r\n' "$4"; fi
    printf 'Content-Length: %s\r\n\r\n%s' "${#3}" "$3"
  } | openssl s_client -quiet -connect 127.0.0.1:8443 -servername localhost 2>/dev/null
}
user="swarm-$(date +%s)-$$"
body="{\"username\":\"$user\",\"password\":\"swarm-smoke-password\"}"
https POST /auth/register "$body" | head -n1
login=$(https POST /auth/login "$body")
echo "$login" | head -n1
token=$(echo "$login" | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
https GET /tasks "" "$token" | head -n1
'''


def smoke(containers: dict[str, str]) -> None:
    out = docker("exec", containers["nginx"], "bash", "-c", SMOKE).stdout.split("\n")
    statuses = [line.split()[1] for line in out if line.startswith("HTTP/")]
    if statuses != ["308", "201", "200", "200"]:
        raise SystemExit(f"swarm: smoke test failed: {out}")
    print("swarm: through nginx: plain HTTP 308, over HTTPS register 201, login 200, GET /tasks 200")


def test() -> int:
    began = time.monotonic()
    subprocess.run([ROOT / "scripts" / "keys.sh"], check=True)
    env_file = str(TARGET / "offline" / "images.env")
    if not Path(env_file).exists():
        subprocess.run([ROOT / "scripts" / "images-offline.sh"], check=True)
    swarm_state = docker("info", "--format", "{{.Swarm.LocalNodeState}}").stdout.strip()
    created_swarm = swarm_state != "active"
    if created_swarm:
        docker("swarm", "init", "--advertise-addr", "127.0.0.1")
    try:
        # Published ports would listen on every interface; the smoke test runs inside the
        # swarm's network instead, so nothing is published here.
        stack = render(compose_config(env_file))
        for service in stack["services"].values():
            service.pop("ports", None)
        if not Path("/proc/net/ip_vs").exists():
            # Service virtual IPs need the kernel's IPVS, which this machine lacks: resolve
            # service names to the tasks themselves (fine while no task is replaced).
            print("swarm: no IPVS in this kernel; testing with endpoint_mode dnsrr")
            for service in stack["services"].values():
                service["deploy"]["endpoint_mode"] = "dnsrr"
        path = TARGET / "swarm" / "stack-test.yml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(stack, sort_keys=False))
        docker("stack", "deploy", "-c", str(path), TEST_STACK)
        containers = converge(TEST_STACK, TEST_TIMEOUT)
        print(f"swarm: {len(containers)} services converged, all healthy, {time.monotonic() - began:.0f} s")
        smoke(containers)
    finally:
        docker("stack", "rm", TEST_STACK, check=False)
        deadline = time.monotonic() + 60
        while docker("network", "ls", "-q", "--filter", f"label=com.docker.stack.namespace={TEST_STACK}").stdout.strip():
            if time.monotonic() > deadline:
                break
            time.sleep(1)
        # The test's Redis data goes too (a real `make swarm-down` keeps it).
        deadline = time.monotonic() + 60
        while docker("volume", "rm", f"{TEST_STACK}_redis-data", check=False).returncode:
            if time.monotonic() > deadline or not docker("volume", "ls", "-q", "--filter", f"name={TEST_STACK}_redis-data").stdout.strip():
                break
            time.sleep(1)
        if created_swarm:
            docker("swarm", "leave", "--force", check=False)
    print(f"swarm: passed in {time.monotonic() - began:.0f} s; stack removed")
    return 0


def main() -> int:
    command = sys.argv[1] if len(sys.argv) > 1 else "render"
    env_file = os.environ.get("TESSERA_ENV_FILE") or (
        str(TARGET / "offline" / "images.env") if (TARGET / "offline" / "images.env").exists() else None
    )
    if command == "render":
        print(yaml.safe_dump(render(compose_config(env_file)), sort_keys=False))
    elif command == "up":
        docker("stack", "deploy", "-c", str(write_stack(env_file)), STACK)
        print(f"swarm: stack {STACK} deployed; `docker stack services {STACK}` shows it converge")
    elif command == "down":
        docker("stack", "rm", STACK)
    elif command == "test":
        return test()
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
