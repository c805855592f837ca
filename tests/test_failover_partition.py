"""A region (or node) whose port drops connection attempts, as a partitioned one does: an
attempt gives up connecting on its own bound and the call moves on, and a create that never
connected is known not to have been done."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from blackhole import Blackhole
from local_helpers import KEY, SECRET

from dispatch_client import (
    AgentDispatchService,
    CreateAgentDispatchRequest,
    RetryPolicy,
    TwirpError,
    TwirpErrorCode,
)
from dispatch_client._transport.sources import CloudRegions
from dispatch_client.testing import LocalCloud, LocalDispatchServer

LOCAL = ("127.0.0.1",)


@pytest.fixture
async def fresh() -> AsyncIterator[aiohttp.ClientSession]:
    """A session that keeps no connection: each attempt connects anew, as one does once the
    connections pooled before a partition are gone."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as s:
        yield s


@pytest.fixture
async def cloud() -> AsyncIterator[LocalCloud]:
    async with LocalCloud(["us", "eu"], KEY, SECRET, not_running_wait=0.1) as c:
        yield c


async def regions_fetched(svc: AgentDispatchService) -> None:
    """Until the service holds the region list it fetches after its first success."""
    failover = svc._transport._failover
    assert failover is not None
    assert isinstance(failover.source, CloudRegions)
    warming = failover.source._warming
    if warming is not None:
        await asyncio.wait_for(warming, 5)
    assert failover.source.known()


async def partitioned(cloud: LocalCloud, session: aiohttp.ClientSession) -> AgentDispatchService:
    """A service of region us, which has its region list and then stops taking connections."""
    svc = AgentDispatchService(session, cloud.urls["us"], KEY, SECRET, cloud_hosts=LOCAL)
    await svc.create_dispatch(CreateAgentDispatchRequest(agent_name="a", room="r", metadata="before"))
    await regions_fetched(svc)
    await cloud.down("us")
    return svc


async def test_a_read_moves_to_the_next_region_when_its_own_drops_connects(
    cloud: LocalCloud, fresh: aiohttp.ClientSession, summary: list[str]
) -> None:
    port = int(cloud.urls["us"].rsplit(":", 1)[1])
    svc = await partitioned(cloud, fresh)
    with Blackhole(port):
        started = time.monotonic()
        found = await svc.list_dispatch("r", timeout=3)
        took = time.monotonic() - started
    assert [d.metadata for d in found if d.agent_name] == ["before"]
    summary.append(
        f"partitioned region (SYNs dropped): list_dispatch(timeout=3) served by eu in {took:.2f} s"
    )
    assert took < 3


async def test_a_create_moves_to_the_next_region_when_its_own_drops_connects(
    cloud: LocalCloud, fresh: aiohttp.ClientSession
) -> None:
    port = int(cloud.urls["us"].rsplit(":", 1)[1])
    svc = await partitioned(cloud, fresh)
    with Blackhole(port):
        made = await svc.create_dispatch(
            CreateAgentDispatchRequest(agent_name="a", room="r", metadata="after"), timeout=3
        )
    assert made.metadata == "after"
    assert sorted(d.metadata for d in cloud.rooms()["r"] if d.agent_name) == ["after", "before"]


@pytest.mark.parametrize("timeout", [0.3, 3.0])
async def test_a_create_that_never_connected_is_not_outcome_unknown(
    session: aiohttp.ClientSession, timeout: float
) -> None:
    # 0.3 s: the deadline ends the connect; 3 s: the attempts' own connect bound does.
    with Blackhole() as hole:
        svc = AgentDispatchService(session, hole.url, KEY, SECRET, retry=RetryPolicy.none())
        with pytest.raises(TwirpError) as err:
            await svc.create_dispatch(CreateAgentDispatchRequest(agent_name="a", room="r"), timeout=timeout)
    assert err.value.outcome_unknown is False
    assert err.value.code in (TwirpErrorCode.DEADLINE_EXCEEDED, TwirpErrorCode.UNAVAILABLE)


async def test_a_node_that_drops_connects_is_passed_for_the_next(session: aiohttp.ClientSession) -> None:
    async with LocalDispatchServer(KEY, SECRET) as server:
        with Blackhole() as hole:
            svc = AgentDispatchService(session, hole.url, KEY, SECRET, urls=[server.url])
            made = await svc.create_dispatch(CreateAgentDispatchRequest(agent_name="a", room="r"), timeout=3)
            assert [d.id for d in await svc.list_dispatch("r", timeout=3) if d.agent_name] == [made.id]
