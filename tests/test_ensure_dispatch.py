"""ensure_dispatch: one dispatch of an agent in a room, however often and however concurrently asked."""

from __future__ import annotations

import asyncio
import collections

import aiohttp
import pytest
from fake_livekit import FakeLiveKit, after_work, answer, late
from fault_proxy import Fault, FaultProxy
from livekit_server import RealServer, unique_room
from retrying import STEADY, Sleeps, make

from dispatch_client import AgentDispatchService, CreateAgentDispatchRequest, TwirpError, TwirpErrorCode


def rpcs(fake: FakeLiveKit) -> list[str]:
    return [r.path.rsplit("/", 1)[1] for r in fake.requests]


async def test_an_existing_dispatch_is_returned_and_none_is_made(
    session: aiohttp.ClientSession, url: str, fake: FakeLiveKit
) -> None:
    svc = make(session, url, Sleeps(), retry=STEADY)
    req = CreateAgentDispatchRequest(agent_name="a", room="r", deployment="blue", metadata="first")
    first = await svc.ensure_dispatch(req)
    again = await svc.ensure_dispatch(CreateAgentDispatchRequest(agent_name="a", room="r", deployment="blue"))
    assert again.id == first.id  # the same agent and deployment, whatever the metadata
    # This server does not serve RoomService (bad_route): the room store's reads tell nothing,
    # and the dispatch calls decide as before.
    assert rpcs(fake) == [
        "ListRooms",
        "ListDispatch",
        "ListParticipants",
        "CreateDispatch",
        "ListRooms",
        "ListDispatch",
    ]
    other = await svc.ensure_dispatch(
        CreateAgentDispatchRequest(agent_name="a", room="r", deployment="green")
    )
    assert other.id != first.id
    assert len(fake.rooms["r"]) == 2


async def test_concurrent_calls_in_one_service_make_one(
    session: aiohttp.ClientSession, url: str, fake: FakeLiveKit
) -> None:
    svc = make(session, url, Sleeps(), retry=STEADY)
    req = CreateAgentDispatchRequest(agent_name="a", room="r")
    got = await asyncio.gather(*(svc.ensure_dispatch(req) for _ in range(20)))
    assert len({d.id for d in got}) == 1
    assert rpcs(fake).count("CreateDispatch") == 1
    assert svc._turns._locks == {}  # no lock outlives its users


async def test_an_unknown_outcome_is_settled_by_the_room(
    session: aiohttp.ClientSession, url: str, fake: FakeLiveKit
) -> None:
    # The create's answer is lost after the work, and its own check fails too: the create says
    # its outcome is unknown; ensure_dispatch lists again and finds it.
    svc = make(session, url, Sleeps(), retry=STEADY)
    fake.respond_with(answer(200, '{"agent_dispatches": []}', "application/json"))
    fake.respond_with(after_work(fake, answer(502, "lost")), *[answer(503, "busy")] * 3)
    found = await svc.ensure_dispatch(CreateAgentDispatchRequest(agent_name="a", room="r"))
    assert list(fake.rooms["r"]) == [found.id]
    assert rpcs(fake).count("CreateDispatch") == 1


async def test_a_failure_before_anything_is_made_is_raised(
    session: aiohttp.ClientSession, url: str, fake: FakeLiveKit
) -> None:
    svc = make(session, url, Sleeps(), retry=STEADY)
    # Both reads refused: the room store's (which only makes it tell nothing), then the list's.
    fake.respond_with(answer(401, "invalid token"), answer(401, "invalid token"))
    with pytest.raises(TwirpError) as err:
        await svc.ensure_dispatch(CreateAgentDispatchRequest(agent_name="a", room="r"))
    assert rpcs(fake) == ["ListRooms", "ListDispatch"]
    assert (err.value.code, err.value.outcome_unknown) == (TwirpErrorCode.UNAUTHENTICATED, False)
    with pytest.raises(ValueError, match=r"req\.room"):
        await svc.ensure_dispatch(CreateAgentDispatchRequest(agent_name="a", room=""))


async def test_fifty_concurrent_calls_through_faults_leave_one_on_the_real_server(
    livekit: RealServer, session: aiohttp.ClientSession, summary: list[str]
) -> None:
    room = unique_room("ensure")
    plan = [Fault.DROP_AFTER, Fault.PASS, Fault.BAD_GATEWAY, Fault.PASS, Fault.UNAVAILABLE, Fault.DROP_BEFORE]
    async with FaultProxy(livekit.url, lambda i, rpc: plan[i % len(plan)]) as proxy:
        svc = AgentDispatchService(session, proxy.url, livekit.api_key, livekit.api_secret)
        req = CreateAgentDispatchRequest(agent_name="support", room=room)
        results = await asyncio.gather(*(svc.ensure_dispatch(req) for _ in range(50)), return_exceptions=True)
    direct = AgentDispatchService(session, livekit.url, livekit.api_key, livekit.api_secret)
    on_server = [d for d in await direct.list_dispatch(room) if d.agent_name == "support"]
    outcomes = collections.Counter(type(r).__name__ for r in results)
    summary.append(
        f"ensure_dispatch: 50 concurrent calls through the fault proxy (real livekit-server): "
        f"{sum(proxy.faults.values())} requests, {proxy.spoiled} answers spoiled; outcomes {dict(outcomes)}; "
        f"dispatches of the agent on the server = {len(on_server)}"
    )
    assert len(on_server) == 1
    assert {r.id for r in results if not isinstance(r, BaseException)} == {on_server[0].id}
    assert all(isinstance(r, TwirpError) for r in results if isinstance(r, BaseException))
    assert proxy.spoiled > 0


async def test_a_cancelled_call_keeps_the_turn_until_its_create_ends(
    session: aiohttp.ClientSession, url: str, fake: FakeLiveKit
) -> None:
    # The create reaches the server slowly; its caller is cancelled meanwhile. The next call
    # must not list the room before that create is done, or it would make a second dispatch.
    svc = make(session, url, Sleeps(), retry=STEADY)
    req = CreateAgentDispatchRequest(agent_name="a", room="r")
    fake.respond_with(answer(200, '{"agent_dispatches": []}', "application/json"), late(0.5, fake.serve))
    first = asyncio.create_task(svc.ensure_dispatch(req))
    await asyncio.sleep(0.2)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    second = await svc.ensure_dispatch(req)
    assert list(fake.rooms["r"]) == [second.id]
    assert rpcs(fake).count("CreateDispatch") == 1
    assert svc._turns._locks == {}


async def test_waiting_for_the_turn_keeps_to_the_deadline(
    session: aiohttp.ClientSession, url: str, fake: FakeLiveKit
) -> None:
    svc = make(session, url, Sleeps(), retry=STEADY)
    req = CreateAgentDispatchRequest(agent_name="a", room="r")
    fake.respond_with(late(2.0, fake.serve))
    holder = asyncio.create_task(svc.ensure_dispatch(req, timeout=5))
    await asyncio.sleep(0.1)
    started = asyncio.get_running_loop().time()
    with pytest.raises(TwirpError) as err:
        await svc.ensure_dispatch(req, timeout=0.3)
    assert err.value.code is TwirpErrorCode.DEADLINE_EXCEEDED
    assert asyncio.get_running_loop().time() - started < 1.0  # its 0.3 s, not the holder's 2 s
    await holder
