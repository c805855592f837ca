"""Failover across the nodes of a self-hosted cluster given as ``urls=`` (docs/failover.md).

The nodes are the servers of a LocalCloud, which share one state as a cluster's nodes share
Redis; faults come from taking a node down, from a node's proxy answering 502/503/504, from a
node answering Twirp errors of its own, and from the fault proxy losing answers. What the
client sent where is read from its own session (aiohttp's trace hooks).
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator

import aiohttp
import pytest
from fault_proxy import Fault, FaultProxy
from local_helpers import KEY, SECRET
from node_helpers import NODES, Seen, StubNode

from dispatch_client import (
    AgentDispatch,
    AgentDispatchService,
    CreateAgentDispatchRequest,
    RetryPolicy,
    TwirpError,
)
from dispatch_client._transport.failover import COOL_DOWN
from dispatch_client.testing import LocalCloud, Outage


@pytest.fixture
async def cloud() -> AsyncIterator[LocalCloud]:
    async with LocalCloud([*NODES, "outside"], KEY, SECRET, not_running_wait=0.05) as c:
        yield c


@pytest.fixture
def seen() -> Seen:
    return Seen()


@pytest.fixture
async def traced(seen: Seen) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(trace_configs=[seen.config()]) as s:
        yield s


def nodes(cloud: LocalCloud) -> list[str]:
    return [cloud.urls[name] for name in NODES]


def made(cloud: LocalCloud, room: str) -> collections.Counter[str]:
    return collections.Counter(d.metadata for d in cloud.rooms().get(room, []) if d.agent_name)


def create(room: str, tag: str) -> CreateAgentDispatchRequest:
    return CreateAgentDispatchRequest(agent_name="a", room=room, metadata=tag)


async def test_a_hundred_calls_with_a_node_refusing_connections(
    cloud: LocalCloud, traced: aiohttp.ClientSession, seen: Seen, summary: list[str]
) -> None:
    n1, n2, n3 = nodes(cloud)
    await cloud.down("n1")  # its port refuses connections
    svc = AgentDispatchService(traced, n1, KEY, SECRET, urls=[n1, n2, n3])
    assert svc.urls == (n1, n2, n3)
    ok = 0
    for i in range(50):
        created = await svc.create_dispatch(create("r", f"c{i}"))
        ok += await svc.get_dispatch(created.id, "r") == created
    assert ok == 50
    assert made(cloud, "r") == {f"c{i}": 1 for i in range(50)}
    attempts = seen.nodes()
    # One refused attempt; the 99 calls after it skip n1 while it cools down.
    assert attempts == {n1: 1, n2: 100}
    summary.append(
        f"node list, first of 3 nodes refusing: 100 sequential calls succeeded; attempts "
        f"n1={attempts[n1]} n2={attempts[n2]} n3={attempts[n3]}"
    )
    seen.take()
    burst = AgentDispatchService(traced, n1, KEY, SECRET, urls=[n2, n3])  # a new service: nothing known
    results = await asyncio.gather(*(burst.list_dispatch("r") for _ in range(100)))
    assert all(len(r) == 51 for r in results)  # 50 and the room's default dispatch
    attempts = seen.nodes()
    assert attempts[n2] == 100
    assert attempts[n3] == 0
    assert 1 <= attempts[n1] <= 100
    summary.append(
        f"node list, first of 3 nodes refusing: a burst of 100 concurrent lists succeeded; attempts "
        f"n1={attempts[n1]} (begun before the first refusal came back) n2={attempts[n2]} n3={attempts[n3]}"
    )


@pytest.mark.parametrize("status", [502, 503, 504])
async def test_a_node_whose_proxy_answers_a_gateway_error_is_skipped(
    cloud: LocalCloud, traced: aiohttp.ClientSession, seen: Seen, status: int
) -> None:
    _, n2, n3 = nodes(cloud)
    async with StubNode.gateway(status) as gateway:
        svc = AgentDispatchService(traced, gateway.url, KEY, SECRET, urls=[n2, n3])
        # A create first: the proxy's 5xx may follow the server's work, so it is checked (a
        # list, at n2: the room is not running, and the room store has no such room) before it
        # is sent again, to n2.
        first = await svc.create_dispatch(create("r", "first"))
        for i in range(19):
            await svc.create_dispatch(create("r", f"c{i}"))
        assert await svc.get_dispatch(first.id, "r") == first
    assert gateway.hits == 1
    assert [s.rpc for s in seen.sent[:4]] == ["CreateDispatch", "ListDispatch", "ListRooms", "CreateDispatch"]
    assert seen.nodes("CreateDispatch") == {gateway.url: 1, n2: 20}
    assert all(n == 1 for n in made(cloud, "r").values())
    assert len(made(cloud, "r")) == 20


async def test_a_room_level_503_is_not_failed_over(
    cloud: LocalCloud, traced: aiohttp.ClientSession, seen: Seen
) -> None:
    n1, n2, n3 = nodes(cloud)
    svc = AgentDispatchService(traced, n1, KEY, SECRET, urls=[n2, n3])
    with pytest.raises(TwirpError) as err:
        await svc.list_dispatch("never-made")  # livekit-server's "no response from servers"
    assert err.value.room_not_running
    assert not err.value.from_intermediary
    await svc.create_dispatch(create("r", "after"))  # n1 is not cooling down: it answered
    assert seen.take() == [n1, n1]


async def test_a_nodes_own_twirp_error_is_retried_on_it_not_failed_over(
    cloud: LocalCloud, traced: aiohttp.ClientSession, seen: Seen
) -> None:
    _, n2, n3 = nodes(cloud)
    async with StubNode.twirp("unavailable", 503, "overloaded") as busy:
        waits: list[float] = []

        async def sleep(seconds: float) -> None:
            waits.append(seconds)

        svc = AgentDispatchService(
            traced, busy.url, KEY, SECRET, urls=[n2, n3], retry=RetryPolicy(attempts=3), sleep=sleep
        )
        with pytest.raises(TwirpError) as err:
            await svc.list_dispatch("r")
        assert (err.value.status, err.value.message) == (503, "overloaded")
        assert not err.value.from_intermediary
        assert len(waits) == 2  # retried as the policy says, on the same node
        assert seen.take() == [busy.url] * 3


async def test_the_token_reaches_only_the_listed_nodes(
    cloud: LocalCloud, traced: aiohttp.ClientSession, seen: Seen
) -> None:
    n1, n2, n3 = nodes(cloud)
    # 127.0.0.1 counts as a LiveKit Cloud host here, so region discovery would find the
    # fourth server ("outside"): with a node list it is never asked.
    svc = AgentDispatchService(traced, n1, KEY, SECRET, urls=[n2, n3], cloud_hosts=("127.0.0.1",))
    await svc.create_dispatch(create("r", "0"))
    await cloud.down("n1")
    await cloud.down("n2", Outage.UNAVAILABLE)
    for i in range(1, 10):
        await svc.create_dispatch(create("r", str(i)))
        await svc.list_dispatch("r")
    await cloud.up("n1")
    await cloud.up("n2")
    await svc.aclose()
    assert {s.node for s in seen.sent} == {n1, n2, n3}
    assert all(s.authorization is not None and s.authorization.startswith("Bearer ") for s in seen.sent)
    assert "regions" not in {s.rpc for s in seen.sent}
    assert cloud.urls["outside"] not in {s.node for s in seen.sent}
    assert len(made(cloud, "r")) == 10


async def test_a_skipped_node_comes_back_after_its_cool_down(seen: Seen) -> None:
    now = [1_800_000_000.0]
    # A new connection per request: a node taken down refuses the next one (a pooled
    # connection that it closed would only be found lost, which moves on without a cool-down).
    connector = aiohttp.TCPConnector(force_close=True)
    async with (
        LocalCloud(NODES, KEY, SECRET, clock=lambda: int(now[0] * 1e9)) as cloud,
        aiohttp.ClientSession(connector=connector, trace_configs=[seen.config()]) as session,
    ):
        n1, n2, _ = nodes(cloud)
        svc = AgentDispatchService(session, n1, KEY, SECRET, urls=[n2], clock=lambda: now[0])
        await svc.create_dispatch(create("r", "0"))
        await cloud.down("n1")
        await svc.list_dispatch("r")
        assert seen.take() == [n1, n1, n2]  # the create, then the list: refused, then n2
        await cloud.up("n1")
        now[0] += COOL_DOWN - 0.5
        await svc.list_dispatch("r")
        assert seen.take() == [n2]  # still cooling down, though n1 is back
        now[0] += 0.5
        await svc.list_dispatch("r")
        await svc.list_dispatch("r")
        assert seen.take() == [n1, n1]  # back, and no longer cooling down
        await cloud.down("n1")
        await svc.list_dispatch("r")
        await cloud.up("n1")
        now[0] -= 10  # the clock went back: the cool-down ends rather than last 10 s longer
        await svc.list_dispatch("r")
        assert seen.take() == [n1, n2, n1]


async def test_a_create_whose_answer_is_lost_is_checked_before_another_node_gets_it(
    cloud: LocalCloud, traced: aiohttp.ClientSession, seen: Seen, summary: list[str]
) -> None:
    _, n2, n3 = nodes(cloud)

    # In front of n1: every create and list answer is lost after n1 did the work.
    def plan(i: int, rpc: str) -> Fault:
        return Fault.DROP_AFTER if rpc in ("CreateDispatch", "ListDispatch") else Fault.PASS

    calls = 100
    async with FaultProxy(cloud.urls["n1"], plan) as proxy:
        svc = AgentDispatchService(traced, proxy.url, KEY, SECRET, urls=[n2, n3])
        reqs = [create("r", f"c{i}") for i in range(calls)]
        results = await asyncio.gather(*(svc.create_dispatch(r) for r in reqs))
    assert all(isinstance(r, AgentDispatch) for r in results)
    counts = made(cloud, "r")
    duplicates = sum(n - 1 for n in counts.values())
    creates = seen.nodes("CreateDispatch")
    summary.append(
        f"node list, create answers lost at n1: {calls} concurrent creates, {proxy.faults[Fault.DROP_AFTER]} "
        f"answers dropped; returned {len(results)}; creates sent n1={creates[proxy.url]} n2={creates[n2]} "
        f"n3={creates[n3]}; checks (lists) at n2={seen.nodes('ListDispatch')[n2]}; duplicates = {duplicates}"
    )
    assert duplicates == 0
    assert len(counts) == calls
    assert creates == {proxy.url: calls}  # found by the check, at n2: never sent to another node
    assert seen.nodes("ListDispatch")[n2] == calls


async def test_a_create_lost_before_the_node_acted_is_checked_then_sent_to_the_next_node(
    cloud: LocalCloud, traced: aiohttp.ClientSession, seen: Seen
) -> None:
    _, n2, n3 = nodes(cloud)

    # In front of n1: every create's connection is closed before n1 gets it; lists pass.
    def plan(i: int, rpc: str) -> Fault:
        return Fault.DROP_BEFORE if rpc == "CreateDispatch" else Fault.PASS

    calls = 40
    async with FaultProxy(cloud.urls["n1"], plan) as proxy:
        svc = AgentDispatchService(traced, proxy.url, KEY, SECRET, urls=[n2, n3])
        await svc.create_dispatch(create("r", "warm"))  # the room exists, so a check can list it
        results = await asyncio.gather(*(svc.create_dispatch(create("r", f"c{i}")) for i in range(calls)))
    assert len(results) == calls
    assert all(n == 1 for n in made(cloud, "r").values())
    assert len(made(cloud, "r")) == calls + 1
    assert seen.nodes("CreateDispatch") == {proxy.url: calls + 1, n2: calls + 1}
    assert seen.nodes("ListDispatch") == {proxy.url: calls + 1}  # each checked at n1 first
