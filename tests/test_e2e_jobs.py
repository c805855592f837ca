"""Jobs of dispatches made by this client, run by a real livekit-agents worker on livekit-server v1.13.5.

What these tests pin (and the stand-in's simulated workers imitate, see
dispatch_client/testing/_workers.py): a job shows in ``state.jobs`` only once the worker has
answered the offer, already ``JS_RUNNING`` -- ``JS_PENDING`` is never seen -- and the dispatch
keeps that snapshot whatever the job does afterwards.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator

import pytest
from agent_fixtures import (
    AGENT_NAME,
    AgentWorker,
    agent_worker,
    agent_worker_process,
    job_of,
    start_worker,
    stop_worker,
)
from livekit_server import RealServer, unique_room

import dispatch_client
from dispatch_client import (
    AgentDispatch,
    AgentDispatchService,
    CreateAgentDispatchRequest,
    JobStatus,
    JobType,
)

__all__ = ["agent_worker", "agent_worker_process"]  # the fixtures, imported for pytest

BASE57 = "[23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz]{12}"


@pytest.fixture
async def svc(livekit: RealServer) -> AsyncIterator[AgentDispatchService]:
    async with dispatch_client.connect(livekit.url, livekit.api_key, livekit.api_secret, timeout=5) as s:
        yield s


async def _dispatch(svc: AgentDispatchService, metadata: str, agent_name: str = AGENT_NAME) -> AgentDispatch:
    room = unique_room("jobs")
    return await svc.create_dispatch(
        CreateAgentDispatchRequest(agent_name=agent_name, room=room, metadata=metadata)
    )


async def test_a_job_appears_running_with_the_workers_ids(
    svc: AgentDispatchService, livekit: RealServer, agent_worker: AgentWorker
) -> None:
    created = await _dispatch(svc, "stay")
    assert created.state is not None
    assert created.state.jobs == []
    seen: list[JobStatus | None] = []
    found: AgentDispatch | None = None
    started = time.monotonic()
    while time.monotonic() - started < 5:  # bounded: every status the dispatch shows, in order
        found = await svc.get_dispatch(created.id, created.room)
        assert found is not None
        assert found.state is not None
        seen.append(
            found.state.jobs[0].state.status if found.state.jobs and found.state.jobs[0].state else None
        )
        if seen[-1] is not None:
            break
        await asyncio.sleep(0.02)
    # No job at first, then a running one: JS_PENDING never shows through the API.
    assert seen[-1] is JobStatus.JS_RUNNING
    assert set(seen[:-1]) <= {None}
    assert JobStatus.JS_PENDING not in seen
    assert found is not None
    assert found.state is not None
    (job,) = found.state.jobs
    assert re.fullmatch("AJ_" + BASE57, job.id)
    assert (job.dispatch_id, job.type, job.agent_name, job.metadata) == (
        created.id,
        JobType.JT_ROOM,
        AGENT_NAME,
        "stay",
    )
    assert job.state is not None
    assert job.state.worker_id == agent_worker.worker_id
    assert re.fullmatch("AW_" + BASE57, job.state.worker_id)
    # The identity is the worker's choice; livekit-agents takes "agent-" and the job id.
    assert job.state.participant_identity == "agent-" + job.id
    assert job.state.started_at == job.state.updated_at > created.state.created_at
    assert (job.state.ended_at, job.state.error) == (0, "")
    assert job.room is not None
    assert job.room.name == created.room
    assert re.fullmatch("RM_" + BASE57, job.room.sid)
    assert (job.room.empty_timeout, job.room.departure_timeout) == (300, 20)
    assert job.room.creation_time_ms // 1000 == job.room.creation_time
    assert [c.mime for c in job.room.enabled_codecs][:3] == ["audio/PCMU", "audio/PCMA", "audio/opus"]
    assert job.participant is None
    # The worker was offered this job and joined the room under that identity.
    agent_worker.wait_for_line("joined", job.id, created.room, job.state.participant_identity)
    listed = {d.id: d for d in await svc.list_dispatch(created.room)}
    assert listed[created.id] == found
    assert listed.keys() - {created.id}
    assert all(
        d.agent_name == "" and d.state is not None and d.state.jobs == []
        for i, d in listed.items()
        if i != created.id
    )
    await svc.delete_dispatch(created.id, created.room)


async def test_delete_ends_the_running_job_and_answers_it_as_it_was(
    svc: AgentDispatchService, livekit: RealServer, agent_worker: AgentWorker
) -> None:
    running = await job_of(livekit, await _dispatch(svc, "stay"))
    assert running.state is not None
    deleted = await svc.delete_dispatch(running.id, running.room)
    assert deleted == running  # the job still JS_RUNNING in the answer, deleted_at 0
    job_id = running.state.jobs[0].id
    # The worker is told to end the job: the agent leaves the room.
    assert agent_worker.wait_for_line("ended", job_id)
    assert await svc.get_dispatch(running.id, running.room) is None
    assert re.search(rf'job ended\t.*"jobID": "{job_id}", "status": "JS_SUCCESS", "error": ""', livekit.log())


@pytest.mark.parametrize("mode", ["fail", "finish"])
async def test_a_job_that_ends_keeps_its_running_snapshot(
    mode: str, svc: AgentDispatchService, livekit: RealServer, agent_worker: AgentWorker
) -> None:
    dispatch = await job_of(livekit, await _dispatch(svc, mode))
    assert dispatch.state is not None
    job_id = dispatch.state.jobs[0].id
    agent_worker.wait_for_line("ended", job_id)
    # The server sees the agent leave and ends the job as failed (at once when the agent's
    # connection closes cleanly; on a loaded machine it can take until the signal times out) ...
    deadline = time.monotonic() + 30
    ended = rf'job ended\t.*"jobID": "{job_id}", "status": "JS_FAILED", "error": "agent worker left the room"'
    while not re.search(ended, livekit.log()):
        assert time.monotonic() < deadline, f"no 'job ended' for {job_id} in the server's log"
        await asyncio.sleep(0.05)
    # ... but the dispatch keeps the job as it was when the worker took it.
    await asyncio.sleep(0.3)
    again = await svc.get_dispatch(dispatch.id, dispatch.room)
    assert again == dispatch
    assert again.state is not None
    assert again.state.jobs[0].state is not None
    assert (again.state.jobs[0].state.status, again.state.jobs[0].state.error) == (JobStatus.JS_RUNNING, "")


async def test_a_rejected_job_shows_ended_without_an_agent(
    svc: AgentDispatchService, livekit: RealServer, agent_worker: AgentWorker
) -> None:
    dispatch = await job_of(livekit, await _dispatch(svc, "reject"))
    assert dispatch.state is not None
    (job,) = dispatch.state.jobs
    agent_worker.wait_for_line("rejected", job.id)
    assert job.state is not None
    assert job.state.status is JobStatus.JS_SUCCESS
    assert job.state.started_at == job.state.ended_at == job.state.updated_at > 0
    assert (job.state.participant_identity, job.state.error) == ("", "")
    assert job.state.worker_id == agent_worker.worker_id


async def test_no_job_without_a_worker_and_none_for_a_worker_that_comes_later(
    svc: AgentDispatchService, livekit: RealServer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    name = unique_room("late-agent")
    early = await _dispatch(svc, "stay", agent_name=name)
    started = start_worker(livekit, name, tmp_path_factory.mktemp("late-worker"))
    try:
        await asyncio.sleep(1.0)
        found = await svc.get_dispatch(early.id, early.room)
        assert found is not None
        assert found.state is not None
        assert found.state.jobs == []  # the job request went out once, when no worker was there
        assert not [line for line in started.worker.lines if line.startswith("offered")]
    finally:
        stop_worker(started)
