"""LocalDispatchServer: an in-memory AgentDispatchService that answers as livekit-server v1.13.5 does."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from types import TracebackType

import aiohttp
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
from .._transport.retry import RetryPolicy
from ..errors import TwirpError, TwirpErrorCode
from ..service import DEFAULT_RETRY, DEFAULT_TIMEOUT, AgentDispatchService
from . import _routes, _twirp
from ._state import DEFAULT_EMPTY_TIMEOUT, DispatchStore, check_create, room_error
from ._tokens import Grant, TokenRejected, TokenVerifier
from ._workers import SimulatedWorker, WorkerAnswer

__all__ = ["DEFAULT_API_KEY", "MAX_BODY_BYTES", "NOT_RUNNING_WAIT", "LocalDispatchServer"]

logger = logging.getLogger("dispatch_client.testing")

DEFAULT_API_KEY = "devkey"
MAX_BODY_BYTES = 10 * 1024 * 1024  # livekit-server's limit after v1.13.5 (opt in with max_body_bytes=)
NOT_RUNNING_WAIT = 3.0  # livekit-server's internal RPC timeout, in seconds
TIMEOUT_HEADER = "X-Twirp-Timeout-Ms"
_REQUESTS = (CreateAgentDispatchRequest, DeleteAgentDispatchRequest, ListAgentDispatchRequest)
_REQUEST_TYPES: dict[str, type[betterproto2.Message]] = {
    "CreateDispatch": CreateAgentDispatchRequest,
    "DeleteDispatch": DeleteAgentDispatchRequest,
    "ListDispatch": ListAgentDispatchRequest,
}


class LocalDispatchServer:
    """A stand-in for livekit-server v1.13.5's ``AgentDispatchService`` on a local port, state in memory.

    ::

        async with LocalDispatchServer(api_key="devkey", api_secret=secret) as server:
            async with server.connect() as dispatch:
                await dispatch.list_dispatch("room")  # or any client, with server.url

    It answers as the release v1.13.5 does, checked against that binary request by request
    (tests/test_differential.py lists what still differs): Twirp in JSON and binary
    protobuf, its token rules and plain-text 401s, its validation and messages, a default
    dispatch (``agent_name ""``) in every room a create starts, ids of ``AD_`` and 12
    base57 characters, no deduplication on ``X-Livekit-Request-Id``, no body limit.

    A room runs from the create that starts it until ``empty_timeout`` seconds later (300,
    livekit-server's default; ``None``: until :meth:`close_room`). List, get and delete in
    a room that is not running answer, as livekit-server does after its internal RPC times
    out, ``unavailable`` "no response from servers" -- after ``not_running_wait`` seconds
    (3, as the real server; tests may make it short, the answer is the same). An
    ``X-Twirp-Timeout-Ms`` deadline that ends first answers ``canceled`` (408) then; one of
    0 or less does so at once, for every method.

    Without ``api_secret`` a random one is made (see :attr:`api_secret`). ``port=0`` picks a
    free port. ``clock`` (Unix nanoseconds) stamps ``created_at``, judges token times and
    room timeouts; ``rng`` draws dispatch ids. ``max_body_bytes`` (none by default, as in
    v1.13.5) refuses larger bodies with a plain-text 413, as later releases do at 10 MiB.
    :meth:`close` gives requests in progress ``shutdown_timeout`` seconds, then cancels them.
    ``store`` shares one state between servers (LocalCloud's regions); ``rng`` and
    ``empty_timeout`` are then the store's.
    """

    def __init__(
        self,
        api_key: str = DEFAULT_API_KEY,
        api_secret: str | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        max_body_bytes: int | None = None,
        clock: Callable[[], int] = time.time_ns,
        rng: random.Random | None = None,
        shutdown_timeout: float = 1.0,
        empty_timeout: float | None = DEFAULT_EMPTY_TIMEOUT,
        not_running_wait: float = NOT_RUNNING_WAIT,
        store: DispatchStore | None = None,
    ) -> None:
        self._api_key = require_text("api_key", api_key)
        if api_secret is None:
            api_secret = secrets.token_urlsafe(32)
        self._api_secret = require_text("api_secret", api_secret)
        self._host = require_text("host", host)
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ValueError(f"port must be an int from 0 to 65535, got {port!r}")
        self._port = port
        self._max_body = (
            None if max_body_bytes is None else require_positive_int("max_body_bytes", max_body_bytes)
        )
        self._shutdown_timeout = require_seconds("shutdown_timeout", shutdown_timeout)
        if empty_timeout is not None:
            empty_timeout = require_seconds("empty_timeout", empty_timeout)
        self._not_running_wait = _non_negative("not_running_wait", not_running_wait)
        if store is None:
            rng = rng if rng is not None else random.Random()
            store = DispatchStore(clock=clock, rng=rng, empty_timeout=empty_timeout)
        self._store = store
        self._clock = clock
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
        """A copy of the state: every running room, with its dispatches."""
        return self._store.rooms()

    def close_room(self, room: str) -> bool:
        """End ``room`` now, as its empty timeout would (its dispatches go with it); whether it ran."""
        return self._store.close_room(room)

    def add_worker(
        self, agent_name: str, *, delay: float = 0.0, answer: WorkerAnswer | str = WorkerAnswer.ACCEPT
    ) -> SimulatedWorker:
        """Register a simulated agent worker for ``agent_name`` (see :mod:`._workers` for the rules).

        Every dispatch of ``agent_name`` made from now on gets a job ``delay`` seconds later (of the
        server's clock): ``JS_RUNNING`` with the agent's identity when ``answer`` is ``"accept"``,
        ``JS_SUCCESS`` and ended when ``"reject"``, none when ``"ignore"``. Dispatches made before
        get no job, as on livekit-server v1.13.5.
        """
        if not isinstance(agent_name, str):
            raise ValueError(f"agent_name must be a string, got {agent_name!r}")
        delay = _non_negative("delay", delay)
        return self._store.workers.add(agent_name, delay=delay, answer=WorkerAnswer(answer))

    def remove_worker(self, worker: SimulatedWorker) -> bool:
        """Unregister ``worker`` (jobs it already answered stay as they are); whether it was registered."""
        return self._store.workers.remove(worker)

    def workers(self) -> list[SimulatedWorker]:
        """The simulated workers registered now."""
        return self._store.workers.workers()

    def app(self) -> web.Application:
        """The aiohttp application, to mount elsewhere (aiohttp's TestServer, a larger app)."""
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    def connect(
        self, *, timeout: float = DEFAULT_TIMEOUT, retry: RetryPolicy = DEFAULT_RETRY
    ) -> AbstractAsyncContextManager[AgentDispatchService]:
        """A client of this server on a session of its own, as :func:`dispatch_client.connect` makes
        one, with the server's credentials and its clock (tokens are signed at the server's time)."""
        return _connected(self, timeout=timeout, retry=retry)

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
        response = _routes.preflight(request)
        if response is None:
            try:
                response = await self._route(request)
            except TwirpError as err:
                response = _twirp.error_response(err)
            except TokenRejected as e:
                response = _twirp.plain_response(401, str(e))
            except _twirp.BodyTooLarge:
                response = _twirp.plain_response(413, f"request body larger than {self._max_body} bytes")
                response.force_close()  # the rest of the body is never read: the connection ends here
            except ConnectionResetError:
                # The client went away mid-request (a body cut short): not the server's fault, and
                # nobody is left to answer.
                logger.debug("%s %s: the client went away", request.method, request.path)
                response = _twirp.plain_response(400, "client went away")
                response.force_close()
            except Exception:
                logger.exception("%s %s failed", request.method, request.path)
                response = _twirp.error_response(TwirpError(TwirpErrorCode.INTERNAL, "internal server error"))
            _routes.cors(request, response)
        return response

    async def _route(self, request: web.Request) -> web.Response:
        # As in livekit-server, the token is checked before any routing, and the grant
        # only once the request's room is known.
        path = _routes.strip_double_slash(request.path)
        grant = self._tokens.grant(request.headers.get("Authorization"), request.query.get("access_token"))
        if path == "/":
            return _routes.health()
        if path == _routes.SERVICE_PATH[:-1]:
            return _routes.redirect_to_service(request)
        if not path.startswith(_routes.SERVICE_PATH):
            return _routes.not_found()
        return await self._twirp(request, path, grant)

    async def _twirp(self, request: web.Request, path: str, grant: Grant | None) -> web.Response:
        method = _twirp.method_of(request.method, path)
        encoding = _twirp.encoding_of(request.headers.get("Content-Type", ""), request.method, path)
        body = await _twirp.read_body(request, self._max_body)
        req = _twirp.decode_request(_REQUEST_TYPES[method], body, encoding)
        deadline = _twirp.timeout_of(request.headers.get(TIMEOUT_HEADER))
        if not isinstance(req, _REQUESTS):
            raise TypeError(f"unexpected request {type(req).__name__}")
        if grant is None or not grant.room_admin or grant.room != req.room:
            # livekit-server answers a missing grant with unauthenticated, never permission_denied.
            raise TwirpError(TwirpErrorCode.UNAUTHENTICATED, "permissions denied")
        if isinstance(req, CreateAgentDispatchRequest):
            check_create(req)
        if deadline is not None and deadline <= 0:
            raise room_error(TwirpErrorCode.CANCELED, "request canceled")
        result: AgentDispatch | ListAgentDispatchResponse
        if isinstance(req, CreateAgentDispatchRequest):
            result = self._store.create(req)
        else:
            await self._require_running(req.room, deadline)
            if isinstance(req, DeleteAgentDispatchRequest):
                result = self._store.delete(req.room, req.dispatch_id)
            else:
                result = ListAgentDispatchResponse(
                    agent_dispatches=self._store.find(req.room, req.dispatch_id)
                )
        return _twirp.response(result, encoding)

    async def _require_running(self, room: str, deadline: float | None) -> None:
        """Nothing answers for a room that is not running: livekit-server's RPC waits, then gives up."""
        if self._store.running(room):
            return
        if deadline is not None and deadline < self._not_running_wait:
            await asyncio.sleep(deadline)
            raise room_error(TwirpErrorCode.CANCELED, "request canceled")
        await asyncio.sleep(self._not_running_wait)
        raise room_error(TwirpErrorCode.UNAVAILABLE, "no response from servers")


@contextlib.asynccontextmanager
async def _connected(
    server: LocalDispatchServer, *, timeout: float, retry: RetryPolicy
) -> AsyncIterator[AgentDispatchService]:
    clock = server._clock
    async with aiohttp.ClientSession() as session:
        yield AgentDispatchService(
            session,
            server.url,
            server.api_key,
            server.api_secret,
            timeout=timeout,
            retry=retry,
            clock=lambda: clock() / 1e9,
        )


def _non_negative(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
        raise ValueError(f"{name} must be a number of seconds, 0 or more, got {value!r}")
    return float(value)
