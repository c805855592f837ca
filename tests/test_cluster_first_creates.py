"""Four processes x ten concurrent ensure_dispatch for one new room, all through one node of the
real cluster, with no coordinator between the processes, over ten runs.

Each create that starts a room picks a node for it on its own, so concurrent first creates can
start the room on both nodes at once; a node then lists only its own copy's dispatches. A
caller must never be handed a dispatch id that the room (as that node lists it) does not have:
each returned id is listed afterwards, or the call raised with ``outcome_unknown``.
"""

from __future__ import annotations

import asyncio
import collections
import subprocess
import sys
import time
from pathlib import Path
from typing import TypedDict

import orjson
from agent_fixtures import CLUSTER_AGENT, AgentWorker, cluster_worker, cluster_worker_process
from livekit import api
from livekit_cluster import Cluster
from livekit_server import unique_room

import dispatch_client
from dispatch_client._client.room_state import agents_named
from dispatch_client._client.rooms import list_participants

__all__ = ["cluster_worker", "cluster_worker_process"]  # the fixtures, imported for pytest

PROCESSES = 4
CALLS = 10
RUNS = 10
SCRIPT = Path(__file__).with_name("cluster_ensure_process.py")


class Failure(TypedDict):
    code: str
    outcome_unknown: bool
    message: str


class Result(TypedDict):
    ids: list[str]
    errors: list[Failure]


def run_processes(url: str, cluster: Cluster, room: str) -> list[Result]:
    args = [sys.executable, str(SCRIPT), url, cluster.api_key, cluster.api_secret, room, CLUSTER_AGENT]
    procs = [
        subprocess.Popen([*args, str(CALLS)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for _ in range(PROCESSES)
    ]
    try:
        for p in procs:
            assert p.stdout is not None
            assert p.stdout.readline().strip() == "ready"
        for p in procs:  # all at once
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        outs = [p.communicate(timeout=60)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert all(p.returncode == 0 for p in procs), outs
    return [orjson.loads(out.strip().splitlines()[-1]) for out in outs]


async def test_concurrent_first_creates_from_four_processes(
    cluster: Cluster, cluster_worker: AgentWorker, summary: list[str]
) -> None:
    node = cluster.nodes[0]
    lk = api.LiveKitAPI(node.url, cluster.api_key, cluster.api_secret)
    try:
        async with dispatch_client.connect(node.url, cluster.api_key, cluster.api_secret) as svc:
            for run in range(RUNS):
                room = unique_room("first-creates")
                results = await asyncio.to_thread(run_processes, node.url, cluster, room)
                listed = {d.id for d in await svc.list_dispatch(room) if d.agent_name == CLUSTER_AGENT}
                # The agents the worker sends, seen among the room's participants for a while.
                most, deadline = 0, time.monotonic() + 3
                while time.monotonic() < deadline:
                    agents = agents_named(
                        await list_participants(svc._transport, room, timeout=5), CLUSTER_AGENT
                    )
                    most = max(most, len(agents))
                    await asyncio.sleep(0.2)
                per_process = [sorted(set(r["ids"])) for r in results]
                errors = collections.Counter(
                    (e["code"], e["outcome_unknown"]) for r in results for e in r["errors"]
                )
                returned = {i for ids in per_process for i in ids}
                summary.append(
                    f"cluster first creates run {run}: {len(listed)} dispatches listed, "
                    f"most agents seen {most}, "
                    f"ids per process {[len(ids) for ids in per_process]}, errors {dict(errors)}, "
                    f"returned ids not listed {len(returned - listed)}"
                )
                assert returned <= listed, (returned - listed, listed)
                for r in results:
                    for e in r["errors"]:
                        assert e["outcome_unknown"], e
                await lk.room.delete_room(api.DeleteRoomRequest(room=room))
    finally:
        await lk.aclose()
