"""Four processes x ten concurrent ensure_dispatch for one new room, all through one node of the
real cluster, with no coordinator between the processes, over ten runs.

Each create that starts a room picks a node for it on its own, so concurrent first creates can
start the room on both nodes at once. Both copies then answer for the room's name, and each
read reaches whichever answers first, so listings differ from one read to the next until the
copy that no participant joins closes. Without a coordinator no client can rule that out: the
test asserts that every call returned a dispatch or raised with ``outcome_unknown`` and prints
how many returned ids later listings do not show (in some runs, one or two); with a coordinator
between the processes (tests/test_fleet_cluster.py) there is one create, and none.
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
LISTINGS = 5
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
                listings = [
                    {d.id for d in await svc.list_dispatch(room) if d.agent_name == CLUSTER_AGENT}
                    for _ in range(LISTINGS)
                ]
                listed = set().union(*listings)
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
                    f"cluster first creates run {run}: {len(listed)} dispatches listed "
                    f"({sorted({len(ids) for ids in listings})} per listing of {LISTINGS}), "
                    f"most agents seen {most}, "
                    f"ids per process {[len(ids) for ids in per_process]}, errors {dict(errors)}, "
                    f"returned ids not listed {len(returned - listed)}, "
                    f"not in the first listing {len(returned - listings[0])}"
                )
                assert all(len(r["ids"]) + len(r["errors"]) == CALLS for r in results)
                for r in results:
                    for e in r["errors"]:
                        assert e["outcome_unknown"], e
                await lk.room.delete_room(api.DeleteRoomRequest(room=room))
    finally:
        await lk.aclose()
