"""Helpers for the end-to-end tests against the real livekit-server: tokens, raw posts, id checks.

Also imported by ``tools/capture_livekit_fixtures.py``, which records the same kind of answers.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp
import jwt
import orjson
from livekit.protocol import agent_dispatch as pb

from dispatch_client import AgentDispatch, AgentDispatchService, RetryPolicy

SERVICE_PATH = "/twirp/livekit.AgentDispatchService/"
# `AD_` and 12 characters of the base57 alphabet: digits and letters without 0, 1, I, O and l.
BASE57 = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
DISPATCH_ID = re.compile(rf"AD_[{BASE57}]{{12}}")
# A secret the server does not know, long enough that pyjwt does not warn about it.
WRONG_SECRET = "not-the-server-secret-0123456789abcdefghijklmnop"
# livekit-server's per-room RPCs wait this long for the room's server before giving up.
ROOM_RPC_TIMEOUT = 3.0


def token(
    room: str,
    *,
    key: str,
    secret: str,
    admin: bool = True,
    now: int | None = None,
    ttl: int | None = 600,
) -> str:
    """An HS256 token for ``room``, valid from ``now`` for ``ttl`` seconds (no ``exp`` for ``None``)."""
    if now is None:
        now = int(time.time())
    claims: dict[str, object] = {"iss": key, "nbf": now, "video": {"roomAdmin": admin, "room": room}}
    if ttl is not None:
        claims["exp"] = now + ttl
    return jwt.encode(claims, secret, algorithm="HS256")


@dataclass(frozen=True)
class Answer:
    """One HTTP answer of the server, as bytes, with how long it took."""

    status: int
    content_type: str
    body: bytes
    seconds: float

    def json(self) -> dict[str, object]:
        obj = orjson.loads(self.body)
        assert isinstance(obj, dict), self.body
        return obj


async def post(
    session: aiohttp.ClientSession,
    base: str,
    method: str,
    body: bytes | Mapping[str, object],
    *,
    bearer: str | None,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
) -> Answer:
    """POST ``body`` (a dict is sent as JSON) to a Twirp method of the service, no retries."""
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    sent = {"Content-Type": content_type, **(headers or {})}
    if bearer is not None:
        sent["Authorization"] = f"Bearer {bearer}"
    started = time.monotonic()
    async with session.post(base + SERVICE_PATH + method, data=data, headers=sent) as resp:
        raw = await resp.read()
        return Answer(resp.status, resp.headers.get("Content-Type", ""), raw, time.monotonic() - started)


def one_attempt(
    session: aiohttp.ClientSession, url: str, key: str, secret: str, *, timeout: float = 10.0
) -> AgentDispatchService:
    """A client that makes one attempt per call, so each answer is seen as the server gave it."""
    return AgentDispatchService(session, url, key, secret, retry=RetryPolicy(attempts=1), timeout=timeout)


def is_default_dispatch(dispatch: AgentDispatch, room: str) -> bool:
    """The dispatch livekit-server adds to each room it creates: no agent name, nothing else set."""
    return (
        dispatch.agent_name == ""
        and dispatch.room == room
        and dispatch.metadata == ""
        and dispatch.deployment == ""
        and dispatch.attributes == {}
        and DISPATCH_ID.fullmatch(dispatch.id) is not None
    )


def same(mine: AgentDispatch, theirs: pb.AgentDispatch) -> None:
    """The same dispatch, as this client and as livekit-api read it."""
    assert mine.state is not None
    assert (mine.id, mine.agent_name, mine.room, mine.metadata, mine.deployment) == (
        theirs.id,
        theirs.agent_name,
        theirs.room,
        theirs.metadata,
        theirs.deployment,
    )
    assert (int(mine.restart_policy), mine.attributes) == (theirs.restart_policy, dict(theirs.attributes))
    assert (mine.state.created_at, mine.state.deleted_at, len(mine.state.jobs)) == (
        theirs.state.created_at,
        theirs.state.deleted_at,
        len(theirs.state.jobs),
    )
