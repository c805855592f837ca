"""LocalDispatchServer: an in-memory AgentDispatchService that answers as livekit-server does."""

from __future__ import annotations

import logging
import random
import secrets
import socket
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from types import TracebackType

import betterproto2
from aiohttp import web

from .._checks import require_positive_int, require_seconds, require_text
from .._generated.livekit import (
    AgentDispatch,
    CreateAgentDispatchRequest,
    DeleteAgentDispatchRequest,
    ListAgentDispatchRequest,
    ListAgentDispatchResponse,
)
from .._retry import RetryPolicy
from .._transport import REQUEST_ID_HEADER
from ..errors import TwirpError, TwirpErrorCode
from ..service import DEFAULT_RETRY, DEFAULT_TIMEOUT, AgentDispatchService, connect
from . import _twirp
from ._state import DispatchStore
from ._tokens import TokenRejected, TokenVerifier

__all__ = ["DEFAULT_API_KEY", "MAX_BODY_BYTES", "LocalDispatchServer"]

logger = logging.getLogger("dispatch_client.testing")

DEFAULT_API_KEY = "devkey"
MAX_BODY_BYTES = 10 * 1024 * 1024
_REQUESTS = (CreateAgentDispatchRequest, DeleteAgentDispatchRequest, ListAgentDispatchRequest)
_REQUEST_TYPES: dict[str, type[betterproto2.Message]] = {
    "CreateDispatch": CreateAgentDispatchRequest,
    "DeleteDispatch": DeleteAgentDispatchRequest,
    "ListDispatch": ListAgentDispatchRequest,
}


class LocalDispatchServer:
    """A stand-in for livekit-server's ``AgentDispatchService`` on a local port, state in memory.

    ::

        async with LocalDispatchServer(api_key="devkey", api_secret=secret) as server:
            async with server.connect() as dispatch:
                await dispatch.list_dispatch("room")  # or any client, with server.url

    It speaks Twirp in JSON and binary protobuf, checks tokens as livekit-server does
    (HS256, ``iss`` naming ``api_key``, ``exp``, a minute of leeway, ``roomAdmin`` on the
    request's room) and applies its validation and default limits. Without
    ``api_secret`` a random one is made (see :attr:`api_secret`). ``port=0`` picks a free
    port. ``clock`` (Unix nanoseconds) stamps ``created_at``/``deleted_at`` and judges
    token times; ``rng`` draws dispatch ids. :meth:`close` gives requests in progress
    ``shutdown_timeout`` seconds to finish, then cancels them.
    """

    def __init__(
        self,
        api_key: str = DEFAULT_API_KEY,
        api_secret: str | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        max_body_bytes: int = MAX_BODY_BYTES,
        clock: Callable[[], int] = time.time_ns,
        rng: random.Random | None = None,
        shutdown_timeout: float = 1.0,
    ) -> None:
        self._api_key = require_text("api_key", api_key)
        if api_secret is None:
            api_secret = secrets.token_urlsafe(32)
        self._api_secret = require_text("api_secret", api_secret)
        self._host = require_text("host", host)
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ValueError(f"port must be an int from 0 to 65535, got {port!r}")
        self._port = port
        self._max_body = require_positive_int("max_body_bytes", max_body_bytes)
        self._shutdown_timeout = require_seconds("shutdown_timeout", shutdown_timeout)
        self._store = DispatchStore(clock=clock, rng=rng if rng is not None else random.Random())
        self._tokens = TokenVerifier({self._api_key: self._api_secret}, clock=lambda: clock() / 1e9)
        self._runner: web.AppRunner | None = None
        self._url: str | None = None

    @property
    def api_key(self) -> str:
        return self._api_key

    @property
    def api_secret(self) -> str:
        return self._api_secret

    @property
    def url(self) -> str:
        """``http://host:port`` of the running server."""
        if self._url is None:
            raise RuntimeError("the server is not running: use `async with` or await start()")
        return self._url

    def rooms(self) -> dict[str, list[AgentDispatch]]:
        """A copy of the state: every room that has had a dispatch, with its dispatches."""
        return self._store.rooms()

    def app(self) -> web.Application:
        """The aiohttp application, to mount elsewhere (aiohttp's TestServer, a larger app)."""
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    def connect(
        self, *, timeout: float = DEFAULT_TIMEOUT, retry: RetryPolicy = DEFAULT_RETRY
    ) -> AbstractAsyncContextManager[AgentDispatchService]:
        """:func:`dispatch_client.connect` to this server, with its credentials."""
        return connect(self.url, self._api_key, self._api_secret, timeout=timeout, retry=retry)

    async def start(self) -> str:
        """Listen and serve; returns :attr:`url`."""
        if self._runner is not None:
            raise RuntimeError("the server is already running")
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        sock = socket.create_server((self._host, self._port), family=family)
        runner = web.AppRunner(
            self.app(),
            handle_signals=False,
            access_log=None,
            lingering_time=0,
            shutdown_timeout=self._shutdown_timeout,
        )
        try:
            await runner.setup()
            await web.SockSite(runner, sock).start()
        except BaseException:
            await runner.cleanup()
            sock.close()
            raise
        self._runner = runner
        port = sock.getsockname()[1]
        host = f"[{self._host}]" if family == socket.AF_INET6 else self._host
        self._url = f"http://{host}:{port}"
        return self._url

    async def close(self) -> None:
        """Stop listening and close open connections; the state is kept.

        Requests in progress get ``shutdown_timeout`` seconds to finish, then are cancelled.
        """
        runner, self._runner, self._url = self._runner, None, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> LocalDispatchServer:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"LocalDispatchServer(url={self._url!r}, api_key={self._api_key!r})"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        try:
            return await self._answer(request)
        except TwirpError as err:
            return _twirp.error_response(err)
        except TokenRejected as e:
            return _twirp.plain_response(401, str(e))
        except _twirp.BodyTooLarge:
            resp = _twirp.plain_response(413, f"request body larger than {self._max_body} bytes")
            resp.force_close()  # the rest of the body is never read: the connection ends here
            return resp
        except Exception:
            logger.exception("%s %s failed", request.method, request.path)
            return _twirp.error_response(TwirpError(TwirpErrorCode.INTERNAL, "internal server error"))

    async def _answer(self, request: web.Request) -> web.Response:
        # As in livekit-server, the token is checked before Twirp sees the request,
        # and the grant only once the request's room is known.
        length = request.content_length
        if length is not None and length > self._max_body:
            raise _twirp.BodyTooLarge
        grant = self._tokens.grant(request.headers.get("Authorization"), request.query.get("access_token"))
        method = _twirp.method_of(request.method, request.path)
        encoding = _twirp.encoding_of(request.headers.get("Content-Type", ""), request.method, request.path)
        body = await _twirp.read_body(request, self._max_body)
        req = _twirp.decode_request(_REQUEST_TYPES[method], body, encoding)
        assert isinstance(req, _REQUESTS)
        if grant is None or not grant.room_admin or grant.room != req.room:
            # livekit-server answers a missing grant with unauthenticated, never permission_denied.
            raise TwirpError(TwirpErrorCode.UNAUTHENTICATED, "permissions denied")
        result: AgentDispatch | ListAgentDispatchResponse
        if isinstance(req, CreateAgentDispatchRequest):
            result = self._store.create(req, request.headers.get(REQUEST_ID_HEADER))
        elif isinstance(req, DeleteAgentDispatchRequest):
            result = self._store.delete(req.room, req.dispatch_id)
        else:
            result = ListAgentDispatchResponse(agent_dispatches=self._store.find(req.room, req.dispatch_id))
        return _twirp.response(result, encoding)
