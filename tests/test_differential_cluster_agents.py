"""A room with an agent in it whose node is killed, on the real cluster and on LocalCluster.

Real side: the session's cluster with tests/agent_worker.py registered on node 0; the room is
placed on node 1, which is SIGKILLed (``cluster_healed`` starts it again afterwards); the agent
reconnects and the room comes back on node 0. Stand-in side: a LocalCluster with a simulated
worker and shorter waits. Compared step by step: status, Twirp code and message, the agent's
participant as ListParticipants shows it (ids and times masked), whether it is the same agent
(identity) in a new session (participant sid), the room's sid, the dispatches once it is back.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp
from agent_fixtures import CLUSTER_AGENT, AgentWorker, cluster_worker, cluster_worker_process
from cluster_sides import (
    NO_RESPONSE,
    Answer,
    Client,
    LocalSide,
    RealSide,
    Side,
    active,
    agent_names,
    room_on,
    runs,
    shape,
    until,
)
from livekit_cluster import Cluster
from livekit_server import API_KEY, API_SECRET

from dispatch_client.testing import LocalCluster

__all__ = ["cluster_worker", "cluster_worker_process"]  # the fixtures, imported for pytest

Step = tuple[object, ...]
OK = (200, None, None)
BACK_WITHIN = 40.0  # seconds after the kill


async def _job_identity(client: Client, room: str, dispatch_id: str) -> str:
    async def job() -> Answer | None:
        got = await client.list(room, dispatch_id)
        found = got.items("agent_dispatches")
        state = found[0].get("state") if found else None
        return got if isinstance(state, dict) and state.get("jobs") else None

    got = await until("the dispatch shows its job", job, 20)
    state = got.items("agent_dispatches")[0]["state"]
    assert isinstance(state, dict)
    return str(state["jobs"][0]["state"]["participant_identity"])


async def _agent_room(
    side: Side, session: aiohttp.ClientSession, resumed: list[bool]
) -> tuple[list[Step], float]:
    """The steps' records, and how long after the kill the room answered again; ``resumed``
    gets whether each agent came back with its participant sid."""
    client = Client(session, side.url(0))
    room = await room_on(side, client, 1, "diff-agent-room")
    made = await client.create(room, CLUSTER_AGENT)
    old = str(made.body["id"])

    async def agent_in() -> Answer | None:
        return active(await client.participants(room))

    joined = (await until("the agent is in the room", agent_in, 30)).items("participants")
    identity = await _job_identity(client, room, old)
    story: list[Step] = [("the agent", shape(joined), [p["identity"] == identity for p in joined])]
    sid = (await client.rooms(room)).items("rooms")[0]["sid"]

    await side.kill(1)
    killed = time.monotonic()
    kept, listed = await asyncio.gather(client.participants(room), client.rooms(room))
    story.append(
        (
            "the store keeps the agent",
            kept.outcome,
            [p["sid"] == joined[0]["sid"] for p in kept.items("participants")],
        )
    )
    story.append(("and the room", listed.outcome, [r["sid"] == sid for r in listed.items("rooms")]))

    outcomes = []
    while time.monotonic() - killed < BACK_WITHIN:
        answer = await client.list(room)
        outcomes.append(answer.outcome)
        if answer.outcome == OK:
            break
    back_after = time.monotonic() - killed
    story.append(("lists until the agent brings the room back", runs(outcomes), agent_names(answer)))
    back = await until("the agent is active again", agent_in, 10)
    # Its participant sid may be the old one (its session resumed) or a new one (a new session):
    # both happen on the real cluster, so only the identity is compared.
    story.append(
        (
            "the same agent, reconnected",
            shape(back.items("participants")),
            [p["identity"] == identity for p in back.items("participants")],
        )
    )
    resumed[:] = [p["sid"] == joined[0]["sid"] for p in back.items("participants")]
    got, deleted = await client.list(room, old), await client.delete(room, old)
    story.append(("its dispatch is gone", got.outcome, got.items("agent_dispatches"), deleted.outcome))
    again = await client.rooms(room)
    story.append(("the room keeps its sid", again.outcome, [r["sid"] == sid for r in again.items("rooms")]))
    story.append(("it runs on the survivor", side.node_index_of(room)))
    return story, back_after


async def test_a_room_with_an_agent_whose_node_was_killed_comes_back_as_on_the_real_cluster(
    cluster_healed: Cluster, cluster_worker: AgentWorker, summary: list[str]
) -> None:
    resumed: list[bool] = []
    async with aiohttp.ClientSession() as session:
        real, real_took = await _agent_room(RealSide(cluster_healed), session, resumed)
    async with (
        LocalCluster(
            2, API_KEY, API_SECRET, not_running_wait=0.3, node_liveness=0.5, agent_return=1.0
        ) as local,
        aiohttp.ClientSession() as session,
    ):
        local.add_worker(CLUSTER_AGENT, delay=0.05)
        mine, mine_took = await _agent_room(LocalSide(local), session, [])
    summary.append(
        f"cluster: a room with an agent answered again {real_took:.1f} s after its node was killed "
        f"(LocalCluster, agent_return 1 s: {mine_took:.1f} s); its agent kept its participant sid: {resumed}"
    )
    # What the real cluster does, as the stand-in must.
    assert real[1] == ("the store keeps the agent", OK, [True])
    assert real[3] == ("lists until the agent brings the room back", [NO_RESPONSE, OK], [""])
    assert real[6] == ("the room keeps its sid", OK, [True])
    assert mine == real
