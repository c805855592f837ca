"""AgentDispatchService: create, list, get and delete agent dispatches in a LiveKit room."""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import aiohttp

from . import _codec
from ._auth import DEFAULT_TTL, TokenSigner
from ._checks import require_seconds, require_text
from ._ensure import Turns, ensure_dispatch
from ._generated.livekit import (
    AgentDispatch,
    CreateAgentDispatchRequest,
    DeleteAgentDispatchRequest,
    Job,
    JobStatus,
    ListAgentDispatchRequest,
    ListAgentDispatchResponse,
)
from ._jobs import wait_for_job
from ._recovery import made, still_there
from ._retry import RetryPolicy
from ._transport import Transport

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_RETRY",
    "DEFAULT_TIMEOUT",
    "AgentDispatchService",
    "connect",
]

DEFAULT_TIMEOUT = 10.0
DEFAULT_JOB_WAIT = 30.0
DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024
DEFAULT_RETRY = RetryPolicy()
_MESSAGES = (
    CreateAgentDispatchRequest,
    DeleteAgentDispatchRequest,
    ListAgentDispatchRequest,
    AgentDispatch,
    ListAgentDispatchResponse,
)


class AgentDispatchService:
    """Client for LiveKit's ``livekit.AgentDispatchService``, speaking Twirp JSON.

    ``url`` is the LiveKit server (``https://``, ``http://``, ``wss://`` or ``ws://``; a path
    prefix such as ``https://proxy.example/livekit`` is kept). The session is the caller's:
    this object never closes it. Every call raises :class:`~dispatch_client.TwirpError` on
    failure and :class:`ValueError` on bad arguments, before anything is sent.

    ``timeout`` bounds each call end to end (connect, send, wait, read, retries), in
    seconds; each method also takes its own ``timeout``, and a ``request_id`` that is sent
    as ``X-Livekit-Request-Id`` on every attempt (a fresh one per call by default). Tokens
    live ``token_ttl`` seconds; ``timeout`` is more than 0, ``token_ttl`` at least 10 s, both
    at most 1e9 s. ``retry`` says how failures are tried again (see :class:`RetryPolicy`).
    Answers over ``max_response_bytes`` are refused. ``clock`` (Unix seconds, for token times and
    ``Retry-After`` dates), ``sleep`` (the wait between attempts) and ``rand`` (uniform in
    [0, 1), spreads the waits) are injectable.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        api_key: str,
        api_secret: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        token_ttl: float = DEFAULT_TTL,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        retry: RetryPolicy = DEFAULT_RETRY,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        signer = TokenSigner(api_key, api_secret, ttl=token_ttl, clock=clock)
        self._sleep, self._rand, self._turns = sleep, rand, Turns()
        # The codec's per-class work is done here, once per process, instead of in the first call.
        _codec.prepare(*_MESSAGES)
        self._transport = Transport(
            session,
            url,
            signer,
            timeout=timeout,
            max_response_bytes=max_response_bytes,
            retry=retry,
            sleep=sleep,
            rand=rand,
            clock=clock,
        )

    @property
    def url(self) -> str:
        """The HTTP base URL calls go to."""
        return self._transport.base

    def __repr__(self) -> str:
        return f"AgentDispatchService(url={self.url!r})"

    async def create_dispatch(
        self, req: CreateAgentDispatchRequest, *, timeout: float | None = None, request_id: str | None = None
    ) -> AgentDispatch:
        """Dispatch ``req.agent_name`` to ``req.room``; returns the new dispatch.

        Never sent again blindly: after a failure that may follow the server's work, the room
        is listed for the dispatch the failed attempt made (README, "Retries"); when that
        cannot be checked, the error has ``outcome_unknown`` set.
        """
        if not isinstance(req, CreateAgentDispatchRequest):
            raise ValueError(f"req must be a CreateAgentDispatchRequest, got {type(req).__name__}")
        require_text("req.room", req.room)
        return await self._transport.call(
            "CreateDispatch",
            req.room,
            req,
            AgentDispatch,
            timeout,
            request_id,
            find=made(req, self.list_dispatch),
        )

    async def ensure_dispatch(
        self, req: CreateAgentDispatchRequest, *, timeout: float | None = None
    ) -> AgentDispatch:
        """The room's dispatch of ``req.agent_name`` (same deployment), made if there is none.

        Calls of one service for the same room, agent and deployment take turns, so they
        leave one such dispatch (the oldest is returned if there are several); another
        process can still make its own at the same time (README). ``timeout``: the whole call.
        """
        if not isinstance(req, CreateAgentDispatchRequest):
            raise ValueError(f"req must be a CreateAgentDispatchRequest, got {type(req).__name__}")
        require_text("req.room", req.room)
        limit = self._transport.timeout if timeout is None else require_seconds("timeout", timeout)
        return await ensure_dispatch(self._turns, self.list_dispatch, self.create_dispatch, req, limit)

    async def wait_for_job(
        self,
        dispatch_id: str,
        room_name: str,
        *,
        until: JobStatus = JobStatus.JS_RUNNING,
        timeout: float = DEFAULT_JOB_WAIT,
    ) -> Job:
        """The dispatch's first job that reached ``until`` (or a later state), polled for.

        Any other ending within ``timeout`` is a TwirpError with ``wait_outcome`` (a
        :class:`WaitOutcome`) and ``job`` (the job last seen) set; a poll that fails for a
        passing reason is tried again and never counts as "no agent" (README, "Jobs").
        """
        return await wait_for_job(
            self.get_dispatch, dispatch_id, room_name, until, timeout, sleep=self._sleep, rand=self._rand
        )

    async def delete_dispatch(
        self,
        dispatch_id: str,
        room_name: str,
        *,
        timeout: float | None = None,
        request_id: str | None = None,
    ) -> AgentDispatch:
        """Delete one dispatch; returns it as it was. Unknown ids raise ``not_found``.

        After a failure that may follow the server's work it is sent again only while a get
        still shows the dispatch; once it is gone, the failure has ``outcome_unknown`` set.
        """
        require_text("dispatch_id", dispatch_id)
        require_text("room_name", room_name)
        req = DeleteAgentDispatchRequest(dispatch_id=dispatch_id, room=room_name)
        return await self._transport.call(
            "DeleteDispatch",
            room_name,
            req,
            AgentDispatch,
            timeout,
            request_id,
            find=still_there(dispatch_id, room_name, self.get_dispatch),
        )

    async def list_dispatch(
        self, room_name: str, *, timeout: float | None = None, request_id: str | None = None
    ) -> list[AgentDispatch]:
        """All dispatches of a room, or an empty list.

        livekit-server adds a dispatch of its own (``agent_name ""``) to a room that a create
        started, and lists in no particular order. In a room that is not running it answers
        ``unavailable`` after 3 s, with :attr:`TwirpError.room_not_running` set.
        """
        require_text("room_name", room_name)
        req = ListAgentDispatchRequest(room=room_name)
        resp = await self._transport.call(
            "ListDispatch", room_name, req, ListAgentDispatchResponse, timeout, request_id
        )
        return resp.agent_dispatches

    async def get_dispatch(
        self,
        dispatch_id: str,
        room_name: str,
        *,
        timeout: float | None = None,
        request_id: str | None = None,
    ) -> AgentDispatch | None:
        """One dispatch by id, or ``None`` when the room has no dispatch with that id.

        A room that is not running is an error, as for :meth:`list_dispatch`.
        """
        require_text("dispatch_id", dispatch_id)
        require_text("room_name", room_name)
        req = ListAgentDispatchRequest(dispatch_id=dispatch_id, room=room_name)
        resp = await self._transport.call(
            "ListDispatch", room_name, req, ListAgentDispatchResponse, timeout, request_id
        )
        return resp.agent_dispatches[0] if resp.agent_dispatches else None


def _setting(name: str, value: str | None, env: str) -> str:
    if value is not None:
        return value  # checked where it is used, without quoting it (it may be the secret)
    value = os.environ.get(env)
    if not value:
        raise ValueError(f"{env} is not set: pass {name}= or set the environment variable")
    return value


@asynccontextmanager
async def connect(
    url: str | None = None,
    api_key: str | None = None,
    api_secret: str | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    token_ttl: float = DEFAULT_TTL,
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    retry: RetryPolicy = DEFAULT_RETRY,
) -> AsyncIterator[AgentDispatchService]:
    """Open a session of its own and yield a service on it; the session closes on exit.

    Arguments left out come from ``LIVEKIT_URL``, ``LIVEKIT_API_KEY`` and
    ``LIVEKIT_API_SECRET``; a value missing from both raises ValueError naming the variable.
    """
    url = _setting("url", url, "LIVEKIT_URL")
    api_key = _setting("api_key", api_key, "LIVEKIT_API_KEY")
    api_secret = _setting("api_secret", api_secret, "LIVEKIT_API_SECRET")
    async with aiohttp.ClientSession() as session:
        yield AgentDispatchService(
            session,
            url,
            api_key,
            api_secret,
            timeout=timeout,
            token_ttl=token_ttl,
            max_response_bytes=max_response_bytes,
            retry=retry,
        )
