"""Every call of AgentDispatchService against the real livekit-server, and the server's own checks."""

from __future__ import annotations

import time

import aiohttp
import pytest
from e2e_helpers import DISPATCH_ID, ROOM_RPC_TIMEOUT, is_default_dispatch, one_attempt, post, token
from livekit_server import RealServer, unique_room

from dispatch_client import (
    AgentDispatch,
    AgentDispatchService,
    CreateAgentDispatchRequest,
    JobRestartPolicy,
    TwirpError,
    TwirpErrorCode,
)

KIB = 1024


@pytest.fixture
def svc(livekit: RealServer, session: aiohttp.ClientSession) -> AgentDispatchService:
    return one_attempt(session, livekit.url, livekit.api_key, livekit.api_secret)


def full_request(room: str) -> CreateAgentDispatchRequest:
    return CreateAgentDispatchRequest(
        agent_name="e2e-agent",
        room=room,
        metadata='{"lang": "fr"} "quoted" é ✓',
        attributes={"tier": "gold", "Mixed-Case": "kept", "empty": ""},
        deployment="blue-2",
        restart_policy=JobRestartPolicy.JRP_NEVER,
    )


def assert_echoes(dispatch: AgentDispatch, req: CreateAgentDispatchRequest) -> None:
    assert (dispatch.agent_name, dispatch.room, dispatch.metadata) == (req.agent_name, req.room, req.metadata)
    assert (dispatch.attributes, dispatch.deployment) == (req.attributes, req.deployment)
    assert dispatch.restart_policy is req.restart_policy


async def test_create_echoes_every_field_with_a_new_id_and_time(svc: AgentDispatchService) -> None:
    req = full_request(unique_room("calls-create"))
    before = time.time_ns()
    created = await svc.create_dispatch(req)
    after = time.time_ns()
    assert_echoes(created, req)
    assert DISPATCH_ID.fullmatch(created.id), created.id
    assert created.state is not None
    assert before - 1_000_000_000 <= created.state.created_at <= after + 1_000_000_000  # Unix ns
    assert (created.state.deleted_at, created.state.jobs) == (0, [])
    second = await svc.create_dispatch(req)
    assert second.id != created.id


async def test_a_new_room_gets_a_default_dispatch_beside_ours(svc: AgentDispatchService) -> None:
    room = unique_room("calls-list")
    first = await svc.create_dispatch(CreateAgentDispatchRequest(agent_name="one", room=room))
    listed = await svc.list_dispatch(room)
    assert len(listed) == 2
    [default] = [d for d in listed if d.id != first.id]
    assert is_default_dispatch(default, room), default
    assert default.restart_policy is JobRestartPolicy.JRP_ON_FAILURE
    assert default.state is not None
    assert first.state is not None
    assert 0 < default.state.created_at <= first.state.created_at  # made with the room, before ours
    assert [d for d in listed if d.id == first.id] == [first]
    # Only a new room gets one: a second create adds exactly one dispatch.
    second = await svc.create_dispatch(CreateAgentDispatchRequest(agent_name="two", room=room))
    assert {d.id for d in await svc.list_dispatch(room)} == {default.id, first.id, second.id}


async def test_get_finds_by_id_and_gives_none_for_an_unknown_id(svc: AgentDispatchService) -> None:
    req = full_request(unique_room("calls-get"))
    created = await svc.create_dispatch(req)
    assert await svc.get_dispatch(created.id, req.room) == created
    assert await svc.get_dispatch("AD_nothere2345", req.room) is None


async def test_delete_returns_the_dispatch_as_it_was_and_it_is_gone(svc: AgentDispatchService) -> None:
    req = full_request(unique_room("calls-delete"))
    created = await svc.create_dispatch(req)
    deleted = await svc.delete_dispatch(created.id, req.room)
    assert deleted == created  # deleted_at is not set: the answer is the dispatch before deletion
    assert deleted.state is not None
    assert deleted.state.deleted_at == 0
    assert await svc.get_dispatch(created.id, req.room) is None
    assert created.id not in [d.id for d in await svc.list_dispatch(req.room)]


async def test_deleting_the_default_dispatch_too_leaves_an_empty_list(svc: AgentDispatchService) -> None:
    room = unique_room("calls-empty")
    created = await svc.create_dispatch(CreateAgentDispatchRequest(agent_name="a", room=room))
    for dispatch in await svc.list_dispatch(room):
        await svc.delete_dispatch(dispatch.id, room)
    assert await svc.list_dispatch(room) == []  # the room still runs: an empty list, not an error
    assert await svc.get_dispatch(created.id, room) is None


async def test_delete_of_an_unknown_id_is_not_found(svc: AgentDispatchService) -> None:
    room = unique_room("calls-delete-unknown")
    created = await svc.create_dispatch(CreateAgentDispatchRequest(agent_name="a", room=room))
    await svc.delete_dispatch(created.id, room)
    for dispatch_id in (created.id, "AD_nothere2345"):
        with pytest.raises(TwirpError) as caught:
            await svc.delete_dispatch(dispatch_id, room)
        err = caught.value
        assert (err.code, err.status, err.meta) == (TwirpErrorCode.NOT_FOUND, 404, {})
        assert err.message == "twirp error unknown: dispatch ID not found"
        assert not err.from_intermediary


DEPLOYMENTS_REFUSED = [
    pytest.param("d" * 65, "deployment exceeds 64 bytes", id="65-bytes"),
    pytest.param("é" * 33, "deployment exceeds 64 bytes", id="66-bytes-in-33-chars"),
    pytest.param("blue_green", "deployment contains reserved character '_'", id="underscore"),
    pytest.param("a b", "deployment contains whitespace or control byte at position 1", id="space"),
    pytest.param("ab\tc", "deployment contains whitespace or control byte at position 2", id="tab"),
    pytest.param("a\x01b", "deployment contains whitespace or control byte at position 1", id="control"),
    pytest.param("a\x7fb", "deployment contains whitespace or control byte at position 1", id="del"),
]


@pytest.mark.parametrize(("deployment", "message"), DEPLOYMENTS_REFUSED)
async def test_deployment_rules(svc: AgentDispatchService, deployment: str, message: str) -> None:
    req = CreateAgentDispatchRequest(agent_name="a", room=unique_room("calls-dep"), deployment=deployment)
    with pytest.raises(TwirpError) as caught:
        await svc.create_dispatch(req)
    err = caught.value
    assert (err.code, err.status, err.meta) == (TwirpErrorCode.INVALID_ARGUMENT, 400, {})
    assert err.message == f"twirp error unknown: {message}"


@pytest.mark.parametrize("deployment", ["d" * 64, "é" * 32, "blue-green.v2", "日本", "émoji-✓"])
async def test_deployments_accepted(svc: AgentDispatchService, deployment: str) -> None:
    req = CreateAgentDispatchRequest(agent_name="a", room=unique_room("calls-dep-ok"), deployment=deployment)
    assert (await svc.create_dispatch(req)).deployment == deployment


SIZES = [
    # metadata: its bytes, at most 512 KiB; attributes: the bytes of every key and value, at most 64 KiB.
    pytest.param("m" * (512 * KIB), {}, None, id="metadata-512KiB"),
    pytest.param("m" * (512 * KIB + 1), {}, "metadata size exceeds limits", id="metadata-over"),
    pytest.param("é" * (256 * KIB + 1), {}, "metadata size exceeds limits", id="metadata-utf8-bytes"),
    pytest.param("", {"k": "v" * (64 * KIB - 1)}, None, id="attributes-64KiB"),
    pytest.param("", {"k": "v" * (64 * KIB)}, "attribute size exceeds limits", id="attributes-over"),
    pytest.param(
        "",
        {f"k{i}": "v" * 8 * KIB for i in range(8)},
        "attribute size exceeds limits",
        id="attributes-summed",
    ),
]


@pytest.mark.parametrize(("metadata", "attributes", "refused"), SIZES)
async def test_size_limits(
    svc: AgentDispatchService, metadata: str, attributes: dict[str, str], refused: str | None
) -> None:
    room = unique_room("calls-size")
    req = CreateAgentDispatchRequest(agent_name="a", room=room, metadata=metadata, attributes=attributes)
    if refused is None:
        created = await svc.create_dispatch(req)
        assert (created.metadata, created.attributes) == (metadata, attributes)
        return
    with pytest.raises(TwirpError) as caught:
        await svc.create_dispatch(req)
    err = caught.value
    assert (err.code, err.status, err.message) == (
        TwirpErrorCode.INVALID_ARGUMENT,
        400,
        f"twirp error unknown: {refused}",
    )


async def test_the_server_stops_at_the_callers_deadline(
    livekit: RealServer, session: aiohttp.ClientSession
) -> None:
    """A list in a room no server runs waits 3 s inside livekit-server, unless the request says less."""
    room = unique_room("calls-deadline")
    bearer = token(room, key=livekit.api_key, secret=livekit.api_secret)
    bounded = await post(
        session,
        livekit.url,
        "ListDispatch",
        {"room": room},
        bearer=bearer,
        headers={"X-Twirp-Timeout-Ms": "400"},
    )
    assert bounded.json() == {"code": "canceled", "msg": "twirp error unknown: request canceled"}
    assert (bounded.status, bounded.content_type) == (408, "application/json")
    assert 0.35 <= bounded.seconds < 1.5, bounded.seconds
    unbounded = await post(session, livekit.url, "ListDispatch", {"room": room}, bearer=bearer)
    assert unbounded.status == 503
    assert unbounded.json() == {"code": "unavailable", "msg": "twirp error unknown: no response from servers"}
    assert ROOM_RPC_TIMEOUT - 0.1 <= unbounded.seconds < ROOM_RPC_TIMEOUT + 1.5, unbounded.seconds


async def test_the_server_checks_neither_an_empty_room_nor_an_empty_agent_name(
    livekit: RealServer, session: aiohttp.ClientSession
) -> None:
    """The client refuses an empty room before sending; livekit-server itself would take it."""
    bearer = token("", key=livekit.api_key, secret=livekit.api_secret)
    answer = await post(session, livekit.url, "CreateDispatch", {"room": "", "agent_name": ""}, bearer=bearer)
    assert answer.status == 200, answer.body
    body = answer.json()
    assert (body["room"], body["agent_name"]) == ("", "")
    assert DISPATCH_ID.fullmatch(str(body["id"]))
