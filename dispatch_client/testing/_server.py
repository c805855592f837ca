"""LocalDispatchServer: an in-memory AgentDispatchService that answers as livekit-server v1.13.5 does."""

from __future__ import annotations

import contextlib
import logging
import random
import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from types import TracebackType

import aiohttp
from aiohttp import web

from .._checks import require_positive_int, require_seconds, require_text
from .._generated.livekit import AgentDispatch
from .._transport.retry import RetryPolicy
from ..errors import TwirpError, TwirpErrorCode
from ..service import DEFAULT_RETRY, DEFAULT_TIMEOUT, AgentDispatchService
from . import _routes, _twirp
from ._api import TwirpMethods
from ._join import join_request
from ._listening import Listening, base_url, listen, non_negative
from ._state import DEFAULT_EMPTY_TIMEOUT, DispatchStore
from ._tokens import TokenRejected, TokenVerifier
from ._workers import SimulatedWorker, WorkerAnswer

__all__ = ["DEFAULT_API_KEY", "MAX_BODY_BYTES", "NOT_RUNNING_WAIT", "LocalDispatchServer"]

logger = logging.getLogger("dispatch_client.testing")

DEFAULT_API_KEY = "devkey"
MAX_BODY_BYTES = 10 * 1024 * 1024  # livekit-server's limit after v1.13.5 (opt in with max_body_bytes=)
NOT_RUNNING_WAIT = 3.0  # livekit-server's internal RPC timeout, in seconds


class LocalDispatchServer:
    """A stand-in for livekit-server v1.13.5's ``AgentDispatchService`` on a local port, state in memory.

        async with LocalDispatchServer(api_key="devkey", api_secret=secret) as server:
            async with server.connect() as dispatch:
                await dispatch.list_dispatch("room")  # or any client, with server.url

    It answers as the release v1.13.5 does, checked against that binary request by request
    (tests/test_differential.py lists what still differs): Twirp in JSON and binary
    protobuf, its token rules and plain-text 401s, its validation and messages, a default
    dispatch (``agent_name ""``) in every room a create starts, ids of ``AD_`` and 12
    base57 characters, no deduplication on ``X-Livekit-Request-Id``, no body limit.

    It also serves ``RoomService``'s two reads of the room store, at once: ``ListRooms``
    (a token with ``roomList``) and ``ListParticipants`` (``roomAdmin`` on the room), which
    lists the agents simulated workers sent into the room.

    A room nobody joined runs from the create that starts it until ``empty_timeout``
    seconds later (300, livekit-server's default; ``None``: until :meth:`close_room`); one
    with agents runs while they are in it, and 20 s after the last one left. List, get and
    delete in a room that is not running answer, as livekit-server does after its internal
    RPC times out, ``unavailable`` "no response from servers" -- after ``not_running_wait``
    seconds (3, as the real server; tests may make it short, the answer is the same). An
    ``X-Twirp-Timeout-Ms`` deadline that ends first answers ``canceled`` (408) then; one of
    0 or less does so at once, for every dispatch method (the RoomService reads ignore it).

    Without ``api_secret`` a random one is made (see :attr:`api_secret`). ``port=0`` picks a
    free port. ``clock`` (Unix nanoseconds) stamps ``created_at``, judges token times and
    room timeouts; ``rng`` draws dispatch ids. ``max_body_bytes`` (none by default, as in
    v1.13.5) refuses larger bodies with a plain-text 413, as later releases do at 10 MiB.
    :meth:`close` gives requests in progress ``shutdown_timeout`` seconds, then cancels them.
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
        self._not_running_wait = non_negative("not_running_wait", not_running_wait)
        self._share(DispatchStore(clock=clock, rng=rng or random.Random(), empty_timeout=empty_timeout))
        self._clock = clock
        self._tokens = TokenVerifier({self._api_key: self._api_secret}, clock=lambda: clock() / 1e9)
        self._listening: Listening | None = None
        self._url: str | None = None

    def _share(self, store: DispatchStore) -> LocalDispatchServer:
        """Serve ``store``, a state shared with other servers (LocalCloud's regions, LocalCluster's
        nodes), instead of one of its own; before :meth:`start`. Returns the server."""
        self._store = store
        self._methods = TwirpMethods(store, not_running_wait=self._not_running_wait, max_body=self._max_body)
        return self

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

    def join(self, token: str) -> list[AgentDispatch]:
        """A participant joins with ``token``, as a client SDK's connect would; the room's
        dispatches after the join.

        A join that starts the room dispatches the token's ``roomConfig.agents`` (and then no
        default dispatch); a room that is already running ignores them, as livekit-server
        v1.13.5 to v1.13.11 do. The participant stays (keeping the room running) until
        :meth:`leave`. A token the server would refuse raises ValueError with its reason.
        """
        try:
            request = join_request(self._tokens, token)
        except TokenRejected as e:
            raise ValueError(f"the server refuses the join: {e}") from None
        joined = self._store.join(request)
        if joined is None:
            raise ValueError(f"the server refuses the join: no node answers for room {request.room!r}")
        return joined

    def leave(self, room: str, identity: str) -> bool:
        """The participant ``identity`` leaves ``room``; whether it was in it."""
        return self._store.leave(room, identity)

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
        delay = non_negative("delay", delay)
        return self._store.workers.add(agent_name, delay=delay, answer=WorkerAnswer(answer))

    def remove_worker(self, worker: SimulatedWorker) -> bool:
        """Unregister ``worker`` (jobs it already answered stay as they are); whether it was registered."""
        return self._store.workers.remove(worker)

    def kill_worker(self, worker: SimulatedWorker) -> bool:
        """``worker`` dies, as a worker process killed: it is unregistered, the agents it sent leave
        their rooms at once, and their jobs keep showing ``JS_RUNNING`` with no error text (what
        livekit-server v1.13.5 shows of a dead worker's job); whether it was registered. A room it
        leaves empty closes 20 s later, as any room whose last participant left."""
        return self._store.kill_worker(worker)

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
        if self._listening is not None:
            raise RuntimeError("the server is already running")
        self._listening = await listen(
            self.app(), self._host, self._port, shutdown_timeout=self._shutdown_timeout, lingering_time=0
        )
        self._url = base_url(self._host, self._listening.port)
        return self._url

    async def close(self) -> None:
        """Stop listening and close open connections; the state is kept.

        Requests in progress get ``shutdown_timeout`` seconds to finish, then are cancelled.
        """
        listening, self._listening, self._url = self._listening, None, None
        if listening is not None:
            await listening.stop()

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
                response = _twirp.plain_response(413, "request body too large")
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
        for service_path in _routes.SERVICE_PATHS:
            if path == service_path[:-1]:
                return _routes.redirect_to_service(request, service_path)
            if path.startswith(service_path):
                return await self._methods.answer(request, path, grant)
        return _routes.not_found()


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
