"""A join token whose agents come whether or not the room is already running.

livekit-server dispatches a token's ``roomConfig.agents`` only when the participant's join
starts the room (v1.13.5 to v1.13.11): a room that is running ignores them without a word.
``join_token`` reads the room store first. A room it does not have is started by the join, and
the token alone sends the agents; otherwise (the room runs, or the store cannot be read) each
agent is made sure of through the API, by ``ensure_dispatch``'s rules, before the token is
handed out. A room that starts between the read and the join (someone else's join or create
in that moment) still ignores the token's agents: call again, or ``ensure_dispatch``, then.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from .._generated.livekit import AgentDispatch, CreateAgentDispatchRequest, RoomAgentDispatch
from ..errors import TwirpError, TwirpErrorCode
from .room_state import RoomReads, Store

__all__ = ["as_create", "join_token"]

Ensure = Callable[[CreateAgentDispatchRequest, float], Awaitable[AgentDispatch]]


def as_create(agent: RoomAgentDispatch, room: str) -> CreateAgentDispatchRequest:
    """The create that sends ``agent`` into ``room`` as the token would have."""
    return CreateAgentDispatchRequest(
        agent_name=agent.agent_name,
        room=room,
        metadata=agent.metadata,
        restart_policy=agent.restart_policy,
        deployment=agent.deployment,
        attributes=dict(agent.attributes),
        thread_id=agent.thread_id,
    )


async def join_token(
    token: str,
    room: str,
    agents: list[RoomAgentDispatch],
    rooms: RoomReads,
    ensure: Ensure,
    timeout: float,
) -> str:
    """``token`` (signed, with ``agents`` in it), once the agents are sure to come."""
    if not agents:
        return token
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout

    def remaining() -> float:
        left = deadline - loop.time()
        if left <= 0:
            raise TwirpError(
                TwirpErrorCode.DEADLINE_EXCEEDED, f"join_token: the {timeout:g} s deadline passed"
            )
        return left

    record = await rooms.room(room, remaining())
    if record is not Store.ABSENT:
        for agent in agents:
            await ensure(as_create(agent, room), remaining())
    return token
