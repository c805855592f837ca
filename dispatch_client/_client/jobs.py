"""Waiting for a dispatch's job: polls with capped, jittered backoff within one deadline.

A dispatch is only a promise: the agent comes when a worker registered under its agent name
takes the job. The outcomes other than the job are raised as TwirpError with ``wait_outcome``
set (and ``job``, the job last seen); a poll that fails for a passing reason is tried again
and never counts as "no agent".
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from .._checks import require_seconds, require_text
from .._generated.livekit import AgentDispatch, Job, JobStatus, Room
from .._transport.retry import should_retry
from ..errors import TwirpError, TwirpErrorCode, WaitOutcome
from .job_facts import described
from .room_state import RoomReads, Store

__all__ = ["DEFAULT_GRACE", "POLL_FIRST", "POLL_MAX", "wait_for_job"]

POLL_FIRST = 0.1  # seconds (before jitter) to the second poll; each wait doubles, up to POLL_MAX
POLL_MAX = 1.0
# Seconds a room that stopped answering is waited for once its dispatch was seen: in a cluster
# whose node went down, a room with an agent in it comes back 7-13 s later.
DEFAULT_GRACE = 20.0
# How far along a job is; FAILED and CANCELLED end it without the work being done.
_RANK = {
    JobStatus.JS_PENDING: 0,
    JobStatus.JS_RUNNING: 1,
    JobStatus.JS_SUCCESS: 2,
    JobStatus.JS_FAILED: 2,
    JobStatus.JS_CANCELLED: 2,
}
_FAILED = frozenset({JobStatus.JS_FAILED, JobStatus.JS_CANCELLED})

Get = Callable[..., Awaitable[AgentDispatch | None]]
List = Callable[..., Awaitable[list[AgentDispatch]]]


def _status(job: Job) -> JobStatus:
    return job.state.status if job.state is not None else JobStatus.JS_PENDING


def _has_agent(job: Job) -> bool:
    return job.state is not None and job.state.participant_identity != ""


def _reached(job: Job, until: JobStatus) -> bool:
    """Whether the job is at ``until`` or past it, having had an agent if it is past pending."""
    status = _status(job)
    if status == until and (until == JobStatus.JS_PENDING or until in _FAILED or _has_agent(job)):
        return True
    if status in _FAILED or not _has_agent(job):
        return False
    return _RANK.get(status, 0) >= _RANK.get(until, 0)


def _over_without_agent(job: Job) -> str | None:
    """Why the job ended without doing its work, or None while it has not.

    livekit-server v1.13.5 shows a job a worker turned down as ``JS_SUCCESS`` with no
    participant: it ended, and no agent ever joined.
    """
    status, state = _status(job), job.state
    if status in _FAILED:
        error = state.error if state is not None and state.error else "no error text"
        return f"ended as {status.name}: {error}"
    if status == JobStatus.JS_SUCCESS and not _has_agent(job):
        return "ended without an agent: the worker turned it down"
    return None


def _ended(
    outcome: WaitOutcome, code: TwirpErrorCode, message: str, job: Job | None, cause: TwirpError | None = None
) -> TwirpError:
    err = TwirpError(
        code, message, status=cause.status if cause else None, meta=cause.meta if cause else None
    )
    err.wait_outcome = outcome
    err.job = job
    return err


async def _gone(
    list_dispatch: List, seen: AgentDispatch, deadline: float, last_job: Job | None
) -> TwirpError:
    """What a dispatch that was seen and is no longer in its room became: deleted, or lost.

    A room that moved to another node (its own went down) starts again with a new default
    dispatch (``agent_name ""``) and none of its API dispatches; a delete leaves the room as
    it was. A room that cannot be listed now is taken as not restarted.
    """
    dispatch_id, room = seen.id, seen.room
    created = seen.state.created_at if seen.state is not None else 0
    try:
        left = deadline - asyncio.get_running_loop().time()
        now = await list_dispatch(room, timeout=left) if left > 0 else []
    except (TwirpError, ValueError):
        now = []
    restarted = any(d.agent_name == "" and d.state is not None and d.state.created_at > created for d in now)
    if restarted:
        return _ended(
            WaitOutcome.DISPATCH_LOST,
            TwirpErrorCode.NOT_FOUND,
            f"dispatch {dispatch_id} was lost: room {room!r} started again (its node went down) "
            "without its API dispatches",
            last_job,
        )
    return _ended(
        WaitOutcome.DISPATCH_DELETED,
        TwirpErrorCode.NOT_FOUND,
        f"dispatch {dispatch_id} is no longer in room {room!r}",
        last_job,
    )


async def wait_for_job(
    get: Get,
    list_dispatch: List,
    dispatch_id: str,
    room: str,
    until: JobStatus,
    timeout: float,
    *,
    rooms: RoomReads,
    grace: float,
    sleep: Callable[[float], Awaitable[None]],
    rand: Callable[[], float],
    running: Callable[[AgentDispatch, Job], None] | None = None,
) -> Job:
    """The first job of the dispatch that reached ``until`` (or a later state), polling ``get``.

    Once the dispatch has been seen, a room that stops answering is waited for up to
    ``grace`` seconds if the room store still has it (its node may have gone down, and the
    room comes back elsewhere); a room the store does not have closed, and ends the wait.
    """
    require_text("dispatch_id", dispatch_id)
    require_text("room_name", room)
    if not isinstance(until, JobStatus):
        raise ValueError(f"until must be a JobStatus, got {until!r}")
    timeout = require_seconds("timeout", timeout)
    if not (grace == 0 and isinstance(grace, (int, float)) and not isinstance(grace, bool)):
        grace = require_seconds("grace", grace)  # 0: a room that stops answering ends the wait
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last_job: Job | None = None
    seen_dispatch: AgentDispatch | None = None
    away_since: float | None = None  # when the room stopped answering, after the dispatch was seen
    stored: Room | Store | None = None  # what the room store said of it then (read once)
    seen = False  # whether any poll has answered
    failure: TwirpError | None = None  # the last poll's passing failure, while it is the latest news
    backoff = POLL_FIRST
    slowest = 0.0  # seconds the slowest poll that ended before the deadline took
    while True:
        polled = loop.time()
        remaining = deadline - polled
        # A poll with less time left than one takes would bring no news.
        if remaining <= 0 or (seen and remaining < slowest):
            break
        try:
            try:
                dispatch = await get(dispatch_id, room, timeout=remaining)
            finally:
                if loop.time() < deadline:
                    slowest = max(slowest, loop.time() - polled)
        except TwirpError as e:
            if e.room_not_running:
                away_since = loop.time() if away_since is None else away_since
                if seen_dispatch is not None and stored is None and grace > 0:
                    stored = await rooms.room(room, max(deadline - loop.time(), 0.001))
                if seen_dispatch is None or stored is Store.ABSENT or loop.time() - away_since >= grace:
                    e.wait_outcome = WaitOutcome.ROOM_NOT_RUNNING
                    e.job = last_job
                    raise
                # Its node may be down: the room comes back on another.
            elif e.code is TwirpErrorCode.DEADLINE_EXCEEDED and e.status is None:
                # The wait's own deadline ran out during the poll. Given the time an answer
                # takes, that is no news, and what the polls before it showed (or their last
                # failure) is the outcome; given much more, the server has stopped answering.
                if not seen or loop.time() - polled >= 2 * slowest:
                    failure = e
                break
            elif not (
                e.code is TwirpErrorCode.DEADLINE_EXCEEDED or should_retry(e, read_only=True, repeatable=True)
            ):
                raise
            failure = e
        except ValueError as e:  # a pre-signed token that expired during the wait
            if not seen and failure is None:
                raise
            raise TwirpError(TwirpErrorCode.UNAUTHENTICATED, f"wait_for_job: {e}") from None
        else:
            failure, seen, away_since, stored = None, True, None, None
            if dispatch is None:
                if seen_dispatch is not None:
                    raise await _gone(list_dispatch, seen_dispatch, deadline, last_job)
                raise _ended(
                    WaitOutcome.DISPATCH_DELETED,
                    TwirpErrorCode.NOT_FOUND,
                    f"dispatch {dispatch_id} is no longer in room {room!r}",
                    last_job,
                )
            seen_dispatch = dispatch
            jobs = dispatch.state.jobs if dispatch.state is not None else []
            for job in jobs:
                if _reached(job, until):
                    if running is not None:
                        running(dispatch, job)  # for the telemetry's dispatch latency
                    return job
            if jobs:
                last_job = jobs[-1]
                why = _over_without_agent(last_job)
                if why is not None and all(_over_without_agent(j) for j in jobs):
                    raise _ended(
                        WaitOutcome.JOB_FAILED,
                        TwirpErrorCode.ABORTED,
                        f"job {last_job.id} of dispatch {dispatch_id} {why}{described(last_job)}",
                        last_job,
                    )
        # Half the backoff plus a random part of the other half: polls of many waits spread out.
        wait = min(backoff * (0.5 + rand() / 2), deadline - loop.time())
        backoff = min(POLL_MAX, backoff * 2)
        if wait > 0:
            await sleep(wait)
    if failure is not None or not seen:
        # The polls did not get through: that is not "no agent".
        if failure is not None:
            raise failure
        raise TwirpError(
            TwirpErrorCode.DEADLINE_EXCEEDED, f"no answer about dispatch {dispatch_id} in {timeout:g} s"
        )
    if last_job is None:
        raise _ended(
            WaitOutcome.NO_JOB,
            TwirpErrorCode.DEADLINE_EXCEEDED,
            f"no job for dispatch {dispatch_id} within {timeout:g} s: no worker took it",
            None,
        )
    raise _ended(
        WaitOutcome.JOB_PENDING,
        TwirpErrorCode.DEADLINE_EXCEEDED,
        f"job {last_job.id} of dispatch {dispatch_id} still {_status(last_job).name} after {timeout:g} s"
        f"{described(last_job)}",
        last_job,
    )
