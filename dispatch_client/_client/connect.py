"""``connect()``: a service with a session of its own for one ``async with`` block."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Unpack

from ..service import AgentDispatchService
from .settings import Options

__all__ = ["connect"]


@asynccontextmanager
async def connect(
    url: str | None = None,
    api_key: str | None = None,
    api_secret: str | None = None,
    *,
    token: str | None = None,
    **options: Unpack[Options],
) -> AsyncIterator[AgentDispatchService]:
    """:meth:`AgentDispatchService.open` for the block; the service and its session close on exit.

    Arguments left out come from ``LIVEKIT_URL``, and ``LIVEKIT_TOKEN`` or else
    ``LIVEKIT_API_KEY`` and ``LIVEKIT_API_SECRET``; a value missing from both raises ValueError
    naming the variable. ``options`` are those of :class:`AgentDispatchService`.
    """
    service = AgentDispatchService.open(url, api_key, api_secret, token=token, **options)
    try:
        yield service
    finally:
        await service.aclose()
