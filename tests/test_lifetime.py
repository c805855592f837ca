"""A long-lived service with a session of its own: open(), aclose(), async with; connect() on top."""

from __future__ import annotations

import asyncio
import gc
import warnings
from collections.abc import Iterator

import aiohttp
import pytest
from local_helpers import KEY, SECRET, server_in_thread

from dispatch_client import (
    AgentDispatchService,
    CreateAgentDispatchRequest,
    TwirpError,
    TwirpErrorCode,
    connect,
)
from dispatch_client.testing import LocalDispatchServer

REQ = CreateAgentDispatchRequest(agent_name="a", room="r")


@pytest.fixture
def server() -> Iterator[LocalDispatchServer]:
    # In a thread of its own: one test runs its own event loop (asyncio.run).
    with server_in_thread() as srv:
        yield srv


def test_open_outside_the_event_loop_then_use_it_inside(server: LocalDispatchServer) -> None:
    # As an application module does at import time: no loop runs yet.
    svc = AgentDispatchService.open(server.url, KEY, SECRET, timeout=5)

    async def lifespan() -> str:
        made = await svc.create_dispatch(REQ)
        await svc.aclose()
        return made.id

    assert asyncio.run(lifespan()).startswith("AD_")


async def test_aclose_twice_is_harmless_and_calls_after_it_fail(server: LocalDispatchServer) -> None:
    svc = AgentDispatchService.open(server.url, KEY, SECRET)
    await svc.create_dispatch(REQ)
    session = svc._owned._session if svc._owned else None  # the session it made
    await svc.aclose()
    await svc.aclose()
    assert session is not None
    assert session.closed
    with pytest.raises(TwirpError) as err:
        await svc.list_dispatch("r")
    assert err.value.code is TwirpErrorCode.FAILED_PRECONDITION


async def test_async_with_closes_it(server: LocalDispatchServer) -> None:
    async with AgentDispatchService.open(server.url, KEY, SECRET) as svc:
        assert (await svc.create_dispatch(REQ)).room == "r"
    with pytest.raises(TwirpError) as err:
        await svc.create_dispatch(REQ)
    assert err.value.code is TwirpErrorCode.FAILED_PRECONDITION


async def test_closed_before_any_call_makes_no_session(server: LocalDispatchServer) -> None:
    svc = AgentDispatchService.open(server.url, KEY, SECRET)
    await svc.aclose()
    assert svc._owned is not None
    assert svc._owned._session is None
    with pytest.raises(TwirpError):
        await svc.list_dispatch("r")


async def test_a_given_session_is_never_closed(server: LocalDispatchServer) -> None:
    async with aiohttp.ClientSession() as session:
        svc = AgentDispatchService(session, server.url, KEY, SECRET)
        await svc.create_dispatch(REQ)
        await svc.aclose()
        assert not session.closed
        with pytest.raises(TwirpError) as err:  # the service is closed, the session is not
            await svc.list_dispatch("r")
        assert err.value.code is TwirpErrorCode.FAILED_PRECONDITION


async def test_connect_closes_its_session_and_leaks_nothing(server: LocalDispatchServer) -> None:
    async with connect(server.url, KEY, SECRET) as svc:
        await svc.create_dispatch(REQ)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del svc
        gc.collect()
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []


def test_session_options_are_for_an_own_session(server: LocalDispatchServer) -> None:
    async def given() -> None:
        async with aiohttp.ClientSession() as session:
            AgentDispatchService(session, server.url, KEY, SECRET, trust_env=True)

    with pytest.raises(ValueError, match="trust_env"):
        asyncio.run(given())
    with pytest.raises(ValueError, match="trust_env must be a bool"):
        AgentDispatchService.open(server.url, KEY, SECRET, trust_env="yes")  # type: ignore[arg-type]
