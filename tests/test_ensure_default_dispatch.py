"""ensure_dispatch for agent name "" in a room that is not running: the create starts the room,
and the server adds its own default dispatch (agent name "") as it does to every room a create
starts; that one is the room's dispatch of "", and the call leaves no second."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from livekit_server import RealServer, unique_room
from local_helpers import KEY, SECRET

from dispatch_client import AgentDispatchService, CreateAgentDispatchRequest
from dispatch_client.testing import LocalDispatchServer


@pytest.fixture(params=["stand-in", "livekit-server"])
async def service(
    request: pytest.FixtureRequest, session: aiohttp.ClientSession
) -> AsyncIterator[AgentDispatchService]:
    if request.param == "livekit-server":
        real: RealServer = request.getfixturevalue("livekit")
        yield AgentDispatchService(session, real.url, real.api_key, real.api_secret)
        return
    async with LocalDispatchServer(KEY, SECRET) as server:
        yield AgentDispatchService(session, server.url, KEY, SECRET)


async def test_the_servers_default_dispatch_is_the_one(service: AgentDispatchService) -> None:
    room = unique_room("default")
    first = await service.ensure_dispatch(CreateAgentDispatchRequest(agent_name="", room=room))
    again = await service.ensure_dispatch(CreateAgentDispatchRequest(agent_name="", room=room))
    listed = await service.list_dispatch(room)
    assert [d.id for d in listed if d.agent_name == ""] == [first.id]
    assert again.id == first.id


async def test_another_agent_in_a_new_room_is_created_beside_the_default(
    service: AgentDispatchService,
) -> None:
    room = unique_room("default")
    made = await service.ensure_dispatch(CreateAgentDispatchRequest(agent_name="a", room=room))
    listed = await service.list_dispatch(room)
    assert sorted(d.agent_name for d in listed) == ["", "a"]
    assert made.id in {d.id for d in listed}


async def test_a_deployment_of_agent_name_empty_is_its_own(service: AgentDispatchService) -> None:
    room = unique_room("default")
    made = await service.ensure_dispatch(
        CreateAgentDispatchRequest(agent_name="", room=room, deployment="blue")
    )
    again = await service.ensure_dispatch(
        CreateAgentDispatchRequest(agent_name="", room=room, deployment="blue")
    )
    assert again.id == made.id
    assert sorted(d.deployment for d in await service.list_dispatch(room)) == ["", "blue"]
