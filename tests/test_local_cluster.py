"""LocalCluster on its own: nodes sharing one room store, killed and started again, on a clock of the test's.

What it imitates is compared with the real cluster in tests/test_differential_cluster*.py; these
tests pin its rules and settings (the waits on its clock, a node started again, new rooms that
land on a killed node, connections cut by a kill).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from cluster_sides import NO_RESPONSE, Answer, Client, Clock, LocalSide, room_on
from livekit_server import API_KEY, API_SECRET, unique_room

from dispatch_client.testing import AGENT_RETURN, NODE_LIVENESS, LocalCluster

OK = (200, None, None)
WAIT = 0.05  # the not-running wait of these clusters, in seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def cluster(clock: Clock) -> AsyncIterator[LocalCluster]:
    async with LocalCluster(
        2, API_KEY, API_SECRET, clock=clock, not_running_wait=WAIT, node_liveness=5, agent_return=10
    ) as started:
        yield started


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def test_the_defaults_are_the_real_clusters() -> None:
    assert NODE_LIVENESS == 5.0
    assert 7 <= AGENT_RETURN <= 13


@pytest.mark.parametrize(
    "kwargs",
    [
        {"size": 0},
        {"size": True},
        {"node_liveness": -1},
        {"agent_return": float("inf")},
        {"not_running_wait": -1},
    ],
)
def test_bad_settings_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="must be"):
        LocalCluster(**kwargs)  # type: ignore[arg-type]


async def test_every_node_serves_every_room(cluster: LocalCluster, session: aiohttp.ClientSession) -> None:
    first, second = (Client(session, url) for url in cluster.urls)
    room = unique_room("local-cluster")
    assert (await first.create(room, "a")).outcome == OK
    assert [d["agent_name"] for d in (await second.list(room)).items("agent_dispatches")] == ["", "a"]
    assert cluster.node_of(room) in cluster.nodes
    assert len({n.node_id for n in cluster.nodes}) == 2
    assert set(cluster.rooms()) == {room}


async def test_a_killed_node_refuses_connections_and_starts_again_as_a_new_node(
    cluster: LocalCluster, session: aiohttp.ClientSession, clock: Clock
) -> None:
    survivor = Client(session, cluster.nodes[0].url)
    room = await room_on(LocalSide(cluster), survivor, 1, "local-kill")
    node = cluster.nodes[1]
    url, old_id = node.url, node.node_id
    await node.kill()
    assert not node.alive
    assert cluster.node_of(room) is None
    with pytest.raises(aiohttp.ClientConnectionError):
        await Client(session, url).list(room)
    await node.start()
    assert node.url == url
    assert node.node_id != old_id
    # A node started again brings nothing back: the room is still on the dead one.
    assert (await Client(session, url).list(room)).outcome == NO_RESPONSE
    assert room not in cluster.rooms()
    clock.advance(5)
    assert (await survivor.create(room, "b")).outcome == OK
    assert cluster.node_of(room) is not None


async def test_a_create_waits_out_the_liveness_window_on_the_clusters_clock(
    cluster: LocalCluster, session: aiohttp.ClientSession, clock: Clock
) -> None:
    survivor = Client(session, cluster.nodes[0].url)
    room = await room_on(LocalSide(cluster), survivor, 1, "local-window")
    sid = (await survivor.rooms(room)).items("rooms")[0]["sid"]
    await cluster.nodes[1].kill()
    clock.advance(4.999)
    started = time.monotonic()
    assert (await survivor.create(room, "b")).outcome == NO_RESPONSE
    assert time.monotonic() - started >= WAIT
    clock.advance(0.001)
    made = await survivor.create(room, "b")
    assert made.outcome == OK
    listed = await survivor.list(room)
    assert sorted(str(d["agent_name"]) for d in listed.items("agent_dispatches")) == ["", "b"]
    assert (await survivor.rooms(room)).items("rooms")[0]["sid"] == sid
    assert cluster.node_of(room) is cluster.nodes[0]


async def test_a_new_room_can_land_on_a_killed_node_until_it_stops_counting(
    clock: Clock, session: aiohttp.ClientSession
) -> None:
    async with LocalCluster(
        2, API_KEY, API_SECRET, clock=clock, rng=random.Random(7), not_running_wait=WAIT
    ) as cluster:
        survivor = Client(session, cluster.nodes[0].url)
        await cluster.nodes[1].kill()
        answers: dict[str, Answer] = {}
        for _ in range(20):
            room = unique_room("local-fresh")
            answers[room] = await survivor.create(room, "a")
        refused = [room for room, a in answers.items() if a.outcome == NO_RESPONSE]
        assert 0 < len(refused) < len(answers)
        assert {a.outcome for a in answers.values()} == {OK, NO_RESPONSE}
        assert (await survivor.rooms(*refused)).items("rooms") == []
        assert (await survivor.list(refused[0])).outcome == NO_RESPONSE
        clock.advance(NODE_LIVENESS)
        assert (await survivor.create(refused[0], "a")).outcome == OK
        for _ in range(10):  # once the killed node no longer counts, no new room lands on it
            assert (await survivor.create(unique_room("local-late"), "a")).outcome == OK


async def test_a_kill_cuts_the_connections_open_to_the_node(session: aiohttp.ClientSession) -> None:
    async with LocalCluster(2, API_KEY, API_SECRET, not_running_wait=30) as slow:
        waiting = asyncio.create_task(Client(session, slow.nodes[1].url).list(unique_room("never")))
        await asyncio.sleep(0.1)  # the list is waiting on the node
        await slow.nodes[1].kill()
        with pytest.raises(aiohttp.ClientConnectionError):
            await asyncio.wait_for(waiting, 5)


async def test_close_and_start_keep_the_state_and_the_ports(
    cluster: LocalCluster, session: aiohttp.ClientSession
) -> None:
    room = unique_room("local-restart")
    assert (await Client(session, cluster.url).create(room, "a")).outcome == OK
    urls = cluster.urls
    await cluster.close()
    assert not any(n.alive for n in cluster.nodes)
    await cluster.start()
    assert cluster.urls == urls
    assert (await Client(session, cluster.nodes[1].url).list(room)).outcome == OK
