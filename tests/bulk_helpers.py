"""Helpers for the dispatch_many tests: waiting for a condition of state that has no event."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def wait_until(condition: Callable[[], bool], *, timeout: float = 10.0) -> None:
    """Return once ``condition()`` holds, checked at each turn of the event loop (fails after
    ``timeout`` seconds)."""
    async with asyncio.timeout(timeout):
        while not condition():  # noqa: ASYNC110 (the state polled has no event to wait on)
            await asyncio.sleep(0)
