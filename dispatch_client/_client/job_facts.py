"""What a newer server tells of a job beyond its status: the reason, the attempts and their times.

livekit/protocol v1.54.1 added ``Job.created_at`` and ``JobState``'s ``accepted_at``,
``assigned_at``, ``attempts``, ``first_started_at``, ``agent_failed_attempts_ns`` and
``workers_asked``; ``JobState.reason`` came a little earlier. A server that sends none of them
leaves them at zero, and nothing is said of them then.
"""

from __future__ import annotations

import datetime

from .._generated.livekit import Job, JobStateReason

__all__ = ["described", "job_facts", "utc"]


def utc(unix_ns: int) -> str:
    """Unix nanoseconds as a UTC time to the millisecond."""
    moment = datetime.datetime.fromtimestamp(unix_ns // 10**6 / 1e3, tz=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"


def job_facts(job: Job) -> list[tuple[str, str]]:
    """(name, value) of each fact the server sent about ``job``, in the order a job lives them."""
    facts: list[tuple[str, str]] = []
    state = job.state
    if state is not None and state.reason != JobStateReason.JSR_UNSPECIFIED:
        facts.append(("reason", state.reason.name or str(int(state.reason))))
    if job.created_at:
        facts.append(("created", utc(job.created_at)))
    if state is None:
        return facts
    if state.attempts:
        facts.append(("attempts", str(state.attempts)))
    if state.workers_asked:
        facts.append(("workers asked", str(state.workers_asked)))
    for name, ns in (
        ("assigned", state.assigned_at),
        ("accepted", state.accepted_at),
        ("first started", state.first_started_at),
    ):
        if ns:
            facts.append((name, utc(ns)))
    if state.agent_failed_attempts_ns:
        facts.append(("failed attempts took", f"{state.agent_failed_attempts_ns / 1e9:.3f} s"))
    return facts


def described(job: Job) -> str:
    """The facts as a parenthesis to put after a sentence about the job, or "" when there are none."""
    facts = job_facts(job)
    return f" ({', '.join(f'{name} {value}' for name, value in facts)})" if facts else ""
