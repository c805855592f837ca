"""Dispatch on join, against livekit-server v1.13.5, a real participant and a real worker.

A participant of LiveKit's realtime SDK (``livekit.rtc``) connects with a token from
``participant_token``: the join that starts the room dispatches the token's agents, and the
real worker's job reaches ``JS_RUNNING``. In a room that is already running the server ignores
them (the bare token gets no dispatch), and ``join_token`` is what makes the agent come.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import pytest
from agent_fixtures import AGENT_NAME, AgentWorker, agent_worker, agent_worker_process
from livekit import api
from livekit_server import RealServer, unique_room
from real_participant import joined

import dispatch_client
from dispatch_client import (
    AgentDispatch,
    AgentDispatchService,
    CreateAgentDispatchRequest,
    JobStatus,
    RoomAgentDispatch,
)
from dispatch_client._client.rooms import list_participants
from dispatch_client.tokens import participant_token

__all__ = ["agent_worker", "agent_worker_process"]  # the fixtures, imported for pytest

T = TypeVar("T")
NOBODY = "no-such-agent"  # no worker registers under it: its create only starts the room


@pytest.fixture
async def svc(livekit: RealServer) -> AsyncIterator[AgentDispatchService]:
    async with dispatch_client.connect(livekit.url, livekit.api_key, livekit.api_secret) as s:
        yield s


@pytest.fixture
async def rooms(livekit: RealServer) -> AsyncIterator[list[str]]:
    """Rooms a test started; deleted at its end (their agents leave with them)."""
    made: list[str] = []
    yield made
    lk = api.LiveKitAPI(livekit.url, livekit.api_key, livekit.api_secret)
    try:
        for room in made:
            with contextlib.suppress(api.TwirpError):
                await lk.room.delete_room(api.DeleteRoomRequest(room=room))
    finally:
        await lk.aclose()


async def until(what: str, probe: Callable[[], Awaitable[T | None]], timeout: float = 15.0) -> T:
    """The first value ``probe`` gives that is not None, polled; AssertionError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        found = await probe()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} in {timeout} s")
        await asyncio.sleep(0.05)


def of_agent(dispatches: list[AgentDispatch]) -> list[AgentDispatch]:
    return [d for d in dispatches if d.agent_name == AGENT_NAME]


async def dispatch_of_agent(svc: AgentDispatchService, room: str) -> AgentDispatch | None:
    found = of_agent(await svc.list_dispatch(room))
    return found[0] if found else None


async def in_store(svc: AgentDispatchService, room: str, identity: str) -> bool | None:
    """True once the room store lists ``identity`` in ``room`` (its join is done)."""
    participants = await list_participants(svc._transport, room, timeout=5)
    return True if any(p.identity == identity for p in participants) else None


async def test_a_join_that_starts_the_room_dispatches_the_tokens_agent(
    livekit: RealServer,
    svc: AgentDispatchService,
    agent_worker: AgentWorker,
    rooms: list[str],
    summary: list[str],
) -> None:
    room = unique_room("token-join")
    rooms.append(room)
    agent = RoomAgentDispatch(agent_name=AGENT_NAME, metadata=f"from the token of {room}")
    token = participant_token(
        livekit.api_key, livekit.api_secret, identity="caller", room=room, agents=[agent]
    )
    started = time.monotonic()
    async with joined(livekit.url, token):
        dispatch = await until("dispatch", lambda: dispatch_of_agent(svc, room))
        listed = await svc.list_dispatch(room)
        job = await svc.wait_for_job(dispatch.id, room, timeout=20)
        took = time.monotonic() - started
    assert dispatch.metadata == agent.metadata
    # A room started with agents in its configuration gets no default dispatch (agent_name "").
    assert [d.agent_name for d in listed] == [AGENT_NAME]
    assert job.state is not None
    assert job.state.status is JobStatus.JS_RUNNING
    assert (job.dispatch_id, job.metadata, job.state.worker_id) == (
        dispatch.id,
        agent.metadata,
        agent_worker.worker_id,
    )
    agent_worker.wait_for_line("joined", job.id)
    summary.append(
        f"dispatch on join (v1.13.5, real participant): the token's agent got job {job.id} at JS_RUNNING"
        f" {took:.2f} s after the participant began to connect; the room listed {len(listed)} dispatch"
    )


async def test_a_running_room_ignores_the_token_and_join_token_sends_the_agent(
    livekit: RealServer,
    svc: AgentDispatchService,
    agent_worker: AgentWorker,
    rooms: list[str],
    summary: list[str],
) -> None:
    room = unique_room("token-running")
    rooms.append(room)
    # The room runs: a create for an agent no worker serves starts it.
    await svc.create_dispatch(CreateAgentDispatchRequest(agent_name=NOBODY, room=room))
    bare = participant_token(
        livekit.api_key,
        livekit.api_secret,
        identity="early",
        room=room,
        agents=[RoomAgentDispatch(agent_name=AGENT_NAME, metadata="bare")],
    )
    async with joined(livekit.url, bare):
        # The server applies a token's agents as the join creates the room, before the join is
        # done; once the store lists the participant, any dispatch of them would be there.
        await until("participant in the store", lambda: in_store(svc, room, "early"))
        after_bare = sorted(d.agent_name for d in await svc.list_dispatch(room))
        assert after_bare == ["", NOBODY]
        guarded = await svc.join_token(
            "late", room, agents=[RoomAgentDispatch(agent_name=AGENT_NAME, metadata="guarded")]
        )
        made = of_agent(await svc.list_dispatch(room))
        assert [d.metadata for d in made] == ["guarded"]
        async with joined(livekit.url, guarded):
            await until("participant in the store", lambda: in_store(svc, room, "late"))
            job = await svc.wait_for_job(made[0].id, room, timeout=20)
            # The join added nothing: the room was running, and join_token had made the dispatch.
            assert [d.id for d in of_agent(await svc.list_dispatch(room))] == [made[0].id]
    assert job.state is not None
    assert job.state.status is JobStatus.JS_RUNNING
    assert (job.metadata, job.state.worker_id) == ("guarded", agent_worker.worker_id)
    agent_worker.wait_for_line("joined", job.id)
    summary.append(
        f"dispatch on join (v1.13.5, room already running): the bare token left dispatches {after_bare}"
        f" (no {AGENT_NAME!r}); join_token made {made[0].id} and its job {job.id} reached JS_RUNNING"
    )
