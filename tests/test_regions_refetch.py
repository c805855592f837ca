"""How often the region list is asked for when it cannot be kept: a list without a positive
max-age, and livekit-server's 404 (the stand-in and the real server, behind a counting proxy)."""

from __future__ import annotations

import aiohttp
import pytest
from fault_proxy import Fault, FaultProxy
from livekit_server import RealServer
from local_helpers import KEY, SECRET
from test_regions import TOKEN, Clock, Endpoint, serve

from dispatch_client import AgentDispatchService, CreateAgentDispatchRequest
from dispatch_client._transport.regions import REFETCH_AFTER, Regions
from dispatch_client._transport.sources import CloudRegions
from dispatch_client.testing import LocalCloud, LocalDispatchServer

LOCAL = ("127.0.0.1",)
CALLS = 100


def passing(i: int, rpc: str) -> Fault:
    return Fault.PASS


async def settled(svc: AgentDispatchService) -> None:
    """Until the region fetch the service started in the background (if any) has ended."""
    failover = svc._transport._failover
    assert failover is not None
    assert isinstance(failover.source, CloudRegions)
    warming = failover.source._warming
    if warming is not None:
        await warming


async def calls_through(proxy: FaultProxy, session: aiohttp.ClientSession, key: str, secret: str) -> int:
    """Creates and lists through ``proxy`` one after another; the region fetches they led to."""
    svc = AgentDispatchService(session, proxy.url, key, secret, cloud_hosts=LOCAL)
    await svc.create_dispatch(CreateAgentDispatchRequest(agent_name="a", room="refetch-room"))
    for _ in range(CALLS - 1):
        await svc.list_dispatch("refetch-room")
        await settled(svc)
    await svc.aclose()
    return proxy.by_rpc["regions"]


@pytest.mark.parametrize("max_age", [None, 0])
async def test_a_list_that_may_not_be_kept_is_not_fetched_after_every_call(
    session: aiohttp.ClientSession, summary: list[str], max_age: int | None
) -> None:
    async with (
        LocalCloud(["us", "eu"], KEY, SECRET, regions_max_age=max_age) as cloud,
        FaultProxy(cloud.urls["us"], passing) as proxy,
    ):
        fetches = await calls_through(proxy, session, KEY, SECRET)
    summary.append(f"region list with max-age={max_age}: {fetches} fetches over {CALLS} calls")
    assert fetches == 1


async def test_the_stand_ins_404_is_asked_once(session: aiohttp.ClientSession) -> None:
    async with LocalDispatchServer(KEY, SECRET) as server, FaultProxy(server.url, passing) as proxy:
        assert await calls_through(proxy, session, KEY, SECRET) == 1


async def test_the_real_servers_404_is_asked_once(
    livekit: RealServer, session: aiohttp.ClientSession, summary: list[str]
) -> None:
    async with FaultProxy(livekit.url, passing) as proxy:
        fetches = await calls_through(proxy, session, livekit.api_key, livekit.api_secret)
    summary.append(
        f"livekit-server behind a counting proxy: {fetches} GET /settings/regions over {CALLS} calls"
    )
    assert fetches == 1


async def test_an_origin_without_a_list_is_asked_again_after_the_interval(
    session: aiohttp.ClientSession,
) -> None:
    endpoint = Endpoint(status=404, body=b"404 page not found\n")
    server = await serve(endpoint)
    try:
        clock = Clock()
        regions = Regions(LOCAL, clock=clock)
        assert regions.due(endpoint.url)
        assert await regions.origins(session, endpoint.url, TOKEN, timeout=1) == []
        assert not regions.due(endpoint.url)
        clock.now += REFETCH_AFTER - 0.1
        assert await regions.origins(session, endpoint.url, TOKEN, timeout=1) == []
        assert len(endpoint.requests) == 1
        clock.now += 0.1
        endpoint.status = 200
        endpoint.regions("http://127.0.0.1:7000")
        assert regions.due(endpoint.url)
        assert await regions.origins(session, endpoint.url, TOKEN, timeout=1) == ["http://127.0.0.1:7000"]
        assert len(endpoint.requests) == 2
    finally:
        await server.close()
