"""Region failover against a multi-region local cloud (dispatch_client.testing.LocalCloud).

The cloud's hosts are 127.0.0.1, so the clients here count that host as a LiveKit Cloud one
(``cloud_hosts``). Faults come from taking a region down, and from the fault proxy in front of
a region (a fake that injects faults sits in front of the server, not instead of it).
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import AsyncIterator

import aiohttp
import pytest
from fault_proxy import Fault, FaultProxy
from local_helpers import KEY, SECRET

from dispatch_client import AgentDispatch, AgentDispatchService, CreateAgentDispatchRequest, TwirpError
from dispatch_client.testing import LocalCloud, Outage

LOCAL = ("127.0.0.1",)


@pytest.fixture
async def cloud() -> AsyncIterator[LocalCloud]:
    async with LocalCloud(["us", "eu", "ap"], KEY, SECRET, not_running_wait=0.1) as c:
        yield c


def created_in(cloud: LocalCloud, room: str) -> collections.Counter[str]:
    return collections.Counter(d.metadata for d in cloud.rooms().get(room, []) if d.agent_name)


async def test_a_call_survives_the_outage_of_its_region(
    cloud: LocalCloud, session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="dispatch_client")
    svc = AgentDispatchService(session, cloud.urls["us"], KEY, SECRET, cloud_hosts=LOCAL)
    first = await svc.create_dispatch(CreateAgentDispatchRequest(agent_name="a", room="r", metadata="1"))
    await asyncio.sleep(0.2)  # the region list, fetched in the background after that first call
    await cloud.down("us")  # its port refuses connections: no region list from it any more
    second = await svc.create_dispatch(CreateAgentDispatchRequest(agent_name="a", room="r", metadata="2"))
    assert {d.id for d in cloud.rooms()["r"]} >= {first.id, second.id}
    assert created_in(cloud, "r") == {"1": 1, "2": 1}
    moved = [r.getMessage() for r in caplog.records if "goes to" in r.getMessage()]
    # The pooled connection to us was lost mid-create, so the create was checked first: the
    # check (a list) and then the create itself went to eu, the next region.
    eu = cloud.urls["eu"]
    assert moved == [f"ListDispatch: attempt 2 goes to {eu}", f"CreateDispatch: attempt 2 goes to {eu}"]
    # Reads too.
    assert second.id in {d.id for d in await svc.list_dispatch("r")}


async def test_without_failover_the_outage_is_raised(
    cloud: LocalCloud, session: aiohttp.ClientSession
) -> None:
    svc = AgentDispatchService(session, cloud.urls["us"], KEY, SECRET, cloud_hosts=LOCAL, failover=False)
    await cloud.down("us", Outage.UNAVAILABLE)
    with pytest.raises(TwirpError) as err:
        await svc.create_dispatch(CreateAgentDispatchRequest(agent_name="a", room="r"))
    assert err.value.status == 503
    assert cloud.rooms() == {}


async def test_a_host_outside_cloud_hosts_never_fails_over(
    cloud: LocalCloud, session: aiohttp.ClientSession
) -> None:
    svc = AgentDispatchService(session, cloud.urls["us"], KEY, SECRET)  # *.livekit.cloud only
    await svc.create_dispatch(CreateAgentDispatchRequest(agent_name="a", room="r"))
    await asyncio.sleep(0.1)
    await cloud.down("us")
    with pytest.raises(TwirpError) as err:
        await svc.list_dispatch("r")
    assert err.value.status is None


async def test_creates_failing_over_through_lost_answers_make_no_duplicates(
    cloud: LocalCloud, session: aiohttp.ClientSession, summary: list[str]
) -> None:
    # In front of "us": every create and list answer is lost after the region did the work, and
    # the region list passes. Each create fails over to eu/ap for its check and its retry.
    def plan(i: int, rpc: str) -> Fault:
        return Fault.DROP_AFTER if rpc in ("CreateDispatch", "ListDispatch") else Fault.PASS

    calls = 40
    async with FaultProxy(cloud.urls["us"], plan) as proxy:
        svc = AgentDispatchService(session, proxy.url, KEY, SECRET, cloud_hosts=LOCAL)
        reqs = [CreateAgentDispatchRequest(agent_name="a", room="r", metadata=f"c{i}") for i in range(calls)]
        results = await asyncio.gather(*(svc.create_dispatch(r) for r in reqs), return_exceptions=True)
        await svc.aclose()
    made = created_in(cloud, "r")
    returned = [r for r in results if isinstance(r, AgentDispatch)]
    failed = [r for r in results if not isinstance(r, AgentDispatch)]
    summary.append(
        f"failover through lost answers (local cloud us/eu/ap, proxy before us): {calls} creates, "
        f"{proxy.faults[Fault.DROP_AFTER]} answers dropped; returned {len(returned)}, failed {len(failed)}; "
        f"duplicates = {sum(n - 1 for n in made.values())}"
    )
    assert all(n == 1 for n in made.values())
    assert {d.metadata for d in returned} <= set(made)
    assert all(isinstance(e, TwirpError) for e in failed)
    assert proxy.faults[Fault.DROP_AFTER] >= calls
    assert len(returned) == calls  # every one was found, in another region
