"""The four calls end to end against a server that behaves like livekit-server."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import aiohttp
import pytest
from fake_livekit import API_KEY, API_SECRET, FakeLiveKit

from dispatch_client import (
    AgentDispatch,
    AgentDispatchService,
    CreateAgentDispatchRequest,
    JobRestartPolicy,
    TwirpError,
    TwirpErrorCode,
)


async def test_create_list_get_delete(service: AgentDispatchService, fake: FakeLiveKit) -> None:
    created = await service.create_dispatch(
        CreateAgentDispatchRequest(
            agent_name="support",
            room="call-42",
            metadata='{"caller": "+15550100"}',
            restart_policy=JobRestartPolicy.JRP_NEVER,
            attributes={"Tier": "gold"},
        )
    )
    assert isinstance(created, AgentDispatch)
    assert created.id.startswith("AD_")
    assert len(created.id) == 15
    assert (created.agent_name, created.room) == ("support", "call-42")
    assert created.metadata == '{"caller": "+15550100"}'
    assert created.restart_policy is JobRestartPolicy.JRP_NEVER
    assert created.attributes == {"Tier": "gold"}
    assert created.state is not None
    assert created.state.created_at > 2**53
    assert created.state.deleted_at == 0
    assert created.state.jobs == []

    other = await service.create_dispatch(CreateAgentDispatchRequest(agent_name="notes", room="call-42"))
    listed = await service.list_dispatch("call-42")
    assert type(listed) is list
    assert [d.id for d in listed] == [created.id, other.id]
    assert listed[0] == created

    assert await service.get_dispatch(other.id, "call-42") == other
    assert await service.get_dispatch("AD_doesnotexist", "call-42") is None
    assert await service.list_dispatch("empty-room") == []

    deleted = await service.delete_dispatch(created.id, "call-42")
    assert deleted.id == created.id
    assert deleted.state is not None
    assert deleted.state.deleted_at >= created.state.created_at
    assert [d.id for d in await service.list_dispatch("call-42")] == [other.id]

    with pytest.raises(TwirpError) as err:
        await service.delete_dispatch(created.id, "call-42")
    assert err.value.code is TwirpErrorCode.NOT_FOUND
    assert err.value.message == "dispatch ID not found"
    assert err.value.status == 404
    assert not err.value.from_intermediary


EMPTY_ARGUMENT_CALLS: dict[str, Callable[[AgentDispatchService], Awaitable[object]]] = {
    "req.room": lambda s: s.create_dispatch(CreateAgentDispatchRequest(agent_name="a", room="")),
    "room_name (list)": lambda s: s.list_dispatch(""),
    "dispatch_id (get)": lambda s: s.get_dispatch("", "room"),
    "room_name (get)": lambda s: s.get_dispatch("AD_x", ""),
    "dispatch_id (delete)": lambda s: s.delete_dispatch("", "room"),
    "room_name (delete)": lambda s: s.delete_dispatch("AD_x", ""),
}


@pytest.mark.parametrize("argument", sorted(EMPTY_ARGUMENT_CALLS))
async def test_empty_arguments_are_refused_before_sending(
    service: AgentDispatchService, fake: FakeLiveKit, argument: str
) -> None:
    call = EMPTY_ARGUMENT_CALLS[argument]
    with pytest.raises(ValueError, match=argument.split(" ")[0].replace(".", r"\.")):
        await call(service)
    assert fake.requests == []


async def test_wrong_request_type_is_refused(service: AgentDispatchService, fake: FakeLiveKit) -> None:
    with pytest.raises(ValueError, match="CreateAgentDispatchRequest"):
        await service.create_dispatch({"room": "r"})  # type: ignore[arg-type]
    assert fake.requests == []


async def test_wrong_secret_is_unauthenticated(service: AgentDispatchService, fake: FakeLiveKit) -> None:
    fake.api_secret = "another-secret-that-is-long-enough-for-hs256-xxxxxxxx"
    with pytest.raises(TwirpError) as err:
        await service.list_dispatch("call-42")
    # livekit-server answers a bad signature with a plain-text 401, not a Twirp body.
    assert err.value.code is TwirpErrorCode.UNAUTHENTICATED
    assert err.value.status == 401
    assert err.value.from_intermediary
    assert err.value.meta["body"].startswith("invalid token")


@pytest.mark.parametrize(
    "req",
    [
        CreateAgentDispatchRequest(room="r", agent_name=5),  # type: ignore[arg-type]
        CreateAgentDispatchRequest(room="r", restart_policy="JRP_NEVER"),  # type: ignore[arg-type]
        CreateAgentDispatchRequest(room="r", restart_policy=2**40),  # type: ignore[arg-type]
        CreateAgentDispatchRequest(room="r", attributes={"k": 1}),  # type: ignore[dict-item]
        CreateAgentDispatchRequest(room="r", attributes=[("k", "v")]),  # type: ignore[arg-type]
    ],
    ids=["str-as-int", "enum-as-str", "enum-out-of-range", "map-value-int", "map-as-list"],
)
async def test_requests_with_wrong_types_are_refused(
    service: AgentDispatchService, fake: FakeLiveKit, req: CreateAgentDispatchRequest
) -> None:
    with pytest.raises(ValueError, match="cannot encode CreateAgentDispatchRequest"):
        await service.create_dispatch(req)
    assert fake.requests == []


async def test_an_enum_given_as_its_number_is_sent_by_name(
    service: AgentDispatchService, fake: FakeLiveKit
) -> None:
    req = CreateAgentDispatchRequest(room="r", restart_policy=1)  # type: ignore[arg-type]
    created = await service.create_dispatch(req)
    assert created.restart_policy is JobRestartPolicy.JRP_NEVER
    assert b'"restart_policy":"JRP_NEVER"' in fake.requests[0].body


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("timeout", True),
        ("timeout", 10**400),
        ("timeout", "5"),
        ("token_ttl", float("inf")),
        ("token_ttl", 5),
        ("token_ttl", "x"),
        ("max_response_bytes", "1"),
        ("max_response_bytes", 0),
        ("retry", None),
    ],
)
def test_bad_options_are_value_errors(
    session: aiohttp.ClientSession, url: str, option: str, value: object
) -> None:
    with pytest.raises(ValueError, match=option):
        AgentDispatchService(session, url, API_KEY, API_SECRET, **{option: value})  # type: ignore[arg-type]


def test_session_must_be_a_client_session_or_none(url: str) -> None:
    with pytest.raises(ValueError, match="session"):
        AgentDispatchService("a session", url, API_KEY, API_SECRET)  # type: ignore[arg-type]
    # None: the service makes its own (see tests/test_lifetime.py).
    assert AgentDispatchService(None, url, API_KEY, API_SECRET).url == url.rstrip("/")


@pytest.mark.parametrize(("key", "secret"), [(5, API_SECRET), (API_KEY, b"bytes-secret")])
def test_credentials_must_be_text(
    session: aiohttp.ClientSession, url: str, key: object, secret: object
) -> None:
    with pytest.raises(ValueError, match="api_"):
        AgentDispatchService(session, url, key, secret)  # type: ignore[arg-type]


async def test_huge_per_call_timeout(service: AgentDispatchService, fake: FakeLiveKit) -> None:
    with pytest.raises(ValueError, match="timeout"):
        await service.list_dispatch("r", timeout=10**400)
    assert fake.requests == []
