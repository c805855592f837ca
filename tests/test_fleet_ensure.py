"""ensure_dispatch with a coordinator: the lease taken before anything is sent, the call's
deadline clipped to the lease's, and the lease handed on however the call ends."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from aiohttp import web
from fake_livekit import API_KEY, API_SECRET, FakeLiveKit, answer

from dispatch_client import AgentDispatchService, CreateAgentDispatchRequest, TwirpError, TwirpErrorCode


class Granted:
    def __init__(self, owner: Recording, key: str, deadline: float) -> None:
        self.owner, self.key, self._deadline = owner, key, deadline

    @property
    def deadline(self) -> float:
        return self._deadline

    async def release(self) -> None:
        self.owner.released.append(self.key)


class Recording:
    """A coordinator that grants every lease at once, capped at ``hold`` seconds, and records."""

    def __init__(self, hold: float = 30.0, refuse: TwirpError | None = None) -> None:
        self.hold, self.refuse = hold, refuse
        self.acquired: list[tuple[str, float]] = []
        self.released: list[str] = []

    async def acquire(self, key: str, deadline: float) -> Granted:
        if self.refuse is not None:
            raise self.refuse
        now = asyncio.get_running_loop().time()
        self.acquired.append((key, deadline - now))
        return Granted(self, key, min(deadline, now + self.hold))


def service(session: aiohttp.ClientSession, url: str, coordinator: Recording) -> AgentDispatchService:
    return AgentDispatchService(session, url, API_KEY, API_SECRET, coordinator=coordinator)


async def settled(coordinator: Recording, n: int) -> None:
    for _ in range(200):
        if len(coordinator.released) >= n:
            return
        await asyncio.sleep(0.005)


async def test_the_lease_is_taken_first_and_handed_on(
    session: aiohttp.ClientSession, url: str, fake: FakeLiveKit
) -> None:
    coordinator = Recording()
    svc = service(session, url, coordinator)
    req = CreateAgentDispatchRequest(agent_name="a", room="r", deployment="d")
    first = await svc.ensure_dispatch(req, timeout=5)
    again = await svc.ensure_dispatch(req, timeout=5)
    assert again.id == first.id
    await settled(coordinator, 2)
    assert [k for k, _ in coordinator.acquired] == ['["r", "a", "d"]'] * 2
    assert 4.5 < coordinator.acquired[0][1] <= 5.0  # the whole call's deadline
    assert coordinator.released == ['["r", "a", "d"]'] * 2


async def test_a_refused_lease_sends_nothing(
    session: aiohttp.ClientSession, url: str, fake: FakeLiveKit
) -> None:
    refused = TwirpError(TwirpErrorCode.UNAVAILABLE, "the coordinator's Redis cannot be used")
    svc = service(session, url, Recording(refuse=refused))
    with pytest.raises(TwirpError) as err:
        await svc.ensure_dispatch(CreateAgentDispatchRequest(agent_name="a", room="r"))
    assert err.value is refused
    assert fake.requests == []


async def test_the_call_ends_by_the_leases_end(
    session: aiohttp.ClientSession, url: str, fake: FakeLiveKit
) -> None:
    coordinator = Recording(hold=0.3)
    svc = service(session, url, coordinator)

    async def slow(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(2)
        return await answer(200, "{}", "application/json")(request)

    fake.respond_with(slow)  # the room store's read does not answer within the lease
    started = asyncio.get_running_loop().time()
    with pytest.raises(TwirpError) as err:
        await svc.ensure_dispatch(CreateAgentDispatchRequest(agent_name="a", room="r"), timeout=10)
    assert err.value.code is TwirpErrorCode.DEADLINE_EXCEEDED
    assert asyncio.get_running_loop().time() - started < 1.5
    await settled(coordinator, 1)
    assert len(coordinator.released) == 1


def test_a_coordinator_without_acquire_is_a_value_error(session: aiohttp.ClientSession, url: str) -> None:
    with pytest.raises(ValueError, match="coordinator"):
        AgentDispatchService(session, url, API_KEY, API_SECRET, coordinator=object())  # type: ignore[arg-type]


async def test_a_cancelled_call_keeps_its_lease_until_its_create_ends(
    session: aiohttp.ClientSession, url: str, fake: FakeLiveKit
) -> None:
    coordinator = Recording()
    svc = service(session, url, coordinator)
    let_go = asyncio.Event()

    async def slow_create(request: web.Request) -> web.StreamResponse:
        await let_go.wait()
        return await fake.serve(request)

    fake.respond_with(answer(200, '{"rooms": []}', "application/json"), slow_create)
    call = asyncio.create_task(svc.ensure_dispatch(CreateAgentDispatchRequest(agent_name="a", room="r")))
    for _ in range(400):
        if len(fake.requests) == 2:
            break
        await asyncio.sleep(0.005)
    assert [r.path.rsplit("/", 1)[1] for r in fake.requests] == ["ListRooms", "CreateDispatch"]
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert coordinator.released == []  # the create is still on its way
    let_go.set()
    await settled(coordinator, 1)
    assert coordinator.released == ['["r", "a", ""]']
    assert len(fake.rooms["r"]) == 1
