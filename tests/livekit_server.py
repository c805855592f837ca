"""The real livekit-server, built by `make livekit-server`, run with --dev on free loopback ports.

One server serves a whole test session (``livekit`` fixture in conftest); tests that need other
settings (a short empty timeout) start one of their own with :func:`start`. Each server writes
its log to a file; :attr:`RealServer.log_tail` is shown when a test that used it fails.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

VERSION = "v1.13.5"
ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BINARY = ROOT / ".cache" / "livekit-server" / VERSION / "livekit-server"
API_KEY = "APIe2etests"
# livekit-server refuses secrets under 32 characters outside --dev; pyjwt warns under 32 bytes.
API_SECRET = "e2e-secret-0123456789abcdefghijklmnopqrstuvwxyz"
_START_TIMEOUT = 30.0
_rooms = itertools.count()
# Servers running now, for the log shown with a failing test.
RUNNING: list[RealServer] = []


def binary() -> Path:
    """The built server; a clear error when it is missing (``make test`` builds it first)."""
    path = Path(os.environ.get("LIVEKIT_SERVER_BIN") or DEFAULT_BINARY)
    if not path.is_file():
        raise RuntimeError(f"livekit-server {VERSION} is not built at {path}: run `make livekit-server`")
    return path


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def unique_room(prefix: str) -> str:
    """A room name no other test of this run uses."""
    return f"{prefix}-{os.getpid()}-{next(_rooms)}-{time.monotonic_ns() % 10**9}"


@dataclasses.dataclass
class RealServer:
    url: str
    port: int
    api_key: str
    api_secret: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log_tail(self, lines: int = 60) -> str:
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def config(http_port: int, room: dict[str, object] | None = None, redis: str | None = None) -> str:
    """The config body of a server on ``http_port``; ``redis`` (``host:port``) makes it a node
    of the cluster sharing that Redis (its ``node_ip`` 127.0.0.1, as nodes on one host)."""
    rtc: dict[str, object] = {
        "tcp_port": free_port(),
        "udp_port": free_port(socket.SOCK_DGRAM),
        "use_external_ip": False,
    }
    body: dict[str, object] = {
        "port": http_port,
        "bind_addresses": ["127.0.0.1"],
        "rtc": rtc,
        "keys": {API_KEY: API_SECRET},
        "logging": {"level": "info"},
    }
    if room:
        body["room"] = room
    if redis is not None:
        rtc["node_ip"] = "127.0.0.1"
        body["redis"] = {"address": redis}
    return json.dumps(body)  # JSON is YAML


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/", timeout=1) as resp:
            return bool(resp.status == 200 and resp.read() == b"OK")
    except (OSError, urllib.error.URLError):
        return False


@contextlib.contextmanager
def start(log_dir: Path, *, room: dict[str, object] | None = None) -> Iterator[RealServer]:
    """Run ``livekit-server --dev`` until the block ends; ready when ``/`` answers ``OK``.

    ``room`` is the config's ``room`` section (``empty_timeout``, ``departure_timeout``, ...).
    """
    server = launch_on_free_ports(log_dir, lambda port: config(port, room))
    try:
        RUNNING.append(server)
        yield server
    finally:
        if server in RUNNING:
            RUNNING.remove(server)
        stop(server.process)


def launch_on_free_ports(log_dir: Path, body: Callable[[int], str], tries: int = 3) -> RealServer:
    """:func:`launch` on ports free a moment ago, chosen again when one was taken in between
    (the UDP port is checked on 127.0.0.1, and livekit-server binds it on every address)."""
    for attempt in range(tries):
        http_port = free_port()
        try:
            return launch(log_dir, http_port, body(http_port))
        except RuntimeError as e:
            if "address already in use" not in str(e) or attempt == tries - 1:
                raise
    raise AssertionError("unreachable")


def launch(log_dir: Path, http_port: int, body: str) -> RealServer:
    """Start the server with config ``body`` on ``http_port``; return once ``/`` answers ``OK``
    (the process is stopped if it does not)."""
    log_path = log_dir / f"livekit-server-{http_port}-{time.monotonic_ns()}.log"
    url = f"http://127.0.0.1:{http_port}"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(binary()), "--dev", "--config-body", body],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    server = RealServer(url, http_port, API_KEY, API_SECRET, process, log_path)
    deadline = time.monotonic() + _START_TIMEOUT
    while not _ready(url):
        if process.poll() is not None or time.monotonic() > deadline:
            stop(process)
            raise RuntimeError(
                f"livekit-server did not start (exit code {process.poll()}):\n{server.log_tail()}"
            )
        time.sleep(0.05)
    return server


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM; a second one if it lingers (the first waits for open rooms to drain), then SIGKILL."""
    for _ in range(2):
        process.terminate()
        try:
            process.wait(timeout=2)
            return
        except subprocess.TimeoutExpired:
            pass
    process.kill()
    process.wait()
