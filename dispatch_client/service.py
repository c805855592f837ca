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
from ._checks import require_text
from ._generated.livekit import (
    AgentDispatch,
    CreateAgentDispatchRequest,
    DeleteAgentDispatchRequest,
    ListAgentDispatchRequest,
    ListAgentDispatchResponse,
)
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

        livekit-server does not recognise a repeated create, so this call never sends one
        blindly: after a failure that may follow the server's work (a lost answer, a 5xx),
        it lists the room and returns the dispatch the failed attempt made, if it finds one,
        and tries again only if it does not. When it cannot check, the error has
        ``outcome_unknown`` set.
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

    async def delete_dispatch(
        self,
        dispatch_id: str,
        room_name: str,
        *,
        timeout: float | None = None,
        request_id: str | None = None,
    ) -> AgentDispatch:
        """Delete one dispatch; returns it as it was. Unknown ids raise ``not_found``.

        After a failure that may follow the server's work, the dispatch is looked up: while
        it is there, the delete is sent again; once it is gone, the failure is raised with
        ``outcome_unknown`` set (the delete was probably done, but its answer is lost).
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
        return require_text(name, value)
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
