"""LocalDispatchServer's state and validation (livekit-server v1.13.5's), through our client and raw posts."""

from __future__ import annotations

import random
import re
import time
from collections.abc import AsyncIterator

import aiohttp
import orjson
import pytest
from local_helpers import KEY, SECRET, post

from dispatch_client import (
    AgentDispatchService,
    CreateAgentDispatchRequest,
    JobRestartPolicy,
    RetryPolicy,
    TwirpError,
    TwirpErrorCode,
)
from dispatch_client.testing import (
    MAX_ATTRIBUTES_BYTES,
    MAX_DEPLOYMENT_BYTES,
    MAX_METADATA_BYTES,
    LocalDispatchServer,
)
from dispatch_client.testing._state import ID_ALPHABET

# The servers' clock stands still at the time the test starts: tokens signed now are valid.
FROZEN = time.time_ns()


def fixed_clock() -> int:
    return FROZEN


WAIT = 0.05  # for rooms that are not running; livekit-server waits 3 s
NOT_RUNNING = (TwirpErrorCode.UNAVAILABLE, "twirp error unknown: no response from servers", 503)
ID = re.compile(f"AD_[{ID_ALPHABET}]{{12}}")


@pytest.fixture
async def local() -> AsyncIterator[LocalDispatchServer]:
    global FROZEN
    FROZEN = time.time_ns()
    async with LocalDispatchServer(
        KEY, SECRET, clock=fixed_clock, rng=random.Random(7), not_running_wait=WAIT
    ) as server:
        yield server


@pytest.fixture
def client(local: LocalDispatchServer, session: aiohttp.ClientSession) -> AgentDispatchService:
    return AgentDispatchService(session, local.url, KEY, SECRET, retry=RetryPolicy(attempts=1))


async def test_create_list_get_delete(local: LocalDispatchServer, client: AgentDispatchService) -> None:
    req = CreateAgentDispatchRequest(
        agent_name="support",
        room="call-1",
        metadata='{"lang": "fr"}',
        restart_policy=JobRestartPolicy.JRP_NEVER,
        deployment="staging",
        attributes={"tier": "gold", "x": ""},
    )
    first = await client.create_dispatch(req)
    second = await client.create_dispatch(CreateAgentDispatchRequest(agent_name="other", room="call-1"))
    assert ID.fullmatch(first.id)
    assert ID.fullmatch(second.id)
    assert first.id != second.id
    assert (first.agent_name, first.room, first.metadata) == ("support", "call-1", '{"lang": "fr"}')
    assert (first.restart_policy, first.deployment) == (JobRestartPolicy.JRP_NEVER, "staging")
    assert first.attributes == {"tier": "gold", "x": ""}
    assert first.state is not None
    assert (first.state.created_at, first.state.deleted_at, first.state.jobs) == (fixed_clock(), 0, [])

    # The room the first create started has livekit-server's default dispatch too.
    [default, *created] = await client.list_dispatch("call-1")
    assert [d.id for d in created] == [first.id, second.id]
    assert ID.fullmatch(default.id)
    assert (default.agent_name, default.room, default.metadata, default.deployment) == ("", "call-1", "", "")
    assert await client.get_dispatch(second.id, "call-1") == second
    assert await client.get_dispatch("AD_000000000000", "call-1") is None

    deleted = await client.delete_dispatch(first.id, "call-1")
    assert deleted == first  # as it was: deleted_at is not set
    assert [d.id for d in await client.list_dispatch("call-1")] == [default.id, second.id]
    assert [d.id for d in local.rooms()["call-1"]] == [default.id, second.id]


async def test_rooms_that_are_not_running_answer_unavailable_after_a_wait(
    client: AgentDispatchService,
) -> None:
    for call in (
        client.list_dispatch("never"),
        client.get_dispatch("AD_x", "never"),
        client.delete_dispatch("AD_x", "never"),
    ):
        started = time.monotonic()
        with pytest.raises(TwirpError) as err:
            await call
        assert time.monotonic() - started >= WAIT
        assert (err.value.code, err.value.message, err.value.status) == NOT_RUNNING
    created = await client.create_dispatch(CreateAgentDispatchRequest(agent_name="a", room="once"))
    await client.delete_dispatch(created.id, "once")
    assert [d.agent_name for d in await client.list_dispatch("once")] == [""]  # still running
    with pytest.raises(TwirpError) as err:
        await client.delete_dispatch(created.id, "once")
    assert (err.value.code, err.value.message, err.value.status) == (
        TwirpErrorCode.NOT_FOUND,
        "twirp error unknown: dispatch ID not found",
        404,
    )


async def test_rooms_stop_running_after_their_empty_timeout(session: aiohttp.ClientSession) -> None:
    now = [FROZEN]
    async with LocalDispatchServer(
        KEY, SECRET, clock=lambda: now[0], empty_timeout=10, not_running_wait=0
    ) as local:
        client = AgentDispatchService(session, local.url, KEY, SECRET, retry=RetryPolicy(attempts=1))
        first = await client.create_dispatch(CreateAgentDispatchRequest(agent_name="a", room="r"))
        now[0] += 9 * 10**9
        await client.create_dispatch(CreateAgentDispatchRequest(agent_name="b", room="r"))  # no extension
        assert len(await client.list_dispatch("r")) == 3
        now[0] += 10**9
        with pytest.raises(TwirpError) as err:
            await client.list_dispatch("r")
        assert (err.value.code, err.value.message, err.value.status) == NOT_RUNNING
        assert local.rooms() == {}
        again = await client.create_dispatch(CreateAgentDispatchRequest(agent_name="a", room="r"))
        assert again.id != first.id
        assert [d.agent_name for d in await client.list_dispatch("r")] == ["", "a"]  # started afresh


async def test_close_room_ends_a_room_at_once(
    local: LocalDispatchServer, client: AgentDispatchService
) -> None:
    await client.create_dispatch(CreateAgentDispatchRequest(agent_name="a", room="r"))
    assert local.close_room("r") is True
    assert local.close_room("r") is False
    assert local.close_room("never") is False
    with pytest.raises(TwirpError) as err:
        await client.get_dispatch("AD_x", "r")
    assert (err.value.code, err.value.message, err.value.status) == NOT_RUNNING


async def test_dispatches_belong_to_their_room(client: AgentDispatchService) -> None:
    a = await client.create_dispatch(CreateAgentDispatchRequest(agent_name="a", room="one"))
    await client.create_dispatch(CreateAgentDispatchRequest(agent_name="b", room="two"))
    assert await client.get_dispatch(a.id, "two") is None
    with pytest.raises(TwirpError) as err:
        await client.delete_dispatch(a.id, "two")
    assert err.value.code is TwirpErrorCode.NOT_FOUND
    assert [d.agent_name for d in await client.list_dispatch("two")] == ["", "b"]


async def test_state_handed_out_is_a_copy(local: LocalDispatchServer, client: AgentDispatchService) -> None:
    await client.create_dispatch(CreateAgentDispatchRequest(agent_name="a", room="r", attributes={"k": "v"}))
    local.rooms()["r"][1].attributes["k"] = "changed"
    assert [d.attributes for d in await client.list_dispatch("r")] == [{}, {"k": "v"}]


async def create_raw(
    session: aiohttp.ClientSession, local: LocalDispatchServer, body: dict[str, object], request_id: str = ""
) -> tuple[int, dict[str, object]]:
    headers = {"X-Livekit-Request-Id": request_id} if request_id else {}
    room = body.get("room", "")
    assert isinstance(room, str)
    answer = await post(session, local.url, "CreateDispatch", orjson.dumps(body), room=room, headers=headers)
    return answer.status, answer.json()


async def test_request_ids_are_not_read(local: LocalDispatchServer, session: aiohttp.ClientSession) -> None:
    # livekit-server v1.13.5 ignores X-Livekit-Request-Id: a retried create makes a second dispatch.
    status, first = await create_raw(session, local, {"agent_name": "a", "room": "r"}, "REQ_1")
    assert status == 200
    status, again = await create_raw(session, local, {"agent_name": "a", "room": "r"}, "REQ_1")
    assert status == 200
    assert first["id"] != again["id"]
    assert [d.agent_name for d in local.rooms()["r"]] == ["", "a", "a"]


async def test_an_empty_room_is_accepted(local: LocalDispatchServer, session: aiohttp.ClientSession) -> None:
    # livekit-server checks no room name; a token for the room "" passes the permission check.
    status, body = await create_raw(session, local, {"agent_name": "a"})
    assert (status, body["room"]) == (200, "")
    assert [d.agent_name for d in local.rooms()[""]] == ["", "a"]


@pytest.mark.parametrize(
    ("deployment", "ok"),
    [
        ("", True),
        ("prod-eu.2", True),
        ("d" * MAX_DEPLOYMENT_BYTES, True),
        ("é" * (MAX_DEPLOYMENT_BYTES // 2), True),
        ("d" * (MAX_DEPLOYMENT_BYTES + 1), False),
        ("é" * (MAX_DEPLOYMENT_BYTES // 2) + "d", False),
        ("my_deployment", False),
        ("two words", False),
        ("tab\there", False),
        ("nul\x00", False),
        ("del\x7f", False),
        # Bytes, not characters, are judged: UTF-8 beyond ASCII passes, white space or not.
        ("nbsp\u00a0", True),
        ("c1\x85", True),
    ],
)
async def test_deployment_names(client: AgentDispatchService, deployment: str, ok: bool) -> None:
    req = CreateAgentDispatchRequest(agent_name="a", room="r", deployment=deployment)
    if ok:
        assert (await client.create_dispatch(req)).deployment == deployment
        return
    with pytest.raises(TwirpError) as err:
        await client.create_dispatch(req)
    assert (err.value.code, err.value.status) == (TwirpErrorCode.INVALID_ARGUMENT, 400)
    assert err.value.message.startswith("twirp error unknown: deployment ")


async def test_metadata_limit(client: AgentDispatchService) -> None:
    fits = "m" * (MAX_METADATA_BYTES - 2) + "é"  # exactly the limit, in bytes
    created = await client.create_dispatch(
        CreateAgentDispatchRequest(agent_name="a", room="r", metadata=fits)
    )
    assert created.metadata == fits
    with pytest.raises(TwirpError) as err:
        await client.create_dispatch(
            CreateAgentDispatchRequest(agent_name="a", room="r", metadata=fits + "m")
        )
    assert (err.value.code, err.value.message, err.value.status) == (
        TwirpErrorCode.INVALID_ARGUMENT,
        "twirp error unknown: metadata size exceeds limits",
        400,
    )
    assert len(await client.list_dispatch("r")) == 2  # the default dispatch and the one that fit


async def test_attributes_limit_counts_keys_and_values(client: AgentDispatchService) -> None:
    half = MAX_ATTRIBUTES_BYTES // 2
    fits = {"k": "v" * (half - 1), "k2": "w" * (half - 2)}
    created = await client.create_dispatch(
        CreateAgentDispatchRequest(agent_name="a", room="r", attributes=fits)
    )
    assert created.attributes == fits
    over = {**fits, "": "x"}
    with pytest.raises(TwirpError) as err:
        await client.create_dispatch(CreateAgentDispatchRequest(agent_name="a", room="r", attributes=over))
    assert (err.value.code, err.value.message, err.value.status) == (
        TwirpErrorCode.INVALID_ARGUMENT,
        "twirp error unknown: attribute size exceeds limits",
        400,
    )


def test_constructor_checks_its_arguments() -> None:
    with pytest.raises(ValueError, match="api_key"):
        LocalDispatchServer("", SECRET)
    with pytest.raises(ValueError, match="port"):
        LocalDispatchServer(KEY, SECRET, port=70000)
    with pytest.raises(ValueError, match="not_running_wait"):
        LocalDispatchServer(KEY, SECRET, not_running_wait=-1)
    with pytest.raises(ValueError, match="empty_timeout"):
        LocalDispatchServer(KEY, SECRET, empty_timeout=0)
    with pytest.raises(RuntimeError, match="not running"):
        _ = LocalDispatchServer(KEY, SECRET).url
    generated = LocalDispatchServer()
    assert generated.api_key == "devkey"
    assert len(generated.api_secret) >= 32
    assert generated.api_secret != LocalDispatchServer().api_secret


async def test_restarts_keep_state_and_refuse_a_second_start() -> None:
    server = LocalDispatchServer(KEY, SECRET)
    await server.start()
    try:
        with pytest.raises(RuntimeError, match="already running"):
            await server.start()
        async with server.connect(timeout=5) as client:
            await client.create_dispatch(CreateAgentDispatchRequest(agent_name="a", room="r"))
    finally:
        await server.close()
    async with server, server.connect(timeout=5) as client:
        assert [d.agent_name for d in await client.list_dispatch("r")] == ["", "a"]
