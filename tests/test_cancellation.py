"""Cancellation: a caller's cancel is never lost, and no call ends cancelled unless it was cancelled.

Each race is run RUNS times and counted: lost cancels (the caller cancelled, the call did
not end cancelled) and unrequested cancellations (a call ended with CancelledError although
nobody cancelled its task) must both be 0.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from fake_livekit import API_KEY, API_SECRET

from dispatch_client import AgentDispatchService, RetryPolicy, TwirpError, TwirpErrorCode

RUNS = 200


async def no_wait(seconds: float) -> None:
    await asyncio.sleep(0)


class Slow:
    """A server that takes ``delay`` seconds to answer (or never, with None); counts arrivals."""

    def __init__(self) -> None:
        self.delay: float | None = 1.0
        self.arrived = 0
        self.arrival = asyncio.Event()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.arrived += 1
        self.arrival.set()
        if self.delay is None:
            await asyncio.Event().wait()
        else:
            await asyncio.sleep(self.delay)
        return web.json_response({"agent_dispatches": []})


@pytest.fixture
async def slow() -> AsyncIterator[tuple[Slow, str]]:
    state = Slow()
    app = web.Application()
    app.router.add_post("/twirp/livekit.AgentDispatchService/{method}", state.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield state, str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


async def close_while_waiting(slow: Slow, url: str, calls: int, pool: int) -> tuple[int, int, set[str]]:
    """``calls`` lists on a session with ``pool`` connections, closed while all are in flight.

    Returns (unrequested CancelledErrors, other exceptions that are not TwirpError, codes).
    """
    slow.arrived = 0
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=pool))
    svc = AgentDispatchService(session, url, API_KEY, API_SECRET, timeout=5, sleep=no_wait)
    tasks = [asyncio.create_task(svc.list_dispatch("r")) for _ in range(calls)]
    while slow.arrived < pool:
        slow.arrival.clear()
        await slow.arrival.wait()
    await session.close()
    await asyncio.wait(tasks)
    unrequested = others = 0
    codes: set[str] = set()
    for task in tasks:
        assert task.cancelling() == 0  # nobody cancelled any of them
        if task.cancelled():
            unrequested += 1
        elif isinstance(task.exception(), TwirpError):
            err = task.exception()
            assert isinstance(err, TwirpError)
            codes.add(err.code.value)
        else:
            others += 1
    return unrequested, others, codes


async def test_closing_the_session_fails_the_calls_waiting_for_a_connection(
    slow: tuple[Slow, str], summary: list[str]
) -> None:
    """Calls waiting for a connection of a session that closes end as TwirpError."""
    state, url = slow
    # At the reported scale once: 120 calls, a pool of 100.
    assert await close_while_waiting(state, url, 120, 100) == (0, 0, {"failed_precondition"})
    unrequested = others = 0
    for _ in range(RUNS):
        u, o, codes = await close_while_waiting(state, url, 6, 4)
        assert codes == {"failed_precondition"}
        unrequested, others = unrequested + u, others + o
    summary.append(
        f"session closed under waiting calls: {RUNS} runs, {unrequested} unrequested CancelledError"
    )
    assert (unrequested, others) == (0, 0)


class CancelledAfterDeadline(asyncio.Task[None]):
    """A task whose first cancel (the call's deadline firing) is followed at once by a second,
    the caller's, before the task runs again: the race of a cancel landing just after the
    deadline."""

    caller_cancelled = False

    def cancel(self, msg: object = None) -> bool:
        done = super().cancel(msg)
        if not self.caller_cancelled:
            self.caller_cancelled = True
            super().cancel("by the caller")
        return done


async def run_in(factory: Callable[..., asyncio.Task[None]], coro: object) -> asyncio.Task[None]:
    loop = asyncio.get_running_loop()
    before = loop.get_task_factory()
    loop.set_task_factory(lambda loop, coro, **kw: factory(coro, loop=loop, **kw))  # type: ignore[arg-type]
    try:
        task = asyncio.ensure_future(coro)  # type: ignore[call-overload]
    finally:
        loop.set_task_factory(before)
    assert isinstance(task, asyncio.Task)
    await asyncio.wait([task])
    return task


async def test_a_cancel_landing_just_after_the_deadline_is_not_lost(
    slow: tuple[Slow, str], session: aiohttp.ClientSession, summary: list[str]
) -> None:
    """A worker loop that goes on after TwirpError stops when it is cancelled, even when
    the cancel comes in the same turn of the loop as the call's deadline."""
    state, url = slow
    state.delay = None  # silent
    svc = AgentDispatchService(session, url, API_KEY, API_SECRET, retry=RetryPolicy.none())
    lost = 0
    codes: set[TwirpErrorCode] = set()
    for _ in range(RUNS):
        rounds = 0

        async def worker() -> None:
            nonlocal rounds
            for _ in range(3):
                rounds += 1
                try:
                    await svc.list_dispatch("r", timeout=0.005)
                except TwirpError as e:
                    codes.add(e.code)
                    continue

        task = await run_in(CancelledAfterDeadline, worker())
        assert task.caller_cancelled  # type: ignore[attr-defined]
        if not task.cancelled():
            lost += 1
        else:
            assert rounds == 1
    summary.append(f"cancel just after the deadline: {RUNS} runs, {lost} lost cancels")
    assert lost == 0
    assert codes <= {TwirpErrorCode.DEADLINE_EXCEEDED}


async def test_a_cancel_at_any_moment_around_the_deadline_is_not_lost(
    slow: tuple[Slow, str], session: aiohttp.ClientSession
) -> None:
    """The same race without the stand-in task: the caller's cancel at offsets spread around
    the deadline; every call that a cancel reached ends cancelled, and a deadline alone never
    ends in CancelledError."""
    state, url = slow
    state.delay = None
    svc = AgentDispatchService(session, url, API_KEY, API_SECRET, retry=RetryPolicy.none())
    loop = asyncio.get_running_loop()
    lost = unrequested = 0
    for n in range(RUNS):
        task = asyncio.create_task(svc.list_dispatch("r", timeout=0.005))
        if n % 4 == 0:
            try:
                await task
            except TwirpError:
                pass
            except asyncio.CancelledError:
                unrequested += 1
            continue
        accepted: list[bool] = []

        def cancel(t: asyncio.Task[object] = task, a: list[bool] = accepted) -> None:
            a.append(t.cancel())

        loop.call_later(0.004 + (n % 20) * 0.0001, cancel)
        await asyncio.wait([task])
        await asyncio.sleep(0.002)  # the cancel comes after the task ended, if it did
        if accepted == [True] and not task.cancelled():
            lost += 1  # the cancel reached a task still running, and the task did not stop
    assert (lost, unrequested) == (0, 0)
