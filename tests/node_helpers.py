"""Helpers for the node-list tests: what the client sent where (seen from its own session), and
nodes of one cluster (a LocalCloud, whose servers share one state as a cluster's nodes share Redis)."""

from __future__ import annotations

import collections
import dataclasses
from types import SimpleNamespace

import aiohttp
import orjson
from aiohttp import web
from aiohttp.test_utils import TestServer
from yarl import URL

NODES = ["n1", "n2", "n3"]


@dataclasses.dataclass(frozen=True)
class Sent:
    node: str  # http://host:port
    path: str
    authorization: str | None

    @property
    def rpc(self) -> str:
        """The last part of the path: CreateDispatch, ListDispatch, regions, ..."""
        return self.path.rsplit("/", 1)[-1]


class Seen:
    """Every request the client's session starts, refused ones included, in order
    (``aiohttp.TraceConfig``: aiohttp's own hook, no mock)."""

    def __init__(self) -> None:
        self.sent: list[Sent] = []

    def config(self) -> aiohttp.TraceConfig:
        config = aiohttp.TraceConfig()

        async def started(
            session: aiohttp.ClientSession, context: SimpleNamespace, params: aiohttp.TraceRequestStartParams
        ) -> None:
            url: URL = params.url
            node = f"{url.scheme}://{url.host}:{url.port}"
            self.sent.append(Sent(node, url.path, params.headers.get("Authorization")))

        config.on_request_start.append(started)
        return config

    def nodes(self, rpc: str | None = None) -> collections.Counter[str]:
        """How many requests (of ``rpc``, or all) went to each node."""
        return collections.Counter(s.node for s in self.sent if rpc is None or s.rpc == rpc)

    def take(self) -> list[str]:
        """The nodes of the requests since the last take, in order."""
        nodes = [s.node for s in self.sent]
        self.sent.clear()
        return nodes


class StubNode:
    """A node that gives every request one answer: ``status`` with ``body`` (``content_type``).

    :meth:`gateway` is a node's reverse proxy whose upstream is gone (an HTML page, as nginx
    gives it); :meth:`twirp` a node answering a Twirp error of its own. ``hits`` counts requests.
    """

    def __init__(self, status: int, body: bytes, content_type: str) -> None:
        self._answer = (status, body, content_type)
        self.hits = 0
        self._server: TestServer | None = None
        self.url = ""

    @classmethod
    def gateway(cls, status: int) -> StubNode:
        return cls(status, f"<html>{status} from the proxy</html>".encode(), "text/html")

    @classmethod
    def twirp(cls, code: str, status: int, message: str) -> StubNode:
        return cls(status, orjson.dumps({"code": code, "msg": message}), "application/json")

    async def _handle(self, request: web.Request) -> web.Response:
        self.hits += 1
        await request.read()
        status, body, content_type = self._answer
        return web.Response(status=status, body=body, content_type=content_type)

    async def __aenter__(self) -> StubNode:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._server = TestServer(app, host="127.0.0.1")
        await self._server.start_server()
        self.url = str(self._server.make_url("")).rstrip("/")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            await self._server.close()
