"""The official SDK (livekit-api, binary protobuf) and our client (JSON) against one LocalDispatchServer."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from e2e_helpers import same
from livekit import api
from livekit.api.agent_dispatch_service import AgentDispatchService as OfficialDispatch
from livekit.protocol import agent_dispatch as pb
from local_helpers import KEY, SECRET

from dispatch_client import AgentDispatchService, CreateAgentDispatchRequest, JobRestartPolicy
from dispatch_client.testing import LocalDispatchServer


@pytest.fixture
async def local() -> AsyncIterator[LocalDispatchServer]:
    async with LocalDispatchServer(KEY, SECRET, not_running_wait=0.05) as server:
        yield server


@pytest.fixture
def official(local: LocalDispatchServer, session: aiohttp.ClientSession) -> OfficialDispatch:
    return api.LiveKitAPI(local.url, KEY, SECRET, session=session).agent_dispatch


@pytest.fixture
def ours(local: LocalDispatchServer, session: aiohttp.ClientSession) -> AgentDispatchService:
    return AgentDispatchService(session, local.url, KEY, SECRET)


async def test_created_by_the_sdk_read_by_us(
    local: LocalDispatchServer, official: OfficialDispatch, ours: AgentDispatchService
) -> None:
    created = await official.create_dispatch(
        pb.CreateAgentDispatchRequest(
            agent_name="sdk-agent",
            room="shared",
            metadata='{"from": "sdk"} é',
            attributes={"a": "1", "b": "2"},
            restart_policy=pb.JobRestartPolicy.JRP_NEVER,
            deployment="blue",
        )
    )
    [default, listed] = await ours.list_dispatch("shared")  # livekit-server's default dispatch first
    assert default.agent_name == ""
    same(listed, created)
    assert listed.restart_policy is JobRestartPolicy.JRP_NEVER
    found = await ours.get_dispatch(created.id, "shared")
    assert found is not None
    same(found, created)
    deleted = await ours.delete_dispatch(created.id, "shared")
    assert [d.id for d in await official.list_dispatch("shared")] == [default.id]
    same(deleted, created)  # as it was: livekit-server v1.13.5 leaves deleted_at at 0
    assert deleted.state is not None
    assert deleted.state.deleted_at == 0


async def test_created_by_us_read_by_the_sdk(official: OfficialDispatch, ours: AgentDispatchService) -> None:
    first = await ours.create_dispatch(
        CreateAgentDispatchRequest(agent_name="ours", room="shared", metadata="m", attributes={"k": "v"})
    )
    second = await ours.create_dispatch(CreateAgentDispatchRequest(agent_name="ours-2", room="shared"))
    listed = await official.list_dispatch("shared")
    assert [d.id for d in listed][1:] == [first.id, second.id]
    same(first, listed[1])
    same(second, listed[2])
    found = await official.get_dispatch(second.id, "shared")
    assert found is not None
    same(second, found)
    assert await official.get_dispatch("AD_nothere0000", "shared") is None
    deleted = await official.delete_dispatch(first.id, "shared")
    assert deleted.id == first.id
    assert [d.id for d in await ours.list_dispatch("shared")] == [listed[0].id, second.id]


async def test_both_see_the_same_errors(official: OfficialDispatch, ours: AgentDispatchService) -> None:
    with pytest.raises(api.TwirpError) as theirs:
        await official.list_dispatch("no-such-room")
    assert (theirs.value.code, theirs.value.message, theirs.value.status) == (
        "unavailable",
        "twirp error unknown: no response from servers",
        503,
    )
    await ours.create_dispatch(CreateAgentDispatchRequest(agent_name="a", room="r"))
    with pytest.raises(api.TwirpError) as theirs:
        await official.delete_dispatch("AD_nothere0000", "r")
    assert (theirs.value.code, theirs.value.message, theirs.value.status) == (
        "not_found",
        "twirp error unknown: dispatch ID not found",
        404,
    )
    with pytest.raises(api.TwirpError) as theirs:
        await official.create_dispatch(
            pb.CreateAgentDispatchRequest(agent_name="a", room="r", deployment="a_b")
        )
    assert (theirs.value.code, theirs.value.status) == ("invalid_argument", 400)
