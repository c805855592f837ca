"""Many rooms at once: the bounds, pace, retries and per-room results of ``dispatch_many``.

The calls it makes are given to it (the service's ``ensure_dispatch`` and ``wait_for_job``,
its sleep and the event-loop clock), so it imports nothing of the service.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
from collections.abc import Awaitable, Callable, Iterable, Sequence

from .._checks import require_positive_int, require_seconds, require_text
from .._generated.livekit import AgentDispatch, CreateAgentDispatchRequest, Job
from ..errors import TwirpError, TwirpErrorCode, WaitOutcome
from ._pace import Pacer, require_rate

__all__ = [
    "DEFAULT_ATTEMPTS",
    "DEFAULT_CONCURRENCY",
    "JOB_OFFER_WINDOW",
    "MAX_ATTEMPTS",
    "BulkPlan",
    "DispatchOutcome",
    "DispatchResult",
    "dispatch_many",
]

DEFAULT_CONCURRENCY = 16
DEFAULT_ATTEMPTS = 2
MAX_ATTEMPTS = 10
# Seconds livekit-server v1.13.5 offers a dispatch's job to a worker before it gives up: a
# wait shorter than this that saw no job may see one yet, and is not followed by a retry.
JOB_OFFER_WINDOW = 10.0

# ensure(req, passed_over): the room's dispatch of req's agent, made if there is none; the
# dispatches whose ids are in passed_over (no agent came of them) do not count.
Ensure = Callable[[CreateAgentDispatchRequest, frozenset[str]], Awaitable[AgentDispatch]]
# wait_job(dispatch, seconds): its job once a worker runs it (wait_for_job).
WaitJob = Callable[[AgentDispatch, float], Awaitable[Job]]


class DispatchOutcome(str, enum.Enum):
    """How one room of ``dispatch_many`` ended (:attr:`DispatchResult.outcome`)."""

    DISPATCHED = "dispatched"
    """The room has its dispatch of the agent (made now, or there already); no wait was asked for."""
    RUNNING = "running"
    """A worker runs the dispatch's job: ``job`` is it."""
    AGENT_PRESENT = "agent_present"
    """The room store lists the agent in the room, which has no dispatch of it (its node went
    down, or a job came after its dispatch was given up): no second agent was sent."""
    NO_AGENT = "no_agent"
    """The dispatch was made, but every attempt's wait ended without the agent;
    ``error.wait_outcome`` says why the last one did."""
    UNKNOWN = "unknown"
    """The client could not tell: a create failed and may have been done all the same
    (``error.outcome_unknown``), or the wait failed without saying how the job stands (its
    polls got no answer, or were refused; ``error.wait_outcome`` is ``None``)."""
    FAILED = "failed"
    """The dispatch could not be made: ``error`` says why."""

    @property
    def ok(self) -> bool:
        """Whether the room has what was asked for: its dispatch, or its agent when waited for."""
        return self in _OK


_OK = frozenset({DispatchOutcome.DISPATCHED, DispatchOutcome.RUNNING, DispatchOutcome.AGENT_PRESENT})


@dataclasses.dataclass(frozen=True)
class DispatchResult:
    """What became of one request of ``dispatch_many``; the results are in the order of the requests."""

    request: CreateAgentDispatchRequest
    """The request, as given."""
    outcome: DispatchOutcome
    """How the room ended."""
    dispatch: AgentDispatch | None
    """The room's dispatch last made or found, or ``None`` when none was."""
    job: Job | None
    """The job that runs (``RUNNING``), or the job last seen of a wait that ended without it."""
    error: TwirpError | None
    """Why the room is not ``DISPATCHED`` or ``RUNNING`` (``None`` when it is)."""
    attempts: int
    """How many times the room was sent its agent (``ensure_dispatch`` calls): 1, more after retries."""
    started: float
    """When the room's first create started, in event-loop time (``loop.time()``)."""
    finished: float
    """When the room was done with, in event-loop time."""

    @property
    def ok(self) -> bool:
        """Whether the room has what was asked for (see :attr:`DispatchOutcome.ok`)."""
        return self.outcome.ok


@dataclasses.dataclass(frozen=True)
class BulkPlan:
    """The checked arguments of one ``dispatch_many`` call; ValueError for a bad one."""

    requests: Sequence[CreateAgentDispatchRequest]
    concurrency: int
    rate: float | None
    wait: float | None
    attempts: int

    @classmethod
    def check(
        cls,
        reqs: Iterable[CreateAgentDispatchRequest],
        concurrency: int,
        rate: float | None,
        wait: float | None,
        attempts: int,
    ) -> BulkPlan:
        """The plan, once every argument and request is found good; nothing is sent before."""
        if isinstance(reqs, (str, bytes, CreateAgentDispatchRequest)) or not isinstance(reqs, Iterable):
            raise ValueError(
                f"reqs must be an iterable of CreateAgentDispatchRequest, got {type(reqs).__name__}"
            )
        requests = list(reqs)
        seen: dict[tuple[str, str, str], int] = {}
        for i, req in enumerate(requests):
            if not isinstance(req, CreateAgentDispatchRequest):
                raise ValueError(f"reqs[{i}] must be a CreateAgentDispatchRequest, got {type(req).__name__}")
            require_text(f"reqs[{i}].room", req.room)
            key = (req.room, req.agent_name, req.deployment)
            if key in seen:
                raise ValueError(
                    f"reqs[{seen[key]}] and reqs[{i}] both ask for agent {req.agent_name!r} "
                    f"(deployment {req.deployment!r}) in room {req.room!r}: give each room and agent once"
                )
            seen[key] = i
        if isinstance(attempts, int) and not isinstance(attempts, bool) and attempts > MAX_ATTEMPTS:
            raise ValueError(f"attempts must be from 1 to {MAX_ATTEMPTS}, got {attempts!r}")
        return cls(
            requests,
            require_positive_int("concurrency", concurrency),
            require_rate(rate),
            None if wait is None else require_seconds("wait", wait),
            require_positive_int("attempts", attempts),
        )


def _retried(e: TwirpError, wait: float) -> bool:
    """Whether the room is sent its agent again after the wait: only when no agent is coming
    of the dispatch it ended on (``NO_JOB``, ``JOB_FAILED``, ``DISPATCH_LOST``).

    A job that had an agent before it failed is not retried (its restart policy may start it
    again), nor a wait with no job shorter than the server's offer window.
    """
    if e.wait_outcome is WaitOutcome.NO_JOB:
        return wait >= JOB_OFFER_WINDOW
    if e.wait_outcome is WaitOutcome.JOB_FAILED:
        return e.job is None or e.job.state is None or not e.job.state.participant_identity
    return e.wait_outcome is WaitOutcome.DISPATCH_LOST


def _failed(e: TwirpError) -> DispatchOutcome:
    if e.code is TwirpErrorCode.ALREADY_EXISTS and "participant_identity" in e.meta:
        return DispatchOutcome.AGENT_PRESENT  # ensure_dispatch found the agent in the room store
    return DispatchOutcome.UNKNOWN if e.outcome_unknown else DispatchOutcome.FAILED


async def _room(
    req: CreateAgentDispatchRequest,
    plan: BulkPlan,
    ensure: Ensure,
    wait_job: WaitJob,
    pacer: Pacer | None,
    clock: Callable[[], float],
    started: float,
) -> DispatchResult:
    """One room: its dispatch, and its job when waited for, tried again while no agent came."""
    attempts = 0
    dispatch: AgentDispatch | None = None
    job: Job | None = None
    passed_over: set[str] = set()  # dispatches of this room no agent came of

    def result(outcome: DispatchOutcome, error: TwirpError | None = None) -> DispatchResult:
        return DispatchResult(req, outcome, dispatch, job, error, attempts, started, clock())

    while True:
        if attempts and pacer is not None:
            await pacer.wait()  # a retry is a create too: it keeps to the pace
        attempts += 1
        try:
            dispatch = await ensure(req, frozenset(passed_over))
        except TwirpError as e:
            return result(_failed(e), e)
        if plan.wait is None:
            return result(DispatchOutcome.DISPATCHED)
        try:
            job = await wait_job(dispatch, plan.wait)
        except TwirpError as e:
            job = e.job
            if e.wait_outcome is None:
                return result(DispatchOutcome.UNKNOWN, e)
            if attempts >= plan.attempts or not _retried(e, plan.wait):
                return result(DispatchOutcome.NO_AGENT, e)
            passed_over.add(dispatch.id)
            continue
        return result(DispatchOutcome.RUNNING)


async def dispatch_many(
    plan: BulkPlan,
    ensure: Ensure,
    wait_job: WaitJob,
    *,
    sleep: Callable[[float], Awaitable[None]],
    clock: Callable[[], float],
    on_result: Callable[[DispatchResult], None] | None = None,
) -> list[DispatchResult]:
    """Every request of ``plan``, ``plan.concurrency`` rooms at a time, started at ``plan.rate``
    per second in the order given; the results in that order.

    A room's failure is in its result and stops nothing else. Cancelling stops the starts, and
    cancels the rooms under way (a create already sent finishes in the background, as
    ``ensure_dispatch``'s do); anything else raised (by ``on_result``, say) does the same
    and is raised.
    """
    pacer = None if plan.rate is None else Pacer(plan.rate, clock=clock, sleep=sleep)
    slots = asyncio.Semaphore(plan.concurrency)
    results: list[DispatchResult | None] = [None] * len(plan.requests)

    async def one(i: int, req: CreateAgentDispatchRequest, started: float) -> None:
        try:
            results[i] = done = await _room(req, plan, ensure, wait_job, pacer, clock, started)
        finally:
            slots.release()
        if on_result is not None:
            on_result(done)

    try:
        async with asyncio.TaskGroup() as group:
            for i, req in enumerate(plan.requests):
                await slots.acquire()
                if pacer is not None:
                    await pacer.wait()
                group.create_task(one(i, req, clock()))
    except BaseExceptionGroup as raised:  # noqa: F821 (Python 3.11, as asyncio.TaskGroup)
        raise raised.exceptions[0] from None  # what a room raised that is not its result
    return [r for r in results if r is not None]
