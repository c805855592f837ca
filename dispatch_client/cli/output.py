"""What the command line prints: readable tables, or proto3 JSON for scripts."""

from __future__ import annotations

import datetime
from collections.abc import Sequence

import betterproto2

from .. import codec as _codec
from .._client.job_facts import job_facts
from .._generated.livekit import AgentDispatch, Job, JobRestartPolicy

__all__ = [
    "RESTART_POLICIES",
    "details",
    "format_time",
    "job_details",
    "json_text",
    "restart_policy_name",
    "table",
]

RESTART_POLICIES = {"on-failure": JobRestartPolicy.JRP_ON_FAILURE, "never": JobRestartPolicy.JRP_NEVER}
_POLICY_NAMES = {policy: name for name, policy in RESTART_POLICIES.items()}
_MAX_CELL = 40


def json_text(msg: betterproto2.Message) -> str:
    """``msg`` as livekit-server writes it: proto3 JSON with every field."""
    return _codec.encode(msg, emit_unpopulated=True).decode()


def restart_policy_name(policy: JobRestartPolicy) -> str:
    return _POLICY_NAMES.get(policy, str(int(policy)))


def format_time(unix_ns: int) -> str:
    if not unix_ns:
        return "-"
    moment = datetime.datetime.fromtimestamp(unix_ns / 1e9, tz=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _printable(text: str) -> str:
    """One line of text: control characters shown as escapes."""
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def _cell(text: str) -> str:
    text = _printable(text)
    return text if len(text) <= _MAX_CELL else text[: _MAX_CELL - 1] + "…"


def _attributes(dispatch: AgentDispatch) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(dispatch.attributes.items()))


def details(dispatch: AgentDispatch) -> str:
    """One dispatch, a field per line."""
    state = dispatch.state
    rows = [
        ("id", dispatch.id),
        ("agent", _printable(dispatch.agent_name) or "-"),
        ("room", dispatch.room),
        ("deployment", dispatch.deployment or "-"),
        ("restart policy", restart_policy_name(dispatch.restart_policy)),
        ("metadata", _printable(dispatch.metadata) or "-"),
        ("attributes", _printable(_attributes(dispatch)) or "-"),
        ("created", format_time(state.created_at if state else 0)),
        ("deleted", format_time(state.deleted_at if state else 0)),
        ("jobs", str(len(state.jobs) if state else 0)),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def job_details(job: Job) -> str:
    """One job of a dispatch, a field per line."""
    state = job.state
    rows = [
        ("job", job.id),
        (
            "status",
            state.status.name if state and state.status.name else str(int(state.status)) if state else "-",
        ),
        ("type", job.type.name or str(int(job.type))),
        ("worker", (state.worker_id if state else "") or "-"),
        ("participant", _printable(state.participant_identity if state else "") or "-"),
        ("started", format_time(state.started_at if state else 0)),
        ("error", _printable(state.error if state else "") or "-"),
        *job_facts(job),  # what a newer server also sends: reason, attempts, their times
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def table(dispatches: Sequence[AgentDispatch]) -> str:
    """Dispatches, one per row, under a header."""
    if not dispatches:
        return "(no dispatches)"
    header = ("ID", "AGENT", "DEPLOYMENT", "RESTART", "CREATED", "JOBS", "METADATA")
    rows = [header]
    for d in dispatches:
        rows.append(
            (
                d.id,
                _cell(d.agent_name) or "-",
                _cell(d.deployment) or "-",
                restart_policy_name(d.restart_policy),
                format_time(d.state.created_at if d.state else 0),
                str(len(d.state.jobs) if d.state else 0),
                _cell(d.metadata) or "-",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows)
    return "\n".join(line.rstrip() for line in lines)
