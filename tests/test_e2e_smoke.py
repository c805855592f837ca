"""The real livekit-server fixture starts, answers its health check and runs a create."""

from __future__ import annotations

import aiohttp
from livekit_server import RealServer, unique_room

from dispatch_client import AgentDispatchService, CreateAgentDispatchRequest


async def test_real_server_creates(livekit: RealServer, session: aiohttp.ClientSession) -> None:
    svc = AgentDispatchService(session, livekit.url, livekit.api_key, livekit.api_secret)
    room = unique_room("smoke")
    created = await svc.create_dispatch(CreateAgentDispatchRequest(agent_name="a", room=room))
    assert created.id.startswith("AD_")
    assert created.id in [d.id for d in await svc.list_dispatch(room)]
