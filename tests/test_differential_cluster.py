"""A room's node killed, on the real two-node cluster and on LocalCluster: the same answers, step by step.

The real side is the session's cluster (livekit-server v1.13.5 nodes sharing one Redis): the
room is placed on node 1, node 1 is SIGKILLed, and every call goes through node 0
(``cluster_healed`` starts node 1 again afterwards). The stand-in side is a LocalCluster whose
waits are shorter (not-running wait, node liveness); only the timings may differ. Compared
step by step: status, Twirp code and message, and what the answers hold (the agent names of
the dispatches, whether the room keeps its sid, which node runs the room).
"""

from __future__ import annotations

import asyncio
import time

import aiohttp
from cluster_sides import NO_RESPONSE, Client, LocalSide, RealSide, Side, agent_names, room_on, runs
from livekit_cluster import Cluster
from livekit_server import API_KEY, API_SECRET, unique_room

from dispatch_client.testing import LocalCluster

Step = tuple[object, ...]
OK = (200, None, None)
DEADLINE = 40.0  # seconds after the kill by which a create must have gone through


async def _room_of_a_killed_node(
    side: Side, session: aiohttp.ClientSession, refused: list[str]
) -> tuple[list[Step], float]:
    """The steps' records, and how long after the kill a create first went through; ``refused``
    gets the new rooms made in the liveness window that landed on the killed node."""
    survivor = Client(session, side.url(0))
    room = await room_on(side, survivor, 1, "diff-cluster")
    first = await survivor.create(room, "first-agent", "before the kill")
    old = str(first.body["id"])
    before = await survivor.rooms(room)
    sid = before.items("rooms")[0]["sid"]
    story: list[Step] = [("a new room is listed at once", before.outcome, len(before.items("rooms")))]

    await side.kill(1)
    killed = time.monotonic()
    listed, present = await asyncio.gather(survivor.rooms(room), survivor.participants(room))
    story.append(("the store keeps it", listed.outcome, [r["sid"] == sid for r in listed.items("rooms")]))
    story.append(("no participants", present.outcome, present.items("participants")))
    fresh = [unique_room("diff-cluster-fresh") for _ in range(3)]
    answers = await asyncio.gather(
        survivor.list(room),
        survivor.list(room, old),
        survivor.delete(room, old),
        survivor.create(room, "second-agent", "in the window"),
        *(survivor.create(name, "fresh-agent") for name in fresh),
    )
    story.append(
        ("list, get, delete, create while its node counts as alive", [a.outcome for a in answers[:4]])
    )
    # A new room may land on the killed node too (drawn at random): a 503 then, and it is not in the store.
    stored = {str(r["name"]) for r in (await survivor.rooms(*fresh)).items("rooms")}
    refused[:] = [name for a, name in zip(answers[4:], fresh, strict=True) if a.outcome == NO_RESPONSE]
    story.append(
        (
            "new rooms in that time: made, or refused and not stored",
            all(
                (a.outcome == OK and name in stored) or (a.outcome == NO_RESPONSE and name not in stored)
                for a, name in zip(answers[4:], fresh, strict=True)
            ),
        )
    )

    outcomes = [answers[3].outcome]
    while outcomes[-1] != OK and time.monotonic() - killed < DEADLINE:
        outcomes.append((await survivor.create(room, "second-agent", "after the kill")).outcome)
    through = time.monotonic() - killed
    story.append(("creates until one goes through", runs(outcomes)))
    listed = await survivor.list(room)
    story.append(("rebuilt with a new default dispatch only", listed.outcome, agent_names(listed)))
    got, deleted = await survivor.list(room, old), await survivor.delete(room, old)
    story.append(("the old dispatch is gone", got.outcome, got.items("agent_dispatches"), deleted.outcome))
    again = await survivor.rooms(room)
    story.append(("it keeps its sid", again.outcome, [r["sid"] == sid for r in again.items("rooms")]))
    story.append(("it runs on the survivor", side.node_index_of(room)))
    return story, through


async def test_a_room_whose_node_was_killed_answers_as_on_the_real_cluster(
    cluster_healed: Cluster, summary: list[str]
) -> None:
    refused: list[str] = []
    async with aiohttp.ClientSession() as session:
        real, real_took = await _room_of_a_killed_node(RealSide(cluster_healed), session, refused)
    async with (
        LocalCluster(2, API_KEY, API_SECRET, not_running_wait=0.3, node_liveness=1.0) as local,
        aiohttp.ClientSession() as session,
    ):
        mine, mine_took = await _room_of_a_killed_node(LocalSide(local), session, [])
    summary.append(
        f"cluster: a create into a killed node's room went through {real_took:.1f} s after the kill "
        f"(LocalCluster, liveness 1 s and a 0.3 s wait: {mine_took:.1f} s); of 3 new rooms made "
        f"meanwhile, {len(refused)} landed on the killed node"
    )
    # What the real cluster does, as the stand-in must.
    assert real[1] == ("the store keeps it", OK, [True])
    assert real[3][1] == [NO_RESPONSE] * 4
    assert real[5] == ("creates until one goes through", [NO_RESPONSE, OK])
    assert real[6] == ("rebuilt with a new default dispatch only", OK, ["", "second-agent"])
    assert real[7] == (
        "the old dispatch is gone",
        OK,
        [],
        (404, "not_found", "twirp error unknown: dispatch ID not found"),
    )
    assert mine == real
