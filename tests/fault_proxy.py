"""A loopback proxy in front of a real server that spoils answers on purpose.

Every request is forwarded to ``upstream`` (the real livekit-server) unless its fault says
otherwise; ``plan(n, rpc)`` picks the fault of the n-th request (0-based) for RPC ``rpc``
(``"CreateDispatch"``, ...). Faults that come after forwarding let the server do the work
and then lose or replace its answer, which is what makes a blindly repeated create
dangerous.
"""

from __future__ import annotations

import asyncio
import collections
import enum
import itertools
import socket
from collections.abc import Callable
from types import TracebackType

import aiohttp
from aiohttp import web

_HOP_BY_HOP = {"host", "content-length", "connection", "transfer-encoding", "keep-alive"}


class Fault(str, enum.Enum):
    PASS = "pass"
    DROP_BEFORE = "dropped before forwarding"  # the connection closes, nothing reaches the server
    DROP_AFTER = "dropped after the server answered"  # the server did the work; its answer is lost
    BAD_GATEWAY = "502 after the server answered"
    UNAVAILABLE = "503 after the server answered"
    REFUSED_503 = "503 without forwarding"
    DELAY = "delayed"


Plan = Callable[[int, str], Fault]


def every(n: int, fault: Fault) -> Plan:
    """The fault on every n-th request (the n-th, 2n-th, ...), the others pass."""
    return lambda i, rpc: fault if i % n == n - 1 else Fault.PASS


class FaultProxy:
    """``async with FaultProxy(upstream, plan) as proxy:`` then call ``proxy.url``."""

    def __init__(self, upstream: str, plan: Plan, *, delay: float = 0.05) -> None:
        self._upstream = upstream.rstrip("/")
        self._plan = plan
        self._delay = delay
        self._numbers = itertools.count()
        self.faults: collections.Counter[Fault] = collections.Counter()
        self.by_rpc: collections.Counter[str] = collections.Counter()
        self.received: list[tuple[str, dict[str, str]]] = []  # (rpc, headers) of each request
        self._runner: web.AppRunner | None = None
        self._client: aiohttp.ClientSession | None = None
        self.url = ""

    async def __aenter__(self) -> FaultProxy:
        self._client = aiohttp.ClientSession(auto_decompress=False)
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        sock = socket.create_server(("127.0.0.1", 0))
        await web.SockSite(self._runner, sock).start()
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._client is not None:
            await self._client.close()

    @property
    def spoiled(self) -> int:
        """Requests whose answer did not come back as the server wrote it (delays excluded)."""
        return sum(n for f, n in self.faults.items() if f not in (Fault.PASS, Fault.DELAY))

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        rpc = request.path.rsplit("/", 1)[-1]
        fault = self._plan(next(self._numbers), rpc)
        self.faults[fault] += 1
        self.by_rpc[rpc] += 1
        self.received.append((rpc, dict(request.headers)))
        body = await request.read()
        if fault is Fault.DROP_BEFORE:
            return _drop(request)
        if fault is Fault.REFUSED_503:
            return web.Response(status=503, text="no healthy upstream")
        if fault is Fault.DELAY:
            await asyncio.sleep(self._delay)
        assert self._client is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        async with self._client.request(
            request.method, self._upstream + request.path_qs, data=body, headers=headers
        ) as upstream:
            answer = await upstream.read()
            status, content_type = upstream.status, upstream.headers.get("Content-Type")
        if fault is Fault.DROP_AFTER:
            return _drop(request)
        if fault is Fault.BAD_GATEWAY:
            return web.Response(status=502, text="<html>502 Bad Gateway</html>", content_type="text/html")
        if fault is Fault.UNAVAILABLE:
            return web.Response(status=503, text="upstream connect error")
        out = web.Response(status=status, body=answer)
        if content_type:
            out.headers["Content-Type"] = content_type
        return out


def _drop(request: web.Request) -> web.StreamResponse:
    assert request.transport is not None
    request.transport.close()
    return web.Response()
