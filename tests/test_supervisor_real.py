"""Supervisor against the real livekit-server with real livekit-agents workers: a killed worker, a
killed node and a deleted dispatch each end with an agent running again, and never two at once."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
from agent_fixtures import (
    AGENT_NAME,
    CLUSTER_AGENT,
    AgentWorker,
    _Started,
    agent_worker,
    agent_worker_process,
    cluster_worker,
    cluster_worker_process,
    start_worker,
    stop_worker,
)
from cluster_helpers import dispatch_on
from livekit_cluster import Cluster
from livekit_server import RealServer, unique_room

from dispatch_client import AgentDispatchService, CreateAgentDispatchRequest
from dispatch_client.fleet import (
    EventKind,
    EventStream,
    LossReason,
    Supervisor,
    SupervisorEvent,
    SupervisorOptions,
)

__all__ = ["agent_worker", "agent_worker_process", "cluster_worker", "cluster_worker_process"]  # fixtures

# Waits for a real worker: a job shows about 0.2 s after the create (about 5 s for the first
# job after a worker registers).
REAL: SupervisorOptions = {
    "job_timeout": 8.0,
    "check_interval": 0.5,
    "join_timeout": 5.0,
    "leave_timeout": 5.0,
    "room_grace": 30.0,
    "call_timeout": 10.0,
    "backoff": 0.3,
    "max_backoff": 2.0,
}


class Sampler:
    """The room's agents of one name, read (ListParticipants) every 0.1 s: the most at once."""

    def __init__(self, svc: AgentDispatchService, room: str, agent_name: str) -> None:
        self.most, self.samples = 0, 0
        self.joined = asyncio.Event()  # set once an agent was seen
        self._reads, self._room, self._name = svc._room_reads(), room, agent_name

    async def run(self) -> None:
        while True:
            agents = await self._reads.agents(self._room, self._name, 5)
            if isinstance(agents, list):
                self.most = max(self.most, len(agents))
                self.samples += 1
                if agents:
                    self.joined.set()
            await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def sampled(svc: AgentDispatchService, room: str, agent_name: str) -> AsyncIterator[Sampler]:
    sampler = Sampler(svc, room, agent_name)
    task = asyncio.create_task(sampler.run())
    try:
        yield sampler
    finally:
        task.cancel()
        await asyncio.wait([task])
    assert sampler.samples >= 5
    assert sampler.most == 1, f"at most {sampler.most} agents of {agent_name!r} at once"


async def until_agent_again(events: EventStream, timeout: float) -> list[SupervisorEvent]:
    """The events until an agent runs again after a loss (RUNNING, or PRESENT: one is in the room)."""
    seen: list[SupervisorEvent] = []
    async with asyncio.timeout(timeout):
        async for event in events:
            seen.append(event)
            lost = any(e.kind is EventKind.LOST for e in seen)
            if event.kind in (EventKind.RUNNING, EventKind.PRESENT) and lost:
                return seen
            assert event.kind not in (EventKind.GAVE_UP, EventKind.ROOM_CLOSED), seen
    raise AssertionError(seen)


def _said(event: SupervisorEvent) -> str:
    return event.kind.value + (f" ({event.reason.value})" if event.reason else "")


async def test_a_killed_worker_is_replaced_by_a_new_one(
    livekit: RealServer, session: aiohttp.ClientSession, tmp_path: Path, summary: list[str]
) -> None:
    name = f"sup-worker-{time.monotonic_ns() % 10**9}"  # no other worker takes its jobs
    first = await asyncio.to_thread(start_worker, livekit, name, tmp_path)
    starting: asyncio.Task[_Started] | None = None
    svc = AgentDispatchService(session, livekit.url, livekit.api_key, livekit.api_secret)
    room = unique_room("sup-worker")
    try:
        async with Supervisor(svc, **REAL) as sup, sampled(svc, room, name) as sampler:
            events = sup.events()
            await sup.keep(CreateAgentDispatchRequest(agent_name=name, room=room))
            await events.wait_for(EventKind.RUNNING, timeout=20)
            await asyncio.wait_for(sampler.joined.wait(), 10)  # the agent joined
            first.worker.process.kill()  # SIGKILL: the job still shows running
            killed, killed_at = time.monotonic(), time.time()
            starting = asyncio.create_task(asyncio.to_thread(start_worker, livekit, name, tmp_path))
            seen = await until_agent_again(events, timeout=38)
            back = time.monotonic() - killed
            lost = [e for e in seen if e.kind is EventKind.LOST]
            noticed = lost[0].time - killed_at
            # Its agent left the room; redispatches made before the new worker registered, if
            # any, got no job and were made again.
            assert [e.reason for e in lost][:1] == [LossReason.AGENT_LEFT]
            assert {e.reason for e in lost[1:]} <= {LossReason.NO_JOB}
            assert seen[-1].kind is EventKind.RUNNING
            await sup.release(room, name, delete=True)
        summary.append(
            f"supervisor: worker SIGKILLed, a new one started: agent loss seen after {noticed:.1f} s, "
            f"a new agent running {back:.1f} s after the kill ({sampler.samples} samples, at most "
            f"{sampler.most} agent at once); events: {', '.join(_said(e) for e in seen)}"
        )
    finally:
        stop_worker(first)
        if starting is not None:
            stop_worker(await starting)


async def test_the_rooms_node_killed(
    cluster_healed: Cluster, cluster_worker: AgentWorker, session: aiohttp.ClientSession, summary: list[str]
) -> None:
    cluster = cluster_healed
    survivor, doomed = cluster.nodes  # the worker is on the survivor
    svc = AgentDispatchService(session, survivor.url, cluster.api_key, cluster.api_secret, timeout=15)
    made = await dispatch_on(cluster, svc, doomed, CLUSTER_AGENT, "sup-node")
    async with Supervisor(svc, **REAL) as sup, sampled(svc, made.room, CLUSTER_AGENT) as sampler:
        events = sup.events()
        await sup.keep(CreateAgentDispatchRequest(agent_name=CLUSTER_AGENT, room=made.room))
        running = await events.wait_for(EventKind.RUNNING, timeout=20)
        assert running.dispatch_id == made.id  # ensure_dispatch found the room's dispatch
        await asyncio.wait_for(sampler.joined.wait(), 10)  # the agent joined
        doomed.kill()
        killed = time.monotonic()
        seen = await until_agent_again(events, timeout=35)
        back = time.monotonic() - killed
        assert [e.kind for e in seen] == [EventKind.LOST, EventKind.PRESENT]  # it came back with its room
        assert seen[0].reason is LossReason.DISPATCH_LOST
        await sup.release(made.room, CLUSTER_AGENT)
    for dispatch in await svc.list_dispatch(made.room):
        if dispatch.agent_name == "":  # the agent came back under the room's new default dispatch
            await svc.delete_dispatch(dispatch.id, made.room)
    summary.append(
        f"supervisor: room's node SIGKILLed: its agent in the room again (kept, none sent twice) "
        f"{back:.1f} s after the kill ({sampler.samples} samples, at most {sampler.most} agent at once)"
    )


async def test_a_dispatch_deleted_by_someone_else(
    livekit: RealServer, agent_worker: AgentWorker, session: aiohttp.ClientSession, summary: list[str]
) -> None:
    svc = AgentDispatchService(session, livekit.url, livekit.api_key, livekit.api_secret)
    room = unique_room("sup-deleted")
    async with Supervisor(svc, **REAL) as sup, sampled(svc, room, AGENT_NAME) as sampler:
        events = sup.events()
        await sup.keep(CreateAgentDispatchRequest(agent_name=AGENT_NAME, room=room))
        running = await events.wait_for(EventKind.RUNNING, timeout=20)
        assert running.dispatch_id is not None
        await asyncio.wait_for(sampler.joined.wait(), 10)  # the agent joined
        await svc.delete_dispatch(running.dispatch_id, room)
        deleted = time.monotonic()
        seen = await until_agent_again(events, timeout=30)
        back = time.monotonic() - deleted
        assert [e.kind for e in seen] == [EventKind.LOST, EventKind.REDISPATCHED, EventKind.RUNNING]
        assert seen[0].reason is LossReason.DISPATCH_DELETED
        await sup.release(room, AGENT_NAME, delete=True)
    summary.append(
        f"supervisor: dispatch deleted by someone else: a new agent running {back:.1f} s later "
        f"({sampler.samples} samples, at most {sampler.most} agent at once)"
    )
