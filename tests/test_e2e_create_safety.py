"""Creates through a proxy that loses the real server's answers: never two dispatches for one call.

livekit-server v1.13.5 does not recognise a repeated create, so a create sent again after
its answer was lost makes a second dispatch (the first test shows the server doing so). The
client instead lists the room after such a failure and returns the dispatch the lost answer
was for. Each create carries its own metadata, so every dispatch on the server is traced to
the call that made it.
"""

from __future__ import annotations

import asyncio
import collections

import aiohttp
import pytest
from fault_proxy import Fault, FaultProxy, every
from livekit_server import RealServer, unique_room

from dispatch_client import (
    AgentDispatch,
    AgentDispatchService,
    CreateAgentDispatchRequest,
    RetryPolicy,
    TwirpError,
)

CALLS = 60


def direct(session: aiohttp.ClientSession, livekit: RealServer) -> AgentDispatchService:
    return AgentDispatchService(session, livekit.url, livekit.api_key, livekit.api_secret)


def by_metadata(dispatches: list[AgentDispatch]) -> collections.Counter[str]:
    """How many dispatches each call made; the server's own default dispatch is left out."""
    return collections.Counter(d.metadata for d in dispatches if d.agent_name)


async def test_the_server_makes_a_second_dispatch_for_a_repeated_create(
    livekit: RealServer, session: aiohttp.ClientSession
) -> None:
    # The fact the client's create rule rests on: one request id, sent twice, two dispatches.
    svc = direct(session, livekit)
    room = unique_room("repeat")
    req = CreateAgentDispatchRequest(agent_name="agent", room=room, metadata="once")
    first = await svc.create_dispatch(req, request_id="REQ_same")
    second = await svc.create_dispatch(req, request_id="REQ_same")
    assert first.id != second.id
    assert by_metadata(await svc.list_dispatch(room)) == {"once": 2}


async def test_every_third_answer_lost(
    livekit: RealServer, session: aiohttp.ClientSession, summary: list[str]
) -> None:
    room = unique_room("lossy")
    async with FaultProxy(livekit.url, every(3, Fault.DROP_AFTER)) as proxy:
        svc = AgentDispatchService(session, proxy.url, livekit.api_key, livekit.api_secret)
        returned: dict[str, str] = {}
        failed: dict[str, TwirpError] = {}
        for i in range(CALLS):
            req = CreateAgentDispatchRequest(agent_name="agent", room=room, metadata=f"call-{i}")
            try:
                returned[req.metadata] = (await svc.create_dispatch(req)).id
            except TwirpError as e:
                failed[req.metadata] = e
    on_server = await direct(session, livekit).list_dispatch(room)
    made = by_metadata(on_server)
    twice = [m for m, n in made.items() if n > 1]
    missing = [i for i in returned.values() if i not in {d.id for d in on_server}]
    summary.append(
        f"creates with every third answer lost (real livekit-server {livekit.url}): {CALLS} calls, "
        f"{proxy.faults[Fault.DROP_AFTER]} answers dropped of {sum(proxy.faults.values())} requests "
        f"({dict(proxy.by_rpc)}); returned {len(returned)}, failed {len(failed)}; calls that made "
        f"two dispatches = {len(twice)}, returned ids missing from the server = {len(missing)}"
    )
    assert twice == []
    assert missing == []
    assert proxy.faults[Fault.DROP_AFTER] >= CALLS // 3
    # Every call that returned made its dispatch, and only the unknown ones may have made none.
    assert all(made[m] == 1 for m in returned)
    # A failed create either made nothing or says that it may have.
    assert all(made[m] == 0 or e.outcome_unknown for m, e in failed.items())
    assert len(returned) >= CALLS * 2 // 3  # lost answers were recovered, not only survived


@pytest.mark.parametrize("fault", [Fault.DROP_AFTER, Fault.BAD_GATEWAY, Fault.UNAVAILABLE])
async def test_a_lost_answer_is_found_in_the_room(
    livekit: RealServer, session: aiohttp.ClientSession, fault: Fault
) -> None:
    room = unique_room("found")
    async with FaultProxy(livekit.url, lambda i, rpc: fault if i == 0 else Fault.PASS) as proxy:
        svc = AgentDispatchService(session, proxy.url, livekit.api_key, livekit.api_secret)
        created = await svc.create_dispatch(
            CreateAgentDispatchRequest(agent_name="a", room=room, metadata="m")
        )
    assert dict(proxy.by_rpc) == {"CreateDispatch": 1, "ListDispatch": 1}  # one create, one check
    assert [d.id for d in await direct(session, livekit).list_dispatch(room) if d.agent_name] == [created.id]


@pytest.mark.parametrize("fault", [Fault.DROP_BEFORE, Fault.REFUSED_503])
async def test_a_create_that_never_reached_the_server_is_sent_again(
    livekit: RealServer, session: aiohttp.ClientSession, fault: Fault
) -> None:
    room = unique_room("refused")
    first = await direct(session, livekit).create_dispatch(
        CreateAgentDispatchRequest(agent_name="b", room=room)
    )
    async with FaultProxy(livekit.url, lambda i, rpc: fault if i == 0 else Fault.PASS) as proxy:
        svc = AgentDispatchService(session, proxy.url, livekit.api_key, livekit.api_secret)
        created = await svc.create_dispatch(CreateAgentDispatchRequest(agent_name="a", room=room))
    # The check finds no dispatch like it (the other one is another agent's), so it is sent again.
    assert dict(proxy.by_rpc) == {"CreateDispatch": 2, "ListDispatch": 1}
    named = {d.id for d in await direct(session, livekit).list_dispatch(room) if d.agent_name}
    assert named == {first.id, created.id}


async def test_without_retries_a_lost_answer_is_an_unknown_outcome(
    livekit: RealServer, session: aiohttp.ClientSession
) -> None:
    room = unique_room("single")
    async with FaultProxy(livekit.url, every(1, Fault.DROP_AFTER)) as proxy:
        svc = AgentDispatchService(
            session, proxy.url, livekit.api_key, livekit.api_secret, retry=RetryPolicy.none()
        )
        with pytest.raises(TwirpError) as err:
            await svc.create_dispatch(CreateAgentDispatchRequest(agent_name="a", room=room))
    assert err.value.outcome_unknown
    assert err.value.status is None
    assert dict(proxy.by_rpc) == {"CreateDispatch": 1}
    assert len(by_metadata(await direct(session, livekit).list_dispatch(room))) == 1  # it was made


async def test_concurrent_creates_through_lost_answers_each_get_their_own(
    livekit: RealServer, session: aiohttp.ClientSession
) -> None:
    room = unique_room("together")
    async with FaultProxy(livekit.url, every(2, Fault.BAD_GATEWAY)) as proxy:
        svc = AgentDispatchService(session, proxy.url, livekit.api_key, livekit.api_secret)
        reqs = [CreateAgentDispatchRequest(agent_name="a", room=room, metadata=f"c{i}") for i in range(20)]
        results = await asyncio.gather(*(svc.create_dispatch(r) for r in reqs), return_exceptions=True)
    made = by_metadata(await direct(session, livekit).list_dispatch(room))
    assert all(n == 1 for n in made.values())
    for req, result in zip(reqs, results, strict=True):
        if isinstance(result, AgentDispatch):
            assert result.metadata == req.metadata
            assert made[req.metadata] == 1
        else:
            assert isinstance(result, TwirpError)
            assert made[req.metadata] == 0 or result.outcome_unknown
