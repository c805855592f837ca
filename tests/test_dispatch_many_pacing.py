"""dispatch_many's machinery on calls made here: the pace on a clock of the test's, the bound
on rooms under way, the retry rules, cancellation and ``on_result``."""

from __future__ import annotations

import asyncio
import functools
import itertools

import pytest
from bulk_helpers import wait_until

from dispatch_client import AgentDispatch, CreateAgentDispatchRequest, Job, JobState, JobStatus, TwirpError
from dispatch_client.errors import TwirpErrorCode, WaitOutcome
from dispatch_client.fleet import JOB_OFFER_WINDOW, DispatchOutcome, DispatchResult
from dispatch_client.fleet._bulk import BulkPlan, dispatch_many
from dispatch_client.fleet._pace import Pacer


def reqs(n: int, agent: str = "a") -> list[CreateAgentDispatchRequest]:
    return [CreateAgentDispatchRequest(agent_name=agent, room=f"room-{i}") for i in range(n)]


def plan(n: int, *, concurrency: int = 16, rate: float | None = None, wait: float | None = None,
         attempts: int = 2) -> BulkPlan:  # fmt: skip
    return BulkPlan.check(reqs(n), concurrency, rate, wait, attempts)


class VirtualTime:
    """A clock that only moves when the one sleeper (the pacer) sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        await asyncio.sleep(0)  # what was started before the sleep runs first, at the time it started
        self.now += seconds


class Calls:
    """An ensure_dispatch that answers at once and records when each call came."""

    def __init__(self, time: VirtualTime | None = None) -> None:
        self.time = time
        self.started: list[tuple[str, float]] = []
        self.passed_over: list[frozenset[str]] = []
        self.ids = itertools.count()

    async def ensure(self, req: CreateAgentDispatchRequest, passed_over: frozenset[str]) -> AgentDispatch:
        self.started.append((req.room, self.time.now if self.time else 0.0))
        self.passed_over.append(passed_over)
        return AgentDispatch(id=f"AD_{next(self.ids)}", agent_name=req.agent_name, room=req.room)


async def no_wait(dispatch: AgentDispatch, seconds: float) -> Job:
    raise AssertionError("no wait was asked for")


def ended(outcome: WaitOutcome, job: Job | None = None) -> TwirpError:
    e = TwirpError(TwirpErrorCode.DEADLINE_EXCEEDED, f"ended: {outcome.value}")
    e.wait_outcome, e.job = outcome, job
    return e


async def test_starts_keep_to_the_rate_on_the_injected_clock() -> None:
    time = VirtualTime()
    calls = Calls(time)
    results = await dispatch_many(plan(6, rate=10), calls.ensure, no_wait, sleep=time.sleep, clock=time.clock)
    assert [room for room, _ in calls.started] == [f"room-{i}" for i in range(6)]
    assert [at for _, at in calls.started] == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4, 0.5])
    assert time.sleeps == pytest.approx([0.1] * 5)
    assert [r.started for r in results] == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4, 0.5])
    assert {r.outcome for r in results} == {DispatchOutcome.DISPATCHED}


async def test_without_a_rate_nothing_sleeps() -> None:
    time = VirtualTime()
    results = await dispatch_many(plan(50), Calls(time).ensure, no_wait, sleep=time.sleep, clock=time.clock)
    assert time.sleeps == []
    assert len(results) == 50


def test_the_pacer_makes_up_a_late_wake_and_starts_again_after_a_stall() -> None:
    now = [0.0]

    async def never(seconds: float) -> None:
        raise AssertionError

    pacer = Pacer(10, clock=lambda: now[0], sleep=never)
    assert pacer.reserve() == 0.0
    now[0] = 0.13  # woke 30 ms after its slot (0.1): starts now, and the next slot stays at 0.2
    assert pacer.reserve() == pytest.approx(0.13)
    assert pacer.reserve() == pytest.approx(0.2)
    now[0] = 1.0  # nobody came for 0.8 s: one start now and one more at once, then the pace again
    assert pacer.reserve() == 1.0
    assert pacer.reserve() == 1.0
    assert pacer.reserve() == pytest.approx(1.1)


@pytest.mark.parametrize("rate", [0, -1.0, float("nan"), float("inf"), True, "5"])
def test_a_bad_rate_is_a_value_error(rate: object) -> None:
    with pytest.raises(ValueError, match="rate must be None or a positive number"):
        BulkPlan.check(reqs(1), 1, rate, None, 1)  # type: ignore[arg-type]


async def test_no_more_rooms_are_under_way_than_the_concurrency() -> None:
    gates: dict[str, asyncio.Event] = {}
    in_flight: set[str] = set()
    most = 0

    async def ensure(req: CreateAgentDispatchRequest, passed_over: frozenset[str]) -> AgentDispatch:
        nonlocal most
        in_flight.add(req.room)
        most = max(most, len(in_flight))
        gates[req.room] = asyncio.Event()
        await gates[req.room].wait()
        in_flight.discard(req.room)
        return AgentDispatch(id="AD_" + req.room, room=req.room)

    task = asyncio.create_task(
        dispatch_many(plan(10, concurrency=3), ensure, no_wait, sleep=asyncio.sleep, clock=lambda: 0.0)
    )

    def held(room: str, count: int) -> bool:
        return room in gates and len(in_flight) == count

    for i in range(10):  # each room let through once every slot is taken (or every room left)
        await wait_until(functools.partial(held, f"room-{i}", min(3, 10 - i)))
        gates[f"room-{i}"].set()
    results = await task
    assert most == 3
    assert [r.dispatch.id for r in results if r.dispatch] == [f"AD_room-{i}" for i in range(10)]


def job(identity: str = "") -> Job:
    return Job(id="AJ_1", state=JobState(status=JobStatus.JS_RUNNING, participant_identity=identity))


@pytest.mark.parametrize(
    ("first", "wait", "retried"),
    [
        (ended(WaitOutcome.NO_JOB), JOB_OFFER_WINDOW, True),
        (ended(WaitOutcome.NO_JOB), JOB_OFFER_WINDOW - 1, False),  # a job may still come of it
        (ended(WaitOutcome.JOB_FAILED, job()), 5.0, True),  # turned down: it never had an agent
        (ended(WaitOutcome.JOB_FAILED, job("agent-AJ_1")), 5.0, False),  # it may be restarted
        (ended(WaitOutcome.DISPATCH_LOST), 5.0, True),
        (ended(WaitOutcome.JOB_PENDING, job()), 5.0, False),
        (ended(WaitOutcome.DISPATCH_DELETED), 5.0, False),
        (ended(WaitOutcome.ROOM_NOT_RUNNING), 5.0, False),
    ],
)
async def test_which_endings_of_a_wait_are_retried(first: TwirpError, wait: float, retried: bool) -> None:
    calls = Calls()
    waits: list[str] = []

    async def wait_job(dispatch: AgentDispatch, seconds: float) -> Job:
        assert seconds == wait
        waits.append(dispatch.id)
        if len(waits) == 1:
            raise first
        return job("agent-AJ_2")

    [result] = await dispatch_many(
        plan(1, wait=wait, attempts=2), calls.ensure, wait_job, sleep=asyncio.sleep, clock=lambda: 0.0
    )
    if retried:
        assert result.outcome is DispatchOutcome.RUNNING
        assert (result.attempts, waits, calls.passed_over) == (2, ["AD_0", "AD_1"], [frozenset(), {"AD_0"}])
        assert result.dispatch is not None
        assert result.dispatch.id == "AD_1"
        assert result.error is None
    else:
        assert result.outcome is DispatchOutcome.NO_AGENT
        assert (result.attempts, waits) == (1, ["AD_0"])
        assert result.error is first
        assert result.job is first.job


async def test_attempts_bound_the_dispatches_of_a_room() -> None:
    calls = Calls()

    async def wait_job(dispatch: AgentDispatch, seconds: float) -> Job:
        raise ended(WaitOutcome.DISPATCH_LOST)

    [result] = await dispatch_many(
        plan(1, wait=1, attempts=3), calls.ensure, wait_job, sleep=asyncio.sleep, clock=lambda: 0.0
    )
    assert (result.outcome, result.attempts) == (DispatchOutcome.NO_AGENT, 3)
    assert calls.passed_over == [frozenset(), {"AD_0"}, {"AD_0", "AD_1"}]
    assert result.error is not None
    assert result.error.wait_outcome is WaitOutcome.DISPATCH_LOST


async def test_a_failed_create_is_the_rooms_result_and_the_others_go_on() -> None:
    agent_there = TwirpError(TwirpErrorCode.ALREADY_EXISTS, "agent there", meta={"participant_identity": "x"})
    failures = {
        "room-1": TwirpError(TwirpErrorCode.INVALID_ARGUMENT, "bad"),
        "room-2": TwirpError(TwirpErrorCode.UNAVAILABLE, "lost", outcome_unknown=True),
        "room-3": agent_there,
    }
    calls = Calls()

    async def ensure(req: CreateAgentDispatchRequest, passed_over: frozenset[str]) -> AgentDispatch:
        if req.room in failures:
            raise failures[req.room]
        return await calls.ensure(req, passed_over)

    seen: list[DispatchResult] = []
    results = await dispatch_many(
        plan(5), ensure, no_wait, sleep=asyncio.sleep, clock=lambda: 0.0, on_result=seen.append
    )
    assert [r.outcome for r in results] == [
        DispatchOutcome.DISPATCHED,
        DispatchOutcome.FAILED,
        DispatchOutcome.UNKNOWN,
        DispatchOutcome.AGENT_PRESENT,
        DispatchOutcome.DISPATCHED,
    ]
    assert [r.ok for r in results] == [True, False, False, True, True]
    assert [r.error for r in results[1:4]] == list(failures.values())
    assert sorted(r.request.room for r in seen) == [f"room-{i}" for i in range(5)]


async def test_what_on_result_raises_is_raised_as_it_is() -> None:
    class Stop(Exception):
        pass

    def on_result(result: DispatchResult) -> None:
        raise Stop(result.request.room)

    with pytest.raises(Stop):
        await dispatch_many(
            plan(3, concurrency=1), Calls().ensure, no_wait, sleep=asyncio.sleep, clock=lambda: 0.0,
            on_result=on_result,
        )  # fmt: skip


async def test_cancelling_cancels_the_rooms_under_way_and_starts_no_more() -> None:
    started: list[str] = []
    cancelled: list[str] = []

    async def ensure(req: CreateAgentDispatchRequest, passed_over: frozenset[str]) -> AgentDispatch:
        started.append(req.room)
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(req.room)
            raise
        raise AssertionError

    task = asyncio.create_task(
        dispatch_many(plan(20, concurrency=4), ensure, no_wait, sleep=asyncio.sleep, clock=lambda: 0.0)
    )
    await wait_until(lambda: len(started) == 4)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sorted(cancelled) == sorted(started) == [f"room-{i}" for i in range(4)]


async def test_a_retry_keeps_to_the_pace() -> None:
    time = VirtualTime()
    calls = Calls(time)
    waits = 0

    async def wait_job(dispatch: AgentDispatch, seconds: float) -> Job:
        nonlocal waits
        waits += 1
        if waits == 1:
            raise ended(WaitOutcome.NO_JOB)
        return job("agent-AJ_2")

    one_at_a_time = plan(2, concurrency=1, rate=10, wait=JOB_OFFER_WINDOW)
    results = await dispatch_many(one_at_a_time, calls.ensure, wait_job, sleep=time.sleep, clock=time.clock)
    assert calls.started == [("room-0", 0.0), ("room-0", pytest.approx(0.1)), ("room-1", pytest.approx(0.2))]
    assert [(r.outcome, r.attempts) for r in results] == [
        (DispatchOutcome.RUNNING, 2),
        (DispatchOutcome.RUNNING, 1),
    ]
