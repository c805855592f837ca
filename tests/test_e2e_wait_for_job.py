"""wait_for_job and create --wait against livekit-server v1.13.5 and a real livekit-agents worker.

On this server a job shows in the dispatch only once a worker took it, already running, and
the dispatch keeps that snapshot; a job the worker turned down shows as ended without an agent.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from agent_fixtures import AGENT_NAME, AgentWorker, agent_worker, agent_worker_process
from cli_process import run_cli
from livekit_server import RealServer, unique_room

import dispatch_client
from dispatch_client import (
    AgentDispatchService,
    CreateAgentDispatchRequest,
    JobStatus,
    TwirpError,
    WaitOutcome,
)
from dispatch_client import TwirpErrorCode as Code

__all__ = ["agent_worker", "agent_worker_process"]  # the fixtures, imported for pytest


@pytest.fixture
async def svc(livekit: RealServer) -> AsyncIterator[AgentDispatchService]:
    async with dispatch_client.connect(livekit.url, livekit.api_key, livekit.api_secret) as s:
        yield s


async def create(svc: AgentDispatchService, agent_name: str, metadata: str = "stay") -> tuple[str, str]:
    room = unique_room("wait")
    made = await svc.create_dispatch(
        CreateAgentDispatchRequest(agent_name=agent_name, room=room, metadata=metadata)
    )
    return made.id, room


async def test_the_job_of_a_real_worker_is_returned_running(
    svc: AgentDispatchService, agent_worker: AgentWorker
) -> None:
    dispatch_id, room = await create(svc, AGENT_NAME)
    job = await svc.wait_for_job(dispatch_id, room, timeout=15)
    assert job.state is not None
    assert job.state.status is JobStatus.JS_RUNNING
    assert (job.dispatch_id, job.state.worker_id) == (dispatch_id, agent_worker.worker_id)
    assert job.state.participant_identity
    agent_worker.wait_for_line("joined", job.id)
    await svc.delete_dispatch(dispatch_id, room)


async def test_no_worker_ends_at_the_deadline_as_no_job(
    svc: AgentDispatchService, summary: list[str]
) -> None:
    dispatch_id, room = await create(svc, unique_room("nobody"))
    started = time.monotonic()
    with pytest.raises(TwirpError) as err:
        await svc.wait_for_job(dispatch_id, room, timeout=2.0)
    elapsed = time.monotonic() - started
    summary.append(
        f"wait_for_job with no worker (real livekit-server), timeout 2.0 s: ended after {elapsed:.2f} s"
    )
    assert (err.value.code, err.value.wait_outcome, err.value.job) == (
        Code.DEADLINE_EXCEEDED,
        WaitOutcome.NO_JOB,
        None,
    )
    assert 2.0 <= elapsed <= 2.2  # within 10 % of the timeout


async def test_a_job_turned_down_is_a_failed_outcome(
    svc: AgentDispatchService, agent_worker: AgentWorker
) -> None:
    dispatch_id, room = await create(svc, AGENT_NAME, metadata="reject")
    with pytest.raises(TwirpError) as err:
        await svc.wait_for_job(dispatch_id, room, timeout=15)
    assert (err.value.code, err.value.wait_outcome) == (Code.ABORTED, WaitOutcome.JOB_FAILED)
    assert err.value.job is not None
    assert err.value.job.state is not None
    assert err.value.job.state.worker_id == agent_worker.worker_id
    assert "turned it down" in err.value.message


async def test_a_dispatch_deleted_during_the_wait(svc: AgentDispatchService) -> None:
    dispatch_id, room = await create(svc, unique_room("nobody"))
    waiting = asyncio.create_task(svc.wait_for_job(dispatch_id, room, timeout=10))
    await asyncio.sleep(0.5)
    await svc.delete_dispatch(dispatch_id, room)
    with pytest.raises(TwirpError) as err:
        await waiting
    assert (err.value.code, err.value.wait_outcome) == (Code.NOT_FOUND, WaitOutcome.DISPATCH_DELETED)


async def test_a_room_that_stops_during_the_wait(closing_livekit: RealServer) -> None:
    async with dispatch_client.connect(
        closing_livekit.url, closing_livekit.api_key, closing_livekit.api_secret
    ) as svc:
        dispatch_id, room = await create(svc, unique_room("nobody"))
        with pytest.raises(TwirpError) as err:
            await svc.wait_for_job(dispatch_id, room, timeout=20)
    assert (err.value.code, err.value.wait_outcome) == (Code.UNAVAILABLE, WaitOutcome.ROOM_NOT_RUNNING)
    assert err.value.room_not_running


async def test_create_wait_prints_the_job(livekit: RealServer, agent_worker: AgentWorker) -> None:
    room = unique_room("cli-wait")
    code, out, err = await run_cli(livekit, "create", "--room", room, "--agent", AGENT_NAME, "--wait", "15")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert any(line.startswith("waiting up to 15 s") for line in lines)
    assert "status       JS_RUNNING" in lines
    assert f"worker       {agent_worker.worker_id}" in lines
