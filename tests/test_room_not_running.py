"""A room that is not running: livekit-server answers 503 after 3 s; the call ends there, with
``TwirpError.room_not_running`` set, instead of spending its deadline on retries."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import aiohttp
import pytest
from fake_livekit import FakeLiveKit, answer
from fault_proxy import Fault, FaultProxy
from livekit_server import RealServer, unique_room
from retrying import STEADY, Sleeps, make

from dispatch_client import AgentDispatchService, CreateAgentDispatchRequest, TwirpError, TwirpErrorCode
from dispatch_client._transport.responses import error_from_response

NOT_RUNNING = b'{"code":"unavailable","msg":"twirp error unknown: no response from servers"}'


def test_the_property_names_only_livekit_servers_own_answer() -> None:
    assert error_from_response(503, NOT_RUNNING).room_not_running
    assert not error_from_response(503, b'{"code":"unavailable","msg":"node draining"}').room_not_running
    # The same words from something that is not a Twirp server, or with another code or status.
    assert not error_from_response(503, b"no response from servers").room_not_running
    assert not error_from_response(500, NOT_RUNNING).room_not_running
    assert not error_from_response(
        404, b'{"code":"not_found","msg":"twirp error unknown: no response from servers"}'
    ).room_not_running


async def test_it_is_not_retried_and_a_create_takes_it_for_nothing_made(
    session: aiohttp.ClientSession, url: str, fake: FakeLiveKit
) -> None:
    sleeps = Sleeps()
    svc = make(session, url, sleeps, retry=STEADY)
    not_running = answer(503, NOT_RUNNING.decode(), "application/json")
    fake.respond_with(not_running)
    with pytest.raises(TwirpError) as err:
        await svc.list_dispatch("r")
    assert (err.value.room_not_running, len(fake.requests), sleeps.calls) == (True, 1, [])
    fake.respond_with(not_running)
    with pytest.raises(TwirpError) as err:
        await svc.delete_dispatch("AD_x", "r")
    assert (err.value.room_not_running, err.value.outcome_unknown, len(fake.requests)) == (True, False, 2)
    # A create whose answer was lost, in a room that is not running and that the room store does
    # not have: it did not make the room, so it made nothing, and is sent again.
    lost = answer(503, '{"code":"unavailable","msg":"lost"}', "application/json")
    no_rooms = answer(200, '{"rooms": []}', "application/json")
    fake.respond_with(lost, not_running, no_rooms)
    created = await svc.create_dispatch(CreateAgentDispatchRequest(agent_name="a", room="r"))
    assert [r.path.rsplit("/", 1)[1] for r in fake.requests[2:]] == [
        "CreateDispatch",
        "ListDispatch",
        "ListRooms",
        "CreateDispatch",
    ]
    assert created.room == "r"


async def test_a_lost_create_in_a_stopped_room_the_store_still_has_is_not_sent_again(
    session: aiohttp.ClientSession, url: str, fake: FakeLiveKit
) -> None:
    # In a cluster the node that made the room may be the one that went down: the store still
    # lists the room, so the create may have been done, and it is not repeated.
    svc = make(session, url, Sleeps(), retry=STEADY)
    in_store = answer(200, '{"rooms": [{"sid": "RM_x", "name": "r"}]}', "application/json")
    fake.respond_with(
        answer(503, '{"code":"unavailable","msg":"lost"}', "application/json"),
        answer(503, NOT_RUNNING.decode(), "application/json"),
        in_store,
    )
    with pytest.raises(TwirpError) as err:
        await svc.create_dispatch(CreateAgentDispatchRequest(agent_name="a", room="r"))
    assert (err.value.code, err.value.outcome_unknown) == (TwirpErrorCode.UNAVAILABLE, True)
    sent = [r.path.rsplit("/", 1)[1] for r in fake.requests]
    assert sent == ["CreateDispatch", "ListDispatch", "ListRooms"]


@pytest.mark.parametrize("call", ["list", "get", "delete"])
async def test_against_the_real_server_the_call_ends_after_its_3_s(
    livekit: RealServer, session: aiohttp.ClientSession, summary: list[str], call: str
) -> None:
    room = unique_room("never")
    async with FaultProxy(livekit.url, lambda i, rpc: Fault.PASS) as proxy:  # counts the requests
        svc = AgentDispatchService(
            session, proxy.url, livekit.api_key, livekit.api_secret
        )  # default settings
        calls: dict[str, Callable[[], Awaitable[object]]] = {
            "list": lambda: svc.list_dispatch(room),
            "get": lambda: svc.get_dispatch("AD_xxxxxxxxxxxx", room),
            "delete": lambda: svc.delete_dispatch("AD_xxxxxxxxxxxx", room),
        }
        started = time.monotonic()
        with pytest.raises(TwirpError) as err:
            await calls[call]()
        elapsed = time.monotonic() - started
    e = err.value
    assert (e.code, e.status, e.room_not_running, e.from_intermediary) == (
        TwirpErrorCode.UNAVAILABLE,
        503,
        True,
        False,
    )
    assert e.message == "twirp error unknown: no response from servers"
    assert sum(proxy.by_rpc.values()) == 1
    assert elapsed < 5.0
    summary.append(
        f"{call} in a room that is not running (real livekit-server, default settings): "
        f"{elapsed:.2f} s, 1 request"
    )


async def test_a_room_that_closed_after_its_empty_timeout(
    closing_livekit: RealServer, session: aiohttp.ClientSession
) -> None:
    svc = AgentDispatchService(
        session, closing_livekit.url, closing_livekit.api_key, closing_livekit.api_secret
    )
    room = unique_room("closes")
    await svc.create_dispatch(CreateAgentDispatchRequest(agent_name="a", room=room))
    assert len(await svc.list_dispatch(room)) == 2  # running: its dispatch and the server's default one
    closed = f'room closed\t{{"room": "{room}"'
    for _ in range(100):
        if closed in closing_livekit.log():
            break
        await asyncio.sleep(0.05)
    assert closed in closing_livekit.log()
    with pytest.raises(TwirpError) as err:
        await svc.list_dispatch(room)
    assert err.value.room_not_running
