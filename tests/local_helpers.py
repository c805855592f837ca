"""Helpers for the LocalDispatchServer tests: tokens made by hand, raw posts, a server in a thread."""

from __future__ import annotations

import asyncio
import io
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import aiohttp
import jwt
import orjson

from dispatch_client.testing import LocalDispatchServer

KEY = "APIlocaltests"
SECRET = "a-local-server-test-secret-long-enough-for-hs512-0123456789-abcdefghij"
NOW = 1_800_000_000  # the servers' clock in these tests, in Unix seconds
SERVICE_URL = "/twirp/livekit.AgentDispatchService/"


def fixed_clock() -> int:
    return NOW * 1_000_000_000


def token(
    room: str = "r",
    *,
    admin: object = True,
    key: str = KEY,
    secret: str = SECRET,
    algorithm: str = "HS256",
    now: int | None = None,
    **claims: object,
) -> str:
    """A signed token, valid from ``now`` (default: the real time) for 10 minutes.

    Claims given here replace the defaults (``None`` removes one).
    """
    if now is None:
        now = int(time.time())
    body: dict[str, object] = {
        "iss": key,
        "nbf": now,
        "exp": now + 600,
        "video": {"roomAdmin": admin, "room": room},
    }
    body.update(claims)
    return jwt.encode({k: v for k, v in body.items() if v is not None}, secret, algorithm=algorithm)


@dataclass
class Answer:
    status: int
    content_type: str
    body: bytes

    def json(self) -> dict[str, object]:
        obj = orjson.loads(self.body)
        assert isinstance(obj, dict)
        return obj

    @property
    def code(self) -> object:
        return self.json()["code"]


async def post(
    session: aiohttp.ClientSession,
    base: str,
    method: str,
    body: bytes | str,
    *,
    room: str = "r",
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
    http_method: str = "POST",
    path: str | None = None,
) -> Answer:
    """Send one request as given (a token for ``room`` unless headers name an Authorization)."""
    sent = {"Content-Type": content_type, "Authorization": f"Bearer {token(room)}"}
    sent.update(headers or {})
    data = body.encode() if isinstance(body, str) else body
    url = base + (path if path is not None else SERVICE_URL + method)
    # A file object: aiohttp warns about large bodies given as bytes.
    async with session.request(http_method, url, data=io.BytesIO(data), headers=sent) as resp:
        return Answer(resp.status, resp.headers.get("Content-Type", ""), await resp.read())


@contextmanager
def server_in_thread(**options: object) -> Iterator[LocalDispatchServer]:
    """A LocalDispatchServer running on its own event loop in a thread, for synchronous callers."""
    server = LocalDispatchServer(KEY, SECRET, **options)  # type: ignore[arg-type]
    started = threading.Event()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def serve() -> None:
        async with server:
            started.set()
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    try:
        assert started.wait(10), "the server did not start"
        yield server
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()
