"""Agents of simulated workers in the stand-in's rooms, as RoomService shows them, on a clock of the test's.

tests/test_differential_agents.py and tests/test_differential_cluster_agents.py compare these
answers with the real server's; these tests pin the stand-in's own rules: when an agent joins
and leaves, rooms with agents and their timeouts, the grants, an agent coming back with its
room when its node was killed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from cluster_sides import NO_RESPONSE, Client, Clock, LocalSide, room_on, token
from livekit import api
from livekit_server import API_KEY, API_SECRET, unique_room

from dispatch_client.testing import LocalCluster, LocalDispatchServer

OK = (200, None, None)
DENIED = (401, "unauthenticated", "permissions denied")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
async def server(clock: Clock) -> AsyncIterator[LocalDispatchServer]:
    async with LocalDispatchServer(
        API_KEY, API_SECRET, clock=clock, empty_timeout=60, not_running_wait=0.05
    ) as s:
        yield s


async def identities(client: Client, room: str) -> list[str]:
    return [str(p["identity"]) for p in (await client.participants(room)).items("participants")]


async def test_an_agent_joins_when_its_job_is_answered_and_leaves_with_its_dispatch(
    server: LocalDispatchServer, session: aiohttp.ClientSession, clock: Clock
) -> None:
    server.add_worker("support", delay=0.5)
    client = Client(session, server.url)
    room = unique_room("local-agents")
    made = await client.create(room, "support")
    assert await identities(client, room) == []
    clock.advance(0.5)
    got = (await client.list(room, str(made.body["id"]))).items("agent_dispatches")[0]
    job = got["state"]["jobs"][0]  # type: ignore[index]
    [agent] = (await client.participants(room)).items("participants")
    assert agent["identity"] == job["state"]["participant_identity"] == "agent-" + job["id"]
    assert (agent["kind"], agent["state"]) == ("AGENT", "ACTIVE")
    assert agent["attributes"] == {"lk.agent.name": "support", "lk.agent_name": "support"}
    assert agent["joined_at_ms"] == str(clock.now // 10**6)
    assert (await client.rooms(room)).items("rooms")[0]["num_participants"] == 0  # agents are not counted
    assert (await client.delete(room, str(made.body["id"]))).outcome == OK
    assert await identities(client, room) == []


@pytest.mark.parametrize("answer", ["reject", "ignore"])
async def test_a_worker_that_does_not_take_the_job_sends_no_agent(
    server: LocalDispatchServer, session: aiohttp.ClientSession, clock: Clock, answer: str
) -> None:
    server.add_worker("support", answer=answer)
    client = Client(session, server.url)
    room = unique_room("local-no-agent")
    await client.create(room, "support")
    clock.advance(1)
    assert await identities(client, room) == []


async def test_a_room_with_an_agent_outlives_its_empty_timeout_and_closes_after_the_last_left(
    server: LocalDispatchServer, session: aiohttp.ClientSession, clock: Clock
) -> None:
    server.add_worker("support")
    client = Client(session, server.url)
    room = unique_room("local-departure")
    made = await client.create(room, "support")
    clock.advance(120)  # past the empty timeout of 60 s
    assert room in server.rooms()
    await client.delete(room, str(made.body["id"]))
    clock.advance(19.9)
    assert room in server.rooms()
    clock.advance(0.1)  # 20 s after the agent left
    assert room not in server.rooms()
    assert (await client.rooms(room)).items("rooms") == []


async def test_the_reads_want_their_grants(
    server: LocalDispatchServer, session: aiohttp.ClientSession
) -> None:
    client = Client(session, server.url)
    room = unique_room("local-grants")
    other = unique_room("local-grants")
    await client.create(room, "a")
    await client.create(other, "a")
    assert [r["name"] for r in (await client.rooms()).items("rooms")] == [room, other]  # no names: every room
    assert (await client.participants(unique_room("never"))).outcome == OK
    url = server.url + "/twirp/livekit.RoomService/"
    denied: list[tuple[str, dict[str, object], dict[str, object]]] = [
        ("ListRooms", {"names": [room]}, {"roomAdmin": True, "room": room}),
        ("ListParticipants", {"room": room}, {"roomList": True}),
        ("ListParticipants", {"room": room}, {"roomAdmin": True, "room": other}),
    ]
    for method, body, video in denied:
        headers = {"Authorization": f"Bearer {token(video)}"}
        async with session.post(url + method, json=body, headers=headers) as resp:
            assert (resp.status, await resp.json()) == (401, {"code": DENIED[1], "msg": DENIED[2]})


async def test_an_agent_comes_back_with_its_room_after_agent_return(
    clock: Clock, session: aiohttp.ClientSession
) -> None:
    async with LocalCluster(
        2, API_KEY, API_SECRET, clock=clock, not_running_wait=0.05, node_liveness=2, agent_return=8
    ) as cluster:
        cluster.add_worker("support")
        client = Client(session, cluster.nodes[0].url)
        room = await room_on(LocalSide(cluster), client, 1, "local-return")
        await client.create(room, "support")
        [before] = (await client.participants(room)).items("participants")
        await cluster.nodes[1].kill()
        clock.advance(7.999)
        assert (await client.list(room)).outcome == NO_RESPONSE
        assert (await client.participants(room)).items("participants") == [before]
        clock.advance(0.001)
        listed = await client.list(room)
        assert [d["agent_name"] for d in listed.items("agent_dispatches")] == [""]
        [after] = (await client.participants(room)).items("participants")
        assert after["identity"] == before["identity"]
        assert after["sid"] != before["sid"]
        assert after["joined_at_ms"] == str(clock.now // 10**6)
        assert cluster.node_of(room) is cluster.nodes[0]


async def test_agents_come_back_no_sooner_than_the_node_stops_counting(
    clock: Clock, session: aiohttp.ClientSession
) -> None:
    async with LocalCluster(
        2, API_KEY, API_SECRET, clock=clock, not_running_wait=0.05, node_liveness=3, agent_return=1
    ) as cluster:
        cluster.add_worker("support")
        client = Client(session, cluster.nodes[0].url)
        room = await room_on(LocalSide(cluster), client, 1, "local-return-late")
        await client.create(room, "support")
        await cluster.nodes[1].kill()
        clock.advance(2.9)
        assert (await client.list(room)).outcome == NO_RESPONSE
        clock.advance(0.1)
        assert (await client.list(room)).outcome == OK


async def test_livekit_apis_room_service_reads_the_stand_in_in_protobuf(
    server: LocalDispatchServer, session: aiohttp.ClientSession, clock: Clock
) -> None:
    server.add_worker("support")
    room = unique_room("local-livekit-api")
    await Client(session, server.url).create(room, "support")
    rooms = api.LiveKitAPI(server.url, API_KEY, API_SECRET, session=session).room
    listed = await rooms.list_rooms(api.ListRoomsRequest(names=[room]))
    assert [r.name for r in listed.rooms] == [room]
    found = await rooms.list_participants(api.ListParticipantsRequest(room=room))
    assert [p.attributes["lk.agent_name"] for p in found.participants] == ["support"]
