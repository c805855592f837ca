"""A test server that fails on purpose, in front of the fake LiveKit server.

Each request draws from a seeded RNG: a 503 or a 429 without doing the work, the
connection closed before the work, the work done and the connection closed before the
answer, or a short delay. Behind the faults it keeps dispatches and deduplicates creates on
``X-Livekit-Request-Id``: a create whose request id was seen before gets the first answer
again instead of making a second dispatch. Deletes are not deduplicated (livekit-server
answers a second delete of the same dispatch with not_found), so a delete the client
wrongly repeated would show up as a not_found outcome. It counts
what it did: faults by kind, requests and dispatches created per request id, and
dispatches created per ``metadata`` (the load test gives every create its own).
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import random

import orjson
from aiohttp import web
from fake_livekit import FakeLiveKit, twirp_error

IDEMPOTENT_BY_ID = ("CreateDispatch",)


@dataclasses.dataclass(frozen=True)
class Faults:
    """Chance per request of each fault (the first four exclude each other)."""

    unavailable: float = 0.08  # 503, nothing done
    throttled: float = 0.02  # 429 with Retry-After: 0, nothing done
    closed_before: float = 0.05  # connection closed, nothing done
    closed_after: float = 0.05  # work done, connection closed before the answer
    delayed: float = 0.15  # a wait of up to max_delay first
    max_delay: float = 0.05


NO_FAULTS = Faults(0, 0, 0, 0, 0, 0)


@dataclasses.dataclass
class FaultyLiveKit:
    seed: int
    faults: Faults = Faults()
    inner: FakeLiveKit = dataclasses.field(default_factory=FakeLiveKit)
    injected: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    requests: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    created: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    created_per_metadata: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    replayed: int = 0
    _answers: dict[str, tuple[int, bytes]] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    def _draw(self) -> tuple[str | None, float]:
        f, roll = self.faults, self._rng.random()
        fault = None
        for name, chance in [
            ("unavailable", f.unavailable),
            ("throttled", f.throttled),
            ("closed_before", f.closed_before),
            ("closed_after", f.closed_after),
        ]:
            if roll < chance:
                fault = name
                break
            roll -= chance
        delay = self._rng.uniform(0, f.max_delay) if self._rng.random() < f.delayed else 0.0
        return fault, delay

    async def handle(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        rid = request.headers.get("X-Livekit-Request-Id", "")
        self.requests[rid] += 1
        fault, delay = self._draw()
        if delay:
            self.injected["delayed"] += 1
            await asyncio.sleep(delay)
        if fault is not None:
            self.injected[fault] += 1
        if fault == "unavailable":
            return twirp_error("unavailable", "injected fault", 503)
        if fault == "throttled":
            return web.Response(status=429, text="injected fault", headers={"Retry-After": "0"})
        if fault == "closed_before":
            return _close(request)
        status, body = await self._work(request, rid)
        if fault == "closed_after":
            return _close(request)
        return web.Response(status=status, body=body, content_type="application/json")

    async def _work(self, request: web.Request, rid: str) -> tuple[int, bytes]:
        method = request.path.rsplit("/", 1)[-1]
        key = f"{method} {rid}"
        if method in IDEMPOTENT_BY_ID and key in self._answers:
            self.replayed += 1
            return self._answers[key]
        resp = await self.inner.handle(request)
        assert isinstance(resp, web.Response)
        assert isinstance(resp.body, bytes)
        answer = (resp.status, resp.body)
        if method in IDEMPOTENT_BY_ID:
            self._answers[key] = answer
        if method == "CreateDispatch" and resp.status == 200:
            self.created[rid] += 1
            self.created_per_metadata[orjson.loads(resp.body)["metadata"]] += 1
        return answer


def _close(request: web.Request) -> web.StreamResponse:
    assert request.transport is not None
    request.transport.close()
    return web.Response()
