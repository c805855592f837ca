"""The stand-in's simulated workers: jobs shaped as livekit-server v1.13.5 shows them, on its clock."""

from __future__ import annotations

import re

import pytest
from local_helpers import KEY, SECRET, fixed_clock

from dispatch_client import AgentDispatchService, CreateAgentDispatchRequest, JobStatus, JobType
from dispatch_client.testing import LocalDispatchServer, WorkerAnswer

BASE57 = "[23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz]{12}"


class Clock:
    def __init__(self) -> None:
        self.now = fixed_clock()

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += round(seconds * 1e9)


async def _create(svc: AgentDispatchService, agent: str, room: str = "r") -> str:
    return (
        await svc.create_dispatch(CreateAgentDispatchRequest(agent_name=agent, room=room, metadata="m"))
    ).id


async def test_an_accepted_job_shows_running_after_the_delay() -> None:
    clock = Clock()
    async with LocalDispatchServer(KEY, SECRET, clock=clock) as server, server.connect() as svc:
        worker = server.add_worker("support", delay=0.2)
        assert re.fullmatch("AW_" + BASE57, worker.worker_id)
        dispatch_id = await _create(svc, "support")
        clock.advance(0.1999)
        found = await svc.get_dispatch(dispatch_id, "r")
        assert found is not None
        assert found.state is not None
        assert found.state.jobs == []  # not answered yet: no job, never JS_PENDING
        clock.advance(0.0001)
        found = await svc.get_dispatch(dispatch_id, "r")
        assert found is not None
        assert found.state is not None
        (job,) = found.state.jobs
        assert re.fullmatch("AJ_" + BASE57, job.id)
        assert (job.dispatch_id, job.type, job.agent_name, job.metadata) == (
            dispatch_id,
            JobType.JT_ROOM,
            "support",
            "m",
        )
        assert job.state is not None
        assert job.state.status is JobStatus.JS_RUNNING
        assert job.state.started_at == job.state.updated_at == fixed_clock() + 200_000_000
        assert (job.state.participant_identity, job.state.worker_id) == ("agent-" + job.id, worker.worker_id)
        assert job.room is not None
        assert re.fullmatch("RM_" + BASE57, job.room.sid)
        assert (job.room.name, job.room.empty_timeout, job.room.departure_timeout) == ("r", 300, 20)
        assert job.room.creation_time == fixed_clock() // 10**9
        clock.advance(60)  # the snapshot never changes
        assert await svc.get_dispatch(dispatch_id, "r") == found
        # The room's default dispatch (agent name "") has no worker: no job.
        assert [d.state.jobs for d in await svc.list_dispatch("r") if d.agent_name == "" and d.state] == [[]]


async def test_rejected_ignored_and_earlier_dispatches() -> None:
    clock = Clock()
    async with LocalDispatchServer(KEY, SECRET, clock=clock) as server, server.connect() as svc:
        early = await _create(svc, "late")
        server.add_worker("late")
        server.add_worker("no", answer="reject")
        server.add_worker("mute", answer=WorkerAnswer.IGNORE)
        rejected, ignored = await _create(svc, "no"), await _create(svc, "mute")
        clock.advance(30)
        jobs = {d.id: d.state.jobs for d in await svc.list_dispatch("r") if d.state is not None}
        assert jobs[early] == []  # made before the worker came: no job, as on livekit-server
        assert jobs[ignored] == []
        (job,) = jobs[rejected]
        assert job.state is not None
        assert job.state.status is JobStatus.JS_SUCCESS
        assert job.state.started_at == job.state.ended_at == job.state.updated_at == fixed_clock()
        assert job.state.participant_identity == ""


async def test_delete_answers_the_running_job_and_removed_workers_answer_nothing() -> None:
    clock = Clock()
    async with LocalDispatchServer(KEY, SECRET, clock=clock) as server, server.connect() as svc:
        worker = server.add_worker("a", delay=1)
        running = await _create(svc, "a")
        clock.advance(1)
        deleted = await svc.delete_dispatch(running, "r")
        assert deleted.state is not None
        assert [j.state.status for j in deleted.state.jobs if j.state] == [JobStatus.JS_RUNNING]
        unanswered = await _create(svc, "a")
        assert server.remove_worker(worker) is True
        assert server.remove_worker(worker) is False
        assert server.workers() == []
        clock.advance(5)
        found = await svc.get_dispatch(unanswered, "r")
        assert found is not None
        assert found.state is not None
        assert found.state.jobs == []


async def test_add_worker_checks_its_arguments(dispatch_server: LocalDispatchServer) -> None:
    with pytest.raises(ValueError, match="delay"):
        dispatch_server.add_worker("a", delay=-1)
    with pytest.raises(ValueError, match="agent_name"):
        dispatch_server.add_worker(None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="WorkerAnswer"):
        dispatch_server.add_worker("a", answer="maybe")
