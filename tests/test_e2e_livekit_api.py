"""The official SDK (livekit-api, binary protobuf) and our client (JSON) on one real livekit-server."""

from __future__ import annotations

import aiohttp
import pytest
from e2e_helpers import one_attempt, same
from livekit import api
from livekit.api.agent_dispatch_service import AgentDispatchService as OfficialDispatch
from livekit.protocol import agent_dispatch as pb
from livekit_server import RealServer, unique_room

from dispatch_client import (
    AgentDispatch,
    AgentDispatchService,
    CreateAgentDispatchRequest,
    JobRestartPolicy,
    TwirpError,
)


@pytest.fixture
def official(livekit: RealServer, session: aiohttp.ClientSession) -> OfficialDispatch:
    return api.LiveKitAPI(livekit.url, livekit.api_key, livekit.api_secret, session=session).agent_dispatch


@pytest.fixture
def ours(livekit: RealServer, session: aiohttp.ClientSession) -> AgentDispatchService:
    return one_attempt(session, livekit.url, livekit.api_key, livekit.api_secret)


def by_id(dispatches: list[AgentDispatch]) -> dict[str, AgentDispatch]:
    return {d.id: d for d in dispatches}


async def test_created_by_the_sdk_read_and_deleted_by_us(
    official: OfficialDispatch, ours: AgentDispatchService
) -> None:
    room = unique_room("sdk-first")
    created = await official.create_dispatch(
        pb.CreateAgentDispatchRequest(
            agent_name="sdk-agent",
            room=room,
            metadata='{"from": "sdk"} é',
            attributes={"a": "1", "B": "2"},
            restart_policy=pb.JobRestartPolicy.JRP_NEVER,
            deployment="blue",
        )
    )
    listed = by_id(await ours.list_dispatch(room))
    assert len(listed) == 2  # with the room's default dispatch
    same(listed[created.id], created)
    assert listed[created.id].restart_policy is JobRestartPolicy.JRP_NEVER
    found = await ours.get_dispatch(created.id, room)
    assert found is not None
    same(found, created)
    # the default dispatch looks the same from both sides
    theirs = {d.id: d for d in await official.list_dispatch(room)}
    assert theirs.keys() == listed.keys()
    for dispatch_id, dispatch in listed.items():
        same(dispatch, theirs[dispatch_id])

    deleted = await ours.delete_dispatch(created.id, room)
    same(deleted, created)
    assert await official.get_dispatch(created.id, room) is None
    assert created.id not in [d.id for d in await official.list_dispatch(room)]


async def test_created_by_us_read_and_deleted_by_the_sdk(
    official: OfficialDispatch, ours: AgentDispatchService
) -> None:
    room = unique_room("ours-first")
    first = await ours.create_dispatch(
        CreateAgentDispatchRequest(
            agent_name="ours", room=room, metadata="m ✓", attributes={"k": "v"}, deployment="green"
        )
    )
    second = await ours.create_dispatch(CreateAgentDispatchRequest(agent_name="ours-2", room=room))
    theirs = {d.id: d for d in await official.list_dispatch(room)}
    assert {first.id, second.id} < theirs.keys()
    assert len(theirs) == 3
    same(first, theirs[first.id])
    same(second, theirs[second.id])
    found = await official.get_dispatch(second.id, room)
    assert found is not None
    same(second, found)

    deleted = await official.delete_dispatch(first.id, room)
    same(first, deleted)
    assert await ours.get_dispatch(first.id, room) is None
    assert set(by_id(await ours.list_dispatch(room))) == theirs.keys() - {first.id}


async def test_both_see_the_same_server_errors(
    official: OfficialDispatch, ours: AgentDispatchService
) -> None:
    room = unique_room("sdk-errors")
    await ours.create_dispatch(CreateAgentDispatchRequest(agent_name="a", room=room))
    with pytest.raises(api.TwirpError) as sdk:
        await official.delete_dispatch("AD_nothere2345", room)
    with pytest.raises(TwirpError) as mine:
        await ours.delete_dispatch("AD_nothere2345", room)
    assert (sdk.value.code, sdk.value.message, sdk.value.status) == (
        mine.value.code.value,
        mine.value.message,
        mine.value.status,
    )
    assert sdk.value.message == "twirp error unknown: dispatch ID not found"

    with pytest.raises(api.TwirpError) as sdk:
        await official.create_dispatch(
            pb.CreateAgentDispatchRequest(agent_name="a", room=room, deployment="a_b")
        )
    with pytest.raises(TwirpError) as mine:
        await ours.create_dispatch(CreateAgentDispatchRequest(agent_name="a", room=room, deployment="a_b"))
    assert (sdk.value.code, sdk.value.message, sdk.value.status) == (
        mine.value.code.value,
        mine.value.message,
        mine.value.status,
    )
    assert (sdk.value.code, sdk.value.status) == ("invalid_argument", 400)
