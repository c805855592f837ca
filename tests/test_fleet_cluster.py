"""ensure_dispatch from several processes that share a RedisCoordinator, against the real
cluster and its real worker: one dispatch and one agent per room, a holder SIGKILLed in the
middle of its create, and the coordinator's Redis killed during the calls."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import subprocess
import sys
import time
from pathlib import Path
from typing import TypedDict

import orjson
from agent_fixtures import CLUSTER_AGENT, AgentWorker, cluster_worker, cluster_worker_process
from fault_proxy import Fault, FaultProxy
from livekit import api
from livekit_cluster import Cluster, Redis
from livekit_server import unique_room

import dispatch_client
from dispatch_client import AgentDispatchService, TwirpError
from dispatch_client._client.room_state import agents_named
from dispatch_client._client.rooms import list_participants

__all__ = ["cluster_worker", "cluster_worker_process"]  # the fixtures, imported for pytest

SCRIPT = Path(__file__).with_name("fleet_ensure_process.py")


class Failure(TypedDict):
    code: str
    outcome_unknown: bool
    message: str


class Result(TypedDict):
    ids: dict[str, list[str]]
    errors: list[Failure]
    other: list[str]


def keys_kept(server: Redis) -> None:
    # A Redis started moments ago is taken as one that may have lost leases (tests/test_fleet_coordinator.py).
    with server.client() as r:
        r.set("{dispatch-client}:keys-kept", "1")


def spawn(
    url: str, cluster: Cluster, calls: int, rooms: list[str], redis: Redis, timeout: float
) -> subprocess.Popen[str]:
    args = [sys.executable, str(SCRIPT), url, cluster.api_key, cluster.api_secret, CLUSTER_AGENT, str(calls)]
    args += [",".join(rooms), f"redis://{redis.address}/0", str(timeout)]
    return subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def line(p: subprocess.Popen[str]) -> str:
    assert p.stdout is not None
    return p.stdout.readline().strip()


def go(procs: list[subprocess.Popen[str]]) -> None:
    for p in procs:
        assert line(p) == "ready"
    for p in procs:  # all at once
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()


def results(procs: list[subprocess.Popen[str]]) -> list[Result]:
    try:
        outs = [p.communicate(timeout=90)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert all(p.returncode == 0 for p in procs), outs
    return [orjson.loads(out.strip().splitlines()[-1]) for out in outs]


def run(procs: list[subprocess.Popen[str]]) -> list[Result]:
    go(procs)
    return results(procs)


async def dispatches(svc: AgentDispatchService, room: str, listings: int = 3) -> set[str]:
    """The agent's dispatches in ``room`` over several listings (a room that never ran has none)."""
    found: set[str] = set()
    for _ in range(listings):
        try:
            found |= {d.id for d in await svc.list_dispatch(room) if d.agent_name == CLUSTER_AGENT}
        except TwirpError as e:
            if not e.room_not_running:
                raise
    return found


async def agents(svc: AgentDispatchService, room: str, wait_for_one: float, then: float) -> int:
    """The most agents of the name seen in ``room``: waited for up to ``wait_for_one`` s to be
    one, then sampled for ``then`` s more (two at any moment is what must never be)."""
    most, first_deadline = 0, time.monotonic() + wait_for_one
    end: float | None = None
    while end is None or time.monotonic() < end:
        try:
            seen = len(agents_named(await list_participants(svc._transport, room, timeout=5), CLUSTER_AGENT))
        except TwirpError:
            seen = 0
        most = max(most, seen)
        if end is None and (seen or time.monotonic() > first_deadline):
            end = time.monotonic() + then
        await asyncio.sleep(0.2)
    return most


async def close(lk: api.LiveKitAPI, rooms: list[str]) -> None:
    for room in rooms:
        with contextlib.suppress(api.TwirpError):  # a room that never started
            await lk.room.delete_room(api.DeleteRoomRequest(room=room))


async def test_four_processes_make_one_dispatch_and_one_agent(
    cluster: Cluster, cluster_worker: AgentWorker, summary: list[str]
) -> None:
    keys_kept(cluster.redis)
    node = cluster.nodes[0]
    lk = api.LiveKitAPI(node.url, cluster.api_key, cluster.api_secret)
    try:
        async with dispatch_client.connect(node.url, cluster.api_key, cluster.api_secret) as svc:
            for attempt in range(3):
                room = unique_room("fleet-one")
                started = time.monotonic()
                out = await asyncio.to_thread(
                    run, [spawn(node.url, cluster, 10, [room], cluster.redis, 15) for _ in range(4)]
                )
                took = time.monotonic() - started
                listed = await dispatches(svc, room)
                most = await agents(svc, room, wait_for_one=15, then=2)
                returned = {i for r in out for i in r["ids"][room]}
                summary.append(
                    f"fleet, 4 processes x 10 ensure_dispatch with a RedisCoordinator, run {attempt}: "
                    f"{len(listed)} dispatch listed, {len(returned)} id returned, most agents seen {most}, "
                    f"errors {len([e for r in out for e in r['errors']])}, {took:.1f} s for the processes"
                )
                assert [r["other"] for r in out] == [[]] * 4
                assert [len(r["ids"][room]) for r in out] == [10] * 4
                assert len(listed) == 1
                assert returned == listed
                assert most == 1
                await close(lk, [room])
    finally:
        await lk.aclose()


async def test_a_holder_killed_in_the_middle_of_its_create(
    cluster: Cluster, cluster_worker: AgentWorker, summary: list[str]
) -> None:
    keys_kept(cluster.redis)
    node = cluster.nodes[0]
    room = unique_room("fleet-killed")
    lk = api.LiveKitAPI(node.url, cluster.api_key, cluster.api_secret)
    # The holder's create waits 0.5 s in a proxy before it reaches the server (within the
    # lease's margin): the holder is SIGKILLed while it is on its way.
    slow = FaultProxy(
        node.url, lambda i, rpc: Fault.DELAY if rpc == "CreateDispatch" else Fault.PASS, delay=0.5
    )
    try:
        async with slow, dispatch_client.connect(node.url, cluster.api_key, cluster.api_secret) as svc:
            holder = spawn(slow.url, cluster, 1, [room], cluster.redis, 4)
            await asyncio.to_thread(go, [holder])
            deadline = time.monotonic() + 10
            while slow.by_rpc["CreateDispatch"] == 0:
                assert time.monotonic() < deadline, "the holder's create never came"
                await asyncio.sleep(0.01)
            holder.kill()
            killed = time.monotonic()
            holder.wait()
            if holder.stdout is not None:
                holder.stdout.close()
            if holder.stdin is not None:
                holder.stdin.close()
            out = await asyncio.to_thread(
                run, [spawn(node.url, cluster, 10, [room], cluster.redis, 15) for _ in range(3)]
            )
            after = time.monotonic() - killed
            listed = await dispatches(svc, room)
            most = await agents(svc, room, wait_for_one=15, then=2)
            returned = {i for r in out for i in r["ids"][room]}
            summary.append(
                f"fleet, holder SIGKILLed with its create on the way: 3 processes x 10 after it returned "
                f"within {after:.1f} s of the kill; {len(listed)} dispatch listed, "
                f"{len(returned)} id returned, "
                f"most agents seen {most}"
            )
            assert [r["other"] for r in out] == [[]] * 3
            assert len(listed) == 1
            assert returned == listed
            assert most == 1
    finally:
        await close(lk, [room])
        await lk.aclose()


async def test_the_coordinators_redis_killed_during_the_calls(
    cluster: Cluster, cluster_worker: AgentWorker, tmp_path: Path, summary: list[str]
) -> None:
    coordinator_redis = Redis(tmp_path)
    keys_kept(coordinator_redis)
    node = cluster.nodes[0]
    rooms = [unique_room(f"fleet-redis-{i}") for i in range(5)]
    lk = api.LiveKitAPI(node.url, cluster.api_key, cluster.api_secret)
    try:
        async with dispatch_client.connect(node.url, cluster.api_key, cluster.api_secret) as svc:
            procs = [spawn(node.url, cluster, 10, rooms, coordinator_redis, 15) for _ in range(4)]
            await asyncio.to_thread(go, procs)
            assert [await asyncio.to_thread(line, p) for p in procs] == ["sent"] * 4
            coordinator_redis.kill()
            out = await asyncio.to_thread(results, procs)
            twins, per_room = 0, []
            for room in rooms:
                listed = await dispatches(svc, room)
                most = await agents(svc, room, wait_for_one=8 if listed else 0, then=1)
                per_room.append((len(listed), most))
                twins += most > 1
            codes = collections.Counter(e["code"] for r in out for e in r["errors"])
            returned = sum(len(ids) for r in out for ids in r["ids"].values())
            summary.append(
                f"fleet, coordinator's Redis killed during 4 x 10 calls over 5 rooms: {returned} returned, "
                f"errors {dict(codes)}; (dispatches, most agents) per room {per_room}; "
                f"rooms with two agents {twins}"
            )
            assert [r["other"] for r in out] == [[]] * 4
            assert returned + sum(codes.values()) == 40
            assert twins == 0
            assert all(n <= 1 for n, _ in per_room)
    finally:
        coordinator_redis.close()
        await close(lk, rooms)
        await lk.aclose()
