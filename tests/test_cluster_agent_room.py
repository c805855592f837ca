"""A room with a real agent in it whose node is SIGKILLed: the agent comes back with the room
on the surviving node, its dispatch does not. wait_for_job must not call that a delete or a
room that is gone, and ensure_dispatch must not send the room a second agent."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
from agent_fixtures import CLUSTER_AGENT, AgentWorker, cluster_worker, cluster_worker_process
from cluster_helpers import dispatch_on, until_room_answers
from livekit_cluster import Cluster

from dispatch_client import (
    AgentDispatchService,
    CreateAgentDispatchRequest,
    JobStatus,
    TwirpError,
    TwirpErrorCode,
    WaitOutcome,
)
from dispatch_client._client.room_state import agents_named
from dispatch_client._client.rooms import list_participants

__all__ = ["cluster_worker", "cluster_worker_process"]  # the fixtures, imported for pytest


async def agents_in(svc: AgentDispatchService, room: str) -> list[str]:
    """The identities of the room's participants that are agents of CLUSTER_AGENT."""
    return [
        p.identity
        for p in agents_named(await list_participants(svc._transport, room, timeout=5), CLUSTER_AGENT)
    ]


async def test_a_room_whose_node_died_with_its_agent_in_it(
    cluster_healed: Cluster, cluster_worker: AgentWorker, session: aiohttp.ClientSession, summary: list[str]
) -> None:
    cluster = cluster_healed
    survivor, doomed = cluster.nodes  # the worker is on the survivor
    svc = AgentDispatchService(session, survivor.url, cluster.api_key, cluster.api_secret, timeout=15)
    made = await dispatch_on(cluster, svc, doomed, CLUSTER_AGENT, "agent-room")
    job = await svc.wait_for_job(made.id, made.room, timeout=20)
    assert job.state is not None
    agent = job.state.participant_identity
    assert await agents_in(svc, made.room) == [agent]

    # A wait for the job to end rides through the room's move, once it has seen the dispatch.
    assert survivor.server is not None
    polls = survivor.server.log().count(f'"dispatchID": "{made.id}"')
    waiting = asyncio.create_task(
        svc.wait_for_job(made.id, made.room, until=JobStatus.JS_SUCCESS, timeout=40, grace=25)
    )
    while survivor.server.log().count(f'"dispatchID": "{made.id}"') == polls:  # its first poll
        assert not waiting.done()
        await asyncio.sleep(0.02)
    doomed.kill()
    killed = time.monotonic()
    dispatches = await until_room_answers(svc, made.room, timeout=30)
    back = time.monotonic() - killed
    assert made.id not in {d.id for d in dispatches}  # the dispatch is gone ...
    assert await agents_in(svc, made.room) == [agent]  # ... and its agent still there
    with pytest.raises(TwirpError) as ended:
        await waiting
    summary.append(
        f"cluster: room with its agent back on the survivor {back:.1f} s after the kill; "
        f"wait_for_job ended {ended.value.wait_outcome} after {time.monotonic() - killed:.1f} s"
    )
    assert ended.value.wait_outcome is WaitOutcome.DISPATCH_LOST
    assert ended.value.job is not None
    assert ended.value.job.id == job.id

    # The room is back without a dispatch of the agent, which is in it: no second agent.
    with pytest.raises(TwirpError) as refused:
        await svc.ensure_dispatch(CreateAgentDispatchRequest(agent_name=CLUSTER_AGENT, room=made.room))
    assert refused.value.code is TwirpErrorCode.ALREADY_EXISTS
    assert refused.value.meta["participant_identity"] == agent
    assert [d for d in await svc.list_dispatch(made.room) if d.agent_name == CLUSTER_AGENT] == []
    assert await agents_in(svc, made.room) == [agent]
    summary.append("cluster: ensure_dispatch after the room came back left 1 agent in it")
