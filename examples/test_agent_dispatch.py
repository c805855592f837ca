"""Testing code that dispatches agents, with the stand-in server and a simulated worker.

Needs ``pip install "dispatch-client[testing]"`` (pytest and pytest-asyncio); run with ``pytest``.
The fixtures, which pytest loads by itself once the package is installed, give each test a fresh
stand-in (``dispatch_server``) and a client of it (``dispatch_service``); ``add_worker`` plays the
agent worker that LiveKit would run.
"""

from __future__ import annotations

import pytest

from dispatch_client import (
    AgentDispatchService,
    CreateAgentDispatchRequest,
    JobStatus,
    TwirpError,
    WaitOutcome,
)
from dispatch_client.testing import LocalDispatchServer


async def send_agent(service: AgentDispatchService, room: str) -> str:
    """The code under test: make sure the room has the support agent, and return its identity."""
    dispatch = await service.ensure_dispatch(CreateAgentDispatchRequest(agent_name="support", room=room))
    job = await service.wait_for_job(dispatch.id, room, timeout=2)
    return job.state.participant_identity if job.state is not None else ""


@pytest.mark.asyncio
async def test_the_agent_joins(
    dispatch_server: LocalDispatchServer, dispatch_service: AgentDispatchService
) -> None:
    dispatch_server.add_worker("support", delay=0.05)
    identity = await send_agent(dispatch_service, "call-1")
    assert identity.startswith("agent-AJ_")


@pytest.mark.asyncio
async def test_asking_twice_sends_one_agent(
    dispatch_server: LocalDispatchServer, dispatch_service: AgentDispatchService
) -> None:
    dispatch_server.add_worker("support", delay=0.05)
    await send_agent(dispatch_service, "call-2")
    await send_agent(dispatch_service, "call-2")
    agents = [d.agent_name for d in await dispatch_service.list_dispatch("call-2")]
    assert agents.count("support") == 1


@pytest.mark.asyncio
async def test_no_worker_means_no_agent(dispatch_service: AgentDispatchService) -> None:
    with pytest.raises(TwirpError) as err:
        await send_agent(dispatch_service, "call-3")
    assert err.value.wait_outcome is WaitOutcome.NO_JOB


@pytest.mark.asyncio
async def test_the_job_shows_running(
    dispatch_server: LocalDispatchServer, dispatch_service: AgentDispatchService
) -> None:
    dispatch_server.add_worker("support", delay=0.05)
    created = await dispatch_service.create_dispatch(
        CreateAgentDispatchRequest(agent_name="support", room="call-4")
    )
    job = await dispatch_service.wait_for_job(created.id, "call-4", timeout=2)
    assert job.state is not None
    assert job.state.status is JobStatus.JS_RUNNING
