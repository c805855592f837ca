"""Serving an aiohttp application on a socket of its own, and the settings checks the servers share."""

from __future__ import annotations

import socket

from aiohttp import web

__all__ = ["Listening", "base_url", "listen", "non_negative"]


class Listening:
    """An application served on a port; :meth:`stop` closes the port and open connections."""

    def __init__(self, runner: web.AppRunner, port: int) -> None:
        self.runner = runner
        self.port = port

    async def stop(self) -> None:
        await self.runner.cleanup()


async def listen(
    app: web.Application, host: str, port: int, *, shutdown_timeout: float, lingering_time: float = 10.0
) -> Listening:
    """Serve ``app`` on ``host:port`` (``port=0``: a free one); requests in progress get
    ``shutdown_timeout`` seconds when it stops."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.create_server((host, port), family=family)
    runner = web.AppRunner(
        app,
        handle_signals=False,
        access_log=None,
        lingering_time=lingering_time,
        shutdown_timeout=shutdown_timeout,
    )
    try:
        await runner.setup()
        await web.SockSite(runner, sock).start()
    except BaseException:
        await runner.cleanup()
        sock.close()
        raise
    return Listening(runner, int(sock.getsockname()[1]))


def base_url(host: str, port: int) -> str:
    """``http://host:port``, an IPv6 host in brackets."""
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def non_negative(name: str, value: float) -> float:
    """``value`` as seconds, 0 or more; ValueError otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
        raise ValueError(f"{name} must be a number of seconds, 0 or more, got {value!r}")
    return float(value)
