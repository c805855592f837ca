"""AgentDispatchService.dispatch_many against the stand-in: results in order, bad input refused
before anything is sent, a room's existing dispatch kept, failures per room, the bound on rooms
under way as the server sees it, waits and retries with simulated workers, cancellation, and
the blocking twin."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from bulk_helpers import wait_until
from fake_livekit import FakeLiveKit
from local_helpers import KEY, SECRET, server_in_thread

import dispatch_client.sync
from dispatch_client import AgentDispatchService, CreateAgentDispatchRequest, JobStatus, TwirpErrorCode
from dispatch_client.errors import WaitOutcome
from dispatch_client.fleet import JOB_OFFER_WINDOW, MAX_ATTEMPTS, DispatchOutcome, DispatchResult
from dispatch_client.testing import LocalDispatchServer, WorkerAnswer

AGENT = "caller"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def reqs(n: int, agent: str = AGENT, prefix: str = "call") -> list[CreateAgentDispatchRequest]:
    return [CreateAgentDispatchRequest(agent_name=agent, room=f"{prefix}-{i}") for i in range(n)]


def of_agent(server: LocalDispatchServer, room: str, agent: str = AGENT) -> list[str]:
    """The ids of the room's dispatches of ``agent``, on the server."""
    return [d.id for d in server.rooms().get(room, []) if d.agent_name == agent]


@pytest.fixture
async def stand_in() -> AsyncIterator[tuple[LocalDispatchServer, AgentDispatchService]]:
    async with LocalDispatchServer(KEY, SECRET) as server, server.connect() as service:
        yield server, service


async def test_every_room_gets_one_dispatch_and_the_results_come_in_order(
    stand_in: tuple[LocalDispatchServer, AgentDispatchService],
) -> None:
    server, service = stand_in
    asked = reqs(40)
    results = await service.dispatch_many(asked, concurrency=8)
    assert [r.request for r in results] == asked
    assert {r.outcome for r in results} == {DispatchOutcome.DISPATCHED}
    for r in results:
        assert r.dispatch is not None
        assert (r.attempts, r.job, r.error) == (1, None, None)
        assert of_agent(server, r.request.room) == [r.dispatch.id]
        assert r.started <= r.finished


Bad = Callable[[AgentDispatchService], Awaitable[list[DispatchResult]]]
BAD_CALLS: dict[str, tuple[Bad, str]] = {
    "not a request": (lambda s: s.dispatch_many([*reqs(2), "room-3"]), r"reqs\[2\] must be a CreateAgent"),  # type: ignore[list-item]
    "one request": (lambda s: s.dispatch_many(reqs(1)[0]), "must be an iterable"),  # type: ignore[arg-type]
    "empty room": (
        lambda s: s.dispatch_many([*reqs(2), CreateAgentDispatchRequest(agent_name=AGENT)]),
        r"reqs\[2\].room must be a non-empty string",
    ),
    "a room twice": (
        lambda s: s.dispatch_many([*reqs(3), reqs(3)[1]]),
        r"reqs\[1\] and reqs\[3\] both ask for agent 'caller' \(deployment ''\) in room 'call-1'",
    ),
    "concurrency 0": (
        lambda s: s.dispatch_many(reqs(2), concurrency=0),
        "concurrency must be a positive int",
    ),
    "rate 0": (lambda s: s.dispatch_many(reqs(2), rate=0), "rate must be None or a positive number"),
    "rate -5": (lambda s: s.dispatch_many(reqs(2), rate=-5), "rate must be None or a positive number"),
    "wait 0": (lambda s: s.dispatch_many(reqs(2), wait=0), "wait must be a positive number of seconds"),
    "attempts 0": (lambda s: s.dispatch_many(reqs(2), attempts=0), "attempts must be a positive int"),
    "attempts 11": (
        lambda s: s.dispatch_many(reqs(2), attempts=MAX_ATTEMPTS + 1),
        f"attempts must be from 1 to {MAX_ATTEMPTS}",
    ),
    "timeout -1": (lambda s: s.dispatch_many(reqs(2), timeout=-1), "timeout must be a positive number"),
}


@pytest.mark.parametrize("case", list(BAD_CALLS))
async def test_bad_arguments_are_value_errors_before_anything_is_sent(
    case: str, service: AgentDispatchService, fake: FakeLiveKit
) -> None:
    call, message = BAD_CALLS[case]
    with pytest.raises(ValueError, match=message):
        await call(service)
    assert fake.requests == []


async def test_the_same_room_for_another_agent_or_deployment_is_not_a_repeat(
    stand_in: tuple[LocalDispatchServer, AgentDispatchService],
) -> None:
    server, service = stand_in
    asked = [
        CreateAgentDispatchRequest(agent_name=AGENT, room="shared"),
        CreateAgentDispatchRequest(agent_name="other", room="shared"),
        CreateAgentDispatchRequest(agent_name=AGENT, room="shared", deployment="canary"),
    ]
    results = await service.dispatch_many(asked)
    assert [r.outcome for r in results] == [DispatchOutcome.DISPATCHED] * 3
    assert sorted((d.agent_name, d.deployment) for d in server.rooms()["shared"]) == [
        ("", ""),  # the server's own, in the room a create started
        (AGENT, ""),
        (AGENT, "canary"),
        ("other", ""),
    ]


async def test_a_room_that_has_the_dispatch_keeps_it_and_gets_no_second(
    stand_in: tuple[LocalDispatchServer, AgentDispatchService],
) -> None:
    server, service = stand_in
    asked = reqs(3)
    before = await service.create_dispatch(asked[1])
    results = await service.dispatch_many(asked)
    assert [r.outcome for r in results] == [DispatchOutcome.DISPATCHED] * 3
    assert results[1].dispatch is not None
    assert results[1].dispatch.id == before.id
    assert [len(of_agent(server, r.room)) for r in asked] == [1, 1, 1]
    again = await service.dispatch_many(asked)  # the whole campaign run again: nothing new
    assert [r.dispatch.id for r in again if r.dispatch] == [r.dispatch.id for r in results if r.dispatch]


async def test_a_room_the_server_refuses_fails_alone(
    stand_in: tuple[LocalDispatchServer, AgentDispatchService],
) -> None:
    server, service = stand_in
    asked = reqs(5)
    asked[2] = CreateAgentDispatchRequest(agent_name=AGENT, room="call-2", deployment="x" * 65)
    seen: list[str] = []
    results = await service.dispatch_many(asked, on_result=lambda r: seen.append(r.request.room))
    assert [r.outcome for r in results] == [DispatchOutcome.DISPATCHED] * 2 + [DispatchOutcome.FAILED] + [
        DispatchOutcome.DISPATCHED
    ] * 2
    failed = results[2]
    assert failed.error is not None
    assert failed.error.code is TwirpErrorCode.INVALID_ARGUMENT
    assert (failed.dispatch, failed.ok) == (None, False)
    assert sorted(seen) == sorted(r.room for r in asked)
    assert [len(of_agent(server, r.room)) for r in asked] == [1, 1, 0, 1, 1]


async def test_no_more_creates_are_in_flight_at_the_server_than_the_concurrency() -> None:
    server = LocalDispatchServer(KEY, SECRET)
    held: list[asyncio.Event] = []
    most = 0

    @web.middleware
    async def gate(request: web.Request, handler: Handler) -> web.StreamResponse:
        nonlocal most
        if not request.path.endswith("/CreateDispatch"):
            return await handler(request)
        release = asyncio.Event()
        held.append(release)
        most = max(most, sum(not e.is_set() for e in held))
        await release.wait()
        return await handler(request)

    def arrived(count: int) -> bool:
        return len(held) == count

    app = server.app()
    app.middlewares.append(gate)
    site = TestServer(app, host="127.0.0.1")
    await site.start_server()
    try:
        async with aiohttp.ClientSession() as session:
            service = AgentDispatchService(session, str(site.make_url("")), KEY, SECRET)
            task = asyncio.create_task(service.dispatch_many(reqs(12), concurrency=4))
            for i in range(12):  # each create let through once every slot is taken (or every room left)
                await wait_until(functools.partial(arrived, min(i + 4, 12)))
                held[i].set()
            results = await task
    finally:
        await site.close()
    assert most == 4
    assert {r.outcome for r in results} == {DispatchOutcome.DISPATCHED}


async def test_the_job_is_waited_for(stand_in: tuple[LocalDispatchServer, AgentDispatchService]) -> None:
    server, service = stand_in
    server.add_worker(AGENT, delay=0.05)
    results = await service.dispatch_many(reqs(6), wait=5)
    for r in results:
        assert r.outcome is DispatchOutcome.RUNNING
        assert r.job is not None
        assert r.job.state is not None
        assert r.job.state.status is JobStatus.JS_RUNNING
        assert r.dispatch is not None
        assert r.job.dispatch_id == r.dispatch.id


async def test_a_turned_down_job_is_sent_again_up_to_the_attempts(
    stand_in: tuple[LocalDispatchServer, AgentDispatchService],
) -> None:
    server, service = stand_in
    server.add_worker(AGENT, answer=WorkerAnswer.REJECT)
    [result] = await service.dispatch_many(reqs(1), wait=5, attempts=3)
    assert (result.outcome, result.attempts) == (DispatchOutcome.NO_AGENT, 3)
    assert result.error is not None
    assert result.error.wait_outcome is WaitOutcome.JOB_FAILED
    kept = of_agent(server, "call-0")
    assert len(kept) == 3  # no dispatch is deleted: those no agent came of stay, passed over
    assert result.dispatch is not None
    assert result.dispatch.id in kept


async def test_no_job_within_a_short_wait_is_not_sent_again(
    stand_in: tuple[LocalDispatchServer, AgentDispatchService],
) -> None:
    server, service = stand_in
    [result] = await service.dispatch_many(reqs(1), wait=0.3, attempts=3)
    assert (result.outcome, result.attempts) == (DispatchOutcome.NO_AGENT, 1)
    assert result.error is not None
    assert result.error.wait_outcome is WaitOutcome.NO_JOB
    assert len(of_agent(server, "call-0")) == 1


async def test_rooms_whose_job_never_came_get_it_from_a_second_dispatch(
    stand_in: tuple[LocalDispatchServer, AgentDispatchService],
) -> None:
    """No worker is there when the rooms are first sent the agent, so those dispatches never get
    a job (as on livekit-server); one registers meanwhile, and the second dispatch gets it."""
    server, service = stand_in
    asked = reqs(3)
    task = asyncio.create_task(service.dispatch_many(asked, wait=JOB_OFFER_WINDOW))
    await wait_until(lambda: all(of_agent(server, r.room) for r in asked))
    server.add_worker(AGENT, delay=0.05)
    results = await task
    for r in results:
        assert (r.outcome, r.attempts, r.error) == (DispatchOutcome.RUNNING, 2, None)
        mine = [d for d in server.rooms()[r.request.room] if d.agent_name == AGENT]
        first, second = sorted(mine, key=lambda d: d.state.created_at if d.state else 0)
        assert r.dispatch is not None
        assert r.dispatch.id == second.id
        assert first.state is not None
        assert first.state.jobs == []


async def test_cancelling_stops_the_starts(
    stand_in: tuple[LocalDispatchServer, AgentDispatchService],
) -> None:
    server, service = stand_in
    done: list[DispatchResult] = []
    task = asyncio.create_task(
        service.dispatch_many(reqs(200), rate=100, concurrency=4, on_result=done.append)
    )
    await wait_until(lambda: len(done) >= 5)
    task.cancel()
    finished = len(done)
    with pytest.raises(asyncio.CancelledError):
        await task
    rooms = [room for room in server.rooms() if of_agent(server, room)]
    assert len(rooms) <= finished + 4  # those done, and at most those under way when cancelled


def test_the_blocking_client_runs_the_same() -> None:
    with server_in_thread() as server:
        with dispatch_client.sync.AgentDispatchService(server.url, KEY, SECRET) as client:
            seen: list[DispatchResult] = []
            results = client.dispatch_many(reqs(5), rate=200, on_result=seen.append)
        assert [r.outcome for r in results] == [DispatchOutcome.DISPATCHED] * 5
        assert len(seen) == 5
        assert all(len(of_agent(server, r.request.room)) == 1 for r in results)
