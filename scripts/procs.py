"""What every script that starts processes on loopback needs (stdlib only): a free port,
waiting for a port to accept connections, starting a process with its output in a log,
and stopping it (SIGTERM, then SIGKILL after a grace period). Used by bench.py, demo.py,
compose_test.py (through cluster_scenario.py) and the browser tests (tests/web)."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import IO


class PortTimeout(RuntimeError):
    """Nothing accepted connections on a port in time."""


def free_port() -> int:
    """A port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float) -> None:
    """Returns once something accepts connections on 127.0.0.1:`port`."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise PortTimeout(f"nothing listens on port {port} after {timeout} s")
            time.sleep(0.1)


def spawn(argv: list, env: dict | None = None, log: Path | None = None, stdin: str | None = None,
          own_session: bool = False) -> subprocess.Popen:
    """Starts `argv` with stdout and stderr appended to `log` (discarded without one) and
    `stdin` written to it (then closed). `own_session`: a Ctrl-C at the terminal reaches
    only the script, which then stops the process itself."""
    out: IO | int = open(log, "ab") if log is not None else subprocess.DEVNULL
    process = subprocess.Popen(
        [str(arg) for arg in argv],
        env=env,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=own_session,
    )
    if log is not None:
        out.close()  # the child has its own copy
    if stdin is not None:
        process.stdin.write(stdin.encode())
        process.stdin.close()
    return process


def stop(process: subprocess.Popen, sig: int = signal.SIGTERM, grace: float = 15) -> None:
    """Sends `sig` (unless the process has ended) and waits; SIGKILL after `grace` seconds."""
    if process.poll() is None:
        process.send_signal(sig)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
