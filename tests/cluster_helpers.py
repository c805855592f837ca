"""Steps the cluster tests share: a room placed on a chosen node, waiting for a room to answer."""

from __future__ import annotations

import asyncio
import time

from livekit_cluster import Cluster, Node
from livekit_server import unique_room

from dispatch_client import AgentDispatch, AgentDispatchService, CreateAgentDispatchRequest, TwirpError

PLACE_TRIES = 40


async def dispatch_on(
    cluster: Cluster, svc: AgentDispatchService, node: Node, agent_name: str, prefix: str
) -> AgentDispatch:
    """A dispatch of ``agent_name`` in a new room that livekit-server placed on ``node``
    (a new room lands on a random node: rooms are made until one lands there)."""
    for _ in range(PLACE_TRIES):
        room = unique_room(prefix)
        made = await svc.create_dispatch(CreateAgentDispatchRequest(agent_name=agent_name, room=room))
        if cluster.node_of(room) is node:
            return made
    raise AssertionError(f"no room of {PLACE_TRIES} landed on node {node.index}")


async def until_room_answers(svc: AgentDispatchService, room: str, timeout: float) -> list[AgentDispatch]:
    """The room's dispatches, once a list of it answers (it can be down meanwhile)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await svc.list_dispatch(room, timeout=5)
        except TwirpError as e:
            if not e.room_not_running or time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.2)
