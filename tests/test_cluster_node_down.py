"""A node of the real cluster SIGKILLed: creates into its rooms, creates whose answer was lost,
and 50 creates through the balancer with a node killed midway."""

from __future__ import annotations

import asyncio
import collections
import time

import aiohttp
import pytest
from cluster_helpers import dispatch_on, until_room_answers
from fault_proxy import Fault, FaultProxy
from livekit_cluster import Cluster
from livekit_server import unique_room

from dispatch_client import AgentDispatchService, CreateAgentDispatchRequest, TwirpError, TwirpErrorCode


def service(
    cluster: Cluster, url: str, session: aiohttp.ClientSession, timeout: float
) -> AgentDispatchService:
    return AgentDispatchService(session, url, cluster.api_key, cluster.api_secret, timeout=timeout)


async def test_a_create_into_a_room_whose_node_died_goes_through_once_another_node_takes_it(
    cluster_healed: Cluster, session: aiohttp.ClientSession, summary: list[str]
) -> None:
    cluster = cluster_healed
    survivor, doomed = cluster.nodes
    svc = service(cluster, survivor.url, session, timeout=15)
    first = await dispatch_on(cluster, svc, doomed, "moved", "node-down-create")
    doomed.kill()
    started = time.monotonic()
    # The list answers the room-level 503 while no node answers for the room.
    with pytest.raises(TwirpError) as down:
        await svc.list_dispatch(first.room)
    assert down.value.room_not_running
    req = CreateAgentDispatchRequest(agent_name="moved", room=first.room, metadata="after the kill")
    made = await svc.create_dispatch(req)
    took = time.monotonic() - started
    summary.append(f"cluster: create into a room whose node died succeeded {took:.1f} s after the kill")
    listed = await svc.list_dispatch(first.room)
    assert [d.id for d in listed if d.metadata == "after the kill"] == [made.id]
    assert first.id not in {d.id for d in listed}  # the room came back without its API dispatches
    assert cluster.node_of(first.room) is survivor


async def test_a_lost_create_answer_in_a_room_whose_node_died_is_not_taken_for_not_done(
    cluster_healed: Cluster, session: aiohttp.ClientSession
) -> None:
    cluster = cluster_healed
    survivor, doomed = cluster.nodes
    svc = service(cluster, survivor.url, session, timeout=15)
    first = await dispatch_on(cluster, svc, doomed, "lost", "node-down-lost")
    # Every create's answer is lost; the checks get through.
    plan = lambda i, rpc: Fault.DROP_AFTER if rpc == "CreateDispatch" else Fault.PASS  # noqa: E731
    async with FaultProxy(survivor.url, plan) as proxy:
        lossy = service(cluster, proxy.url, session, timeout=15)
        doomed.kill()
        with pytest.raises(TwirpError) as lost:
            await lossy.create_dispatch(CreateAgentDispatchRequest(agent_name="lost", room=first.room))
    # The check found the room not running while the room store still has it: the node that
    # did the create may be the one that is gone, so nothing is sent again and nothing is claimed.
    assert lost.value.outcome_unknown
    assert proxy.by_rpc["CreateDispatch"] == 1


async def test_fifty_creates_through_the_balancer_with_a_node_killed_midway(
    cluster_healed: Cluster, summary: list[str]
) -> None:
    cluster = cluster_healed
    rooms = [unique_room("node-down-load") for _ in range(6)]
    returned: dict[str, str] = {}
    failed: dict[str, TwirpError] = {}
    others: list[BaseException] = []
    started = asyncio.Event()
    killed_at: list[float] = []

    async def one(i: int, svc: AgentDispatchService) -> None:
        meta = f"call-{i}"
        if i == 25:
            cluster.nodes[1].kill()
            killed_at.append(time.monotonic())
        try:
            made = await svc.create_dispatch(
                CreateAgentDispatchRequest(agent_name="load", room=rooms[i % len(rooms)], metadata=meta)
            )
            returned[meta] = made.id
        except TwirpError as e:
            failed[meta] = e
        except BaseException as e:  # anything else is a failure of the test
            others.append(e)

    async with aiohttp.ClientSession() as session:
        svc = service(cluster, cluster.url, session, timeout=20)
        sem = asyncio.Semaphore(5)

        async def bounded(i: int) -> None:
            async with sem:
                started.set()
                await one(i, svc)

        t0 = time.monotonic()
        await asyncio.gather(*(bounded(i) for i in range(50)))
        took = time.monotonic() - t0
        listed: collections.Counter[str] = collections.Counter()
        for room in rooms:
            for d in await until_room_answers(svc, room, timeout=30):
                if d.agent_name == "load":
                    listed[d.metadata] += 1
    duplicates = sum(n - 1 for n in listed.values() if n > 1)
    codes = collections.Counter(e.code.value for e in failed.values())
    summary.append(
        f"cluster: 50 creates through the balancer, node killed at call 25: {len(returned)} returned, "
        f"{len(failed)} TwirpError {dict(codes)} "
        f"(outcome_unknown: {sum(e.outcome_unknown for e in failed.values())}), "
        f"{duplicates} duplicates, {sum(listed.values())} listed afterwards, in {took:.1f} s"
    )
    assert not others
    assert duplicates == 0
    assert len(returned) + len(failed) == 50
    for meta, err in failed.items():
        assert err.outcome_unknown, (meta, err)
    assert all(e.code is not TwirpErrorCode.DEADLINE_EXCEEDED or e.outcome_unknown for e in failed.values())
