"""Helpers for tests of retries: recorded waits and a service that uses them."""

from __future__ import annotations

import aiohttp
from aiohttp import web
from fake_livekit import API_KEY, API_SECRET, twirp_error

from dispatch_client import AgentDispatchService, RetryPolicy

STEADY = RetryPolicy(attempts=3, initial_backoff=0.1, max_backoff=2.0)


class Sleeps:
    """Records the waits instead of waiting."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def make(
    session: aiohttp.ClientSession, url: str, sleeps: Sleeps, rand: float = 1.0, **kw: object
) -> AgentDispatchService:
    """A service whose waits are recorded, not waited, and drawn at ``rand`` of their range."""
    return AgentDispatchService(
        session,
        url,
        API_KEY,
        API_SECRET,
        sleep=sleeps,
        rand=lambda: rand,
        **kw,  # type: ignore[arg-type]
    )


async def unavailable(request: web.Request) -> web.Response:
    return twirp_error("unavailable", "node draining", 503)
