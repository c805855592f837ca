"""Stopping the local server, in process and as `dispatch-client serve`, while a request is half sent."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from local_helpers import KEY, SECRET, token

from dispatch_client.testing import LocalDispatchServer

SCRIPT = Path(sys.executable).with_name("dispatch-client")
# Waits for the server to answer 100 Continue, so the request is known to be in its handler.
STALLED_HEAD = (
    "POST /twirp/livekit.AgentDispatchService/ListDispatch HTTP/1.1\r\nHost: x\r\n"
    "Content-Type: application/json\r\nAuthorization: Bearer {token}\r\n"
    "Content-Length: 100\r\nExpect: 100-continue\r\n\r\n"
)
# A server that would wait a minute for a stalled request, run as `serve` runs it.
PATIENT_SERVE = """
import sys
from dispatch_client.cli.local import serve_until_stopped
from dispatch_client.testing import LocalDispatchServer

server = LocalDispatchServer(sys.argv[1], sys.argv[2], port=0, shutdown_timeout=60)
serve_until_stopped(server, "127.0.0.1", 0, as_json=True, dev_secret=False)
"""


def address(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


@contextmanager
def stalled_request(url: str) -> Iterator[None]:
    """A connection whose request is in the server's handler, one byte of its 100 sent."""
    with socket.create_connection(address(url), timeout=10) as sock:
        sock.sendall(STALLED_HEAD.format(token=token(key=KEY, secret=SECRET)).encode())
        assert sock.recv(1024).startswith(b"HTTP/1.1 100 ")
        sock.sendall(b"{")
        yield


async def test_close_ends_a_stalled_request_within_the_shutdown_timeout() -> None:
    server = LocalDispatchServer(KEY, SECRET, shutdown_timeout=0.2)
    await server.start()
    host, port = address(server.url)
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(STALLED_HEAD.format(token=token(key=KEY, secret=SECRET)).encode())
    assert (await reader.readline()).startswith(b"HTTP/1.1 100 ")
    await reader.readline()
    writer.write(b"{")
    await writer.drain()
    await asyncio.wait_for(server.close(), timeout=10)
    assert await reader.read() == b""  # the connection was closed, no answer sent
    writer.close()
    await writer.wait_closed()


@pytest.mark.parametrize("value", [0, -1, float("inf"), float("nan"), "1", True])
def test_shutdown_timeout_must_be_a_positive_number(value: object) -> None:
    with pytest.raises(ValueError, match="shutdown_timeout"):
        LocalDispatchServer(KEY, SECRET, shutdown_timeout=value)  # type: ignore[arg-type]


def start(*args: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        args,
        env={k: v for k, v in os.environ.items() if not k.startswith("LIVEKIT_")},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    return proc, json.loads(proc.stdout.readline())["url"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_stops_on_a_signal_with_a_request_stalled(sig: signal.Signals) -> None:
    proc, url = start(str(SCRIPT), "serve", "--port", "0", "--api-key", KEY, "--api-secret", SECRET, "--json")
    try:
        with stalled_request(url):
            proc.send_signal(sig)
            proc.wait(timeout=10)
    finally:
        proc.kill()
        _, err = proc.communicate()
    assert proc.returncode == 0
    assert err.splitlines()[-1] == "Stopped."
    assert "Traceback" not in err


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_second_signal_stops_serve_at_once(sig: signal.Signals) -> None:
    proc, url = start(sys.executable, "-c", PATIENT_SERVE, KEY, SECRET)
    assert proc.stderr is not None
    try:
        with stalled_request(url):
            proc.send_signal(sig)
            assert proc.stderr.readline().startswith("Stopping")
            proc.send_signal(sig)
            proc.wait(timeout=10)
    finally:
        proc.kill()
        _, err = proc.communicate()
    assert proc.returncode == -sig  # ended by the signal itself, with nothing more said
    assert err == ""
