"""Agents in rooms, real against stand-in: the same steps with tests/agent_worker.py on livekit-server
v1.13.5 and with a simulated worker on LocalDispatchServer give the same RoomService answers.

Compared: the agent's participant as ListParticipants shows it (ids, times and its update count
masked; its attributes are not the dispatch's), that its identity is the one its job names, the
room as ListRooms shows it with the agent in it (by name, and among all rooms), and that the
agent leaves when its dispatch is deleted while the room stays.
"""

from __future__ import annotations

import aiohttp
from agent_fixtures import AGENT_NAME, AgentWorker, agent_worker, agent_worker_process
from cluster_sides import Answer, Client, active, shape, until
from livekit_server import API_KEY, API_SECRET, RealServer, unique_room

from dispatch_client.testing import LocalDispatchServer

__all__ = ["agent_worker", "agent_worker_process"]  # the fixtures, imported for pytest

Step = tuple[object, ...]


async def _agent_steps(url: str) -> list[Step]:
    async with aiohttp.ClientSession() as session:
        client = Client(session, url)
        room = unique_room("diff-agents")
        made = await client.create(room, AGENT_NAME, "stay", {"dispatch": "attribute"})
        dispatch_id = str(made.body["id"])

        async def agent_in() -> Answer | None:
            return active(await client.participants(room))

        async def job() -> Answer | None:
            got = await client.list(room, dispatch_id)
            state = got.items("agent_dispatches")[0]["state"]
            return got if isinstance(state, dict) and state["jobs"] else None

        joined = (await until("the agent is in the room", agent_in, 30)).items("participants")
        state = (await until("the job shows", job, 20)).items("agent_dispatches")[0]["state"]
        assert isinstance(state, dict)
        identity = state["jobs"][0]["state"]["participant_identity"]
        story: list[Step] = [("the agent", shape(joined), [p["identity"] == identity for p in joined])]
        listed = await client.rooms(room)
        rooms = [{**r, "name": r["name"] == room} for r in listed.items("rooms")]
        story.append(("the room with its agent", listed.outcome, shape(rooms)))
        every = await client.rooms()  # no names: every room (others' too, on the real server)
        story.append(
            ("listed among all rooms", every.outcome, room in {r["name"] for r in every.items("rooms")})
        )

        deleted = await client.delete(room, dispatch_id)

        async def gone() -> Answer | None:
            answer = await client.participants(room)
            return answer if not answer.items("participants") else None

        left = await until("the agent leaves", gone, 20)
        story.append(("its dispatch deleted, the agent leaves", deleted.outcome, left.outcome))
        after = await client.rooms(room)
        story.append(("the room stays", after.outcome, len(after.items("rooms"))))
        return story


async def test_agents_in_rooms_show_as_on_livekit_server(
    livekit: RealServer, agent_worker: AgentWorker
) -> None:
    real = await _agent_steps(livekit.url)
    async with LocalDispatchServer(API_KEY, API_SECRET) as local:
        local.add_worker(AGENT_NAME, delay=0.05)
        mine = await _agent_steps(local.url)
    assert real[1][1] == (200, None, None)
    assert mine == real
