"""pytest fixtures: a running LocalDispatchServer and a client connected to it.

Enable them in a ``conftest.py`` with::

    pytest_plugins = ["dispatch_client.testing.pytest_plugin"]

They are async fixtures and need pytest-asyncio (in its strict or auto mode). Each test
gets a fresh server, with empty state, on a free port of 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from ..service import AgentDispatchService
from ._server import LocalDispatchServer

__all__ = ["dispatch_server", "dispatch_service"]


@pytest_asyncio.fixture
async def dispatch_server() -> AsyncIterator[LocalDispatchServer]:
    """A LocalDispatchServer listening on 127.0.0.1; ``.url``, ``.api_key``, ``.api_secret``."""
    async with LocalDispatchServer() as server:
        yield server


@pytest_asyncio.fixture
async def dispatch_service(dispatch_server: LocalDispatchServer) -> AsyncIterator[AgentDispatchService]:
    """An AgentDispatchService connected to ``dispatch_server``, on a session of its own."""
    async with dispatch_server.connect() as service:
        yield service
