"""The one error type a call raises (how HTTP answers become it: ``_transport.responses``)."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

from ._generated.livekit import Job

__all__ = ["TwirpError", "TwirpErrorCode", "WaitOutcome"]


class TwirpErrorCode(str, enum.Enum):
    """Twirp v7 error codes; each value is the string used on the wire."""

    CANCELED = "canceled"
    """The call was cancelled; livekit-server answers so when the caller's deadline ends first."""
    UNKNOWN = "unknown"
    """An error the server did not classify; also any unmapped non-Twirp answer."""
    INVALID_ARGUMENT = "invalid_argument"
    """The request was refused for a bad value (a deployment, metadata or attributes too big)."""
    MALFORMED = "malformed"
    """The server could not decode the request body."""
    DEADLINE_EXCEEDED = "deadline_exceeded"
    """The call's deadline ran out (``status`` is ``None`` when no answer came)."""
    NOT_FOUND = "not_found"
    """No such dispatch (a delete of an unknown id)."""
    BAD_ROUTE = "bad_route"
    """No such method at that URL; a 404 from something that is not a Twirp server."""
    ALREADY_EXISTS = "already_exists"
    """What was to be made exists already."""
    PERMISSION_DENIED = "permission_denied"
    """The credentials may not do this; a 403 from something that is not a Twirp server."""
    UNAUTHENTICATED = "unauthenticated"
    """The token was not accepted (a wrong key or secret, an expired token, a missing grant)."""
    RESOURCE_EXHAUSTED = "resource_exhausted"
    """Too many requests (a 429); retried, honouring ``Retry-After``."""
    FAILED_PRECONDITION = "failed_precondition"
    """The client cannot make the call: closed, its session another loop's, or it would block a loop."""
    ABORTED = "aborted"
    """The work was abandoned; what ``wait_for_job`` raises when the job failed (``JOB_FAILED``)."""
    OUT_OF_RANGE = "out_of_range"
    """A value outside its range."""
    UNIMPLEMENTED = "unimplemented"
    """The server does not implement the method."""
    INTERNAL = "internal"
    """The server failed, or its answer could not be used (too big, not the expected message, a redirect)."""
    UNAVAILABLE = "unavailable"
    """No usable answer: a connection or TLS failure, a 502/503/504, or a room that is not running."""
    DATALOSS = "dataloss"
    """Unrecoverable data loss."""

    def __str__(self) -> str:
        return self.value

    @property
    def http_status(self) -> int:
        """The HTTP status a Twirp server answers with for this code."""
        return _HTTP_STATUS[self]


_HTTP_STATUS: dict[TwirpErrorCode, int] = {
    TwirpErrorCode.CANCELED: 408,
    TwirpErrorCode.UNKNOWN: 500,
    TwirpErrorCode.INVALID_ARGUMENT: 400,
    TwirpErrorCode.MALFORMED: 400,
    TwirpErrorCode.DEADLINE_EXCEEDED: 408,
    TwirpErrorCode.NOT_FOUND: 404,
    TwirpErrorCode.BAD_ROUTE: 404,
    TwirpErrorCode.ALREADY_EXISTS: 409,
    TwirpErrorCode.PERMISSION_DENIED: 403,
    TwirpErrorCode.UNAUTHENTICATED: 401,
    TwirpErrorCode.RESOURCE_EXHAUSTED: 429,
    TwirpErrorCode.FAILED_PRECONDITION: 412,
    TwirpErrorCode.ABORTED: 409,
    TwirpErrorCode.OUT_OF_RANGE: 400,
    TwirpErrorCode.UNIMPLEMENTED: 501,
    TwirpErrorCode.INTERNAL: 500,
    TwirpErrorCode.UNAVAILABLE: 503,
    TwirpErrorCode.DATALOSS: 500,
}

_BY_WIRE = {code.value: code for code in TwirpErrorCode}


class WaitOutcome(str, enum.Enum):
    """Why ``wait_for_job`` ended without the job it waited for (``TwirpError.wait_outcome``)."""

    NO_JOB = "no_job"
    """The deadline passed and the dispatch had no job: no worker took it (``deadline_exceeded``)."""
    JOB_PENDING = "job_pending"
    """The deadline passed with a job that had not reached the state waited for (``deadline_exceeded``)."""
    JOB_FAILED = "job_failed"
    """The job failed, was cancelled or turned down (``aborted``); ``job.state.error`` says why."""
    DISPATCH_DELETED = "dispatch_deleted"
    """The room no longer has the dispatch, and has not started again since (``not_found``)."""
    DISPATCH_LOST = "dispatch_lost"
    """The dispatch vanished without a delete: its room started again on another node (its own
    went down), which keeps the room's agents but none of its API dispatches (``not_found``).
    The agent it sent may still be in the room."""
    ROOM_NOT_RUNNING = "room_not_running"
    """The room closed or never ran, or (in a cluster) no node answered for it through the
    wait's grace (``unavailable``, with ``room_not_running`` set)."""


class TwirpError(Exception):
    """A call failed: the server said so, something between us said so, or no answer came.

    ``status`` is the HTTP status of the response, or ``None`` when none arrived
    (connection failure, timeout). ``meta`` carries the server's string metadata; for
    errors made from a non-Twirp response it holds ``http_error_from_intermediary``,
    ``status_code``, ``body`` and, for redirects, ``location``. ``outcome_unknown`` is true
    when the server may have done the call's work although the call failed: a create or
    delete whose answer was lost, and that the call could not check (see docs/retries.md).
    Repeating such a call blindly may do the work twice.
    """

    code: TwirpErrorCode
    """The Twirp error code."""
    message: str
    """The server's message, or what happened in plain words."""
    meta: dict[str, str]
    """The error's string metadata (the server's, or that of a non-Twirp answer)."""
    status: int | None
    """The HTTP status of the answer, or ``None`` when no answer came."""
    outcome_unknown: bool
    """True when a failed create or delete may have been done all the same: check before repeating it."""
    wait_outcome: WaitOutcome | None = None
    """Set only on what ``wait_for_job`` raises: why it ended without the job."""
    job: Job | None = None
    """Set only on what ``wait_for_job`` raises: the job last seen, if any."""

    def __init__(
        self,
        code: TwirpErrorCode,
        message: str,
        *,
        meta: Mapping[str, str] | None = None,
        status: int | None = None,
        outcome_unknown: bool = False,
    ) -> None:
        super().__init__(code, message)
        self.code = TwirpErrorCode(code)
        self.message = message
        self.meta = dict(meta) if meta else {}
        self.status = status
        self.outcome_unknown = outcome_unknown

    def __str__(self) -> str:
        """The code, the message, the HTTP status, and what the error means where they do not say:
        a room that is not running, why a wait ended (``wait_outcome``), an unknown outcome."""
        where = f" (HTTP {self.status})" if self.status is not None else ""
        meanings = [ROOM_NOT_RUNNING_MEANING] if self.room_not_running else []
        if self.wait_outcome is not None and not (
            self.room_not_running and self.wait_outcome is WaitOutcome.ROOM_NOT_RUNNING
        ):
            meanings.append(WAIT_MEANINGS[self.wait_outcome])
        if self.outcome_unknown:
            meanings.append(OUTCOME_UNKNOWN_MEANING)
        return ": ".join([f"{self.code.value}: {self.message}{where}", *meanings])

    def __repr__(self) -> str:
        unknown = ", outcome_unknown=True" if self.outcome_unknown else ""
        return (
            f"TwirpError(code={self.code.value!r}, message={self.message!r}, "
            f"meta={self.meta!r}, status={self.status!r}{unknown})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        extra = {k: v for k, v in vars(self).items() if k in ("wait_outcome", "job")}
        return (_rebuild, (self.code, self.message, self.meta, self.status, self.outcome_unknown), extra)

    @property
    def from_intermediary(self) -> bool:
        """True when the response did not come from a Twirp server (a proxy, a load balancer)."""
        return self.meta.get("http_error_from_intermediary") == "true"

    @property
    def room_not_running(self) -> bool:
        """True when livekit-server found no server running the call's room.

        livekit-server answers a list, get or delete in a room that is not running (never
        created, or closed after its empty timeout) with a 503 ``unavailable`` "no response
        from servers", after waiting 3 s for the room to answer. A cluster gives the very same
        answer while the room's node is down (until another node takes the room over) or
        Redis is away, so in a cluster it means "no node answers for the room now", not "the
        room is gone". A list, get or delete that gets it is not retried; a create is, once
        another node can have taken the room over (docs/cluster.md).
        """
        return (
            self.code is TwirpErrorCode.UNAVAILABLE
            and self.status == 503
            and not self.from_intermediary
            and self.message.endswith(_NO_ROOM_SERVER)
        )


# livekit-server's message when no server answers for a room; it comes behind a
# "twirp error unknown: " prefix.
_NO_ROOM_SERVER = "no response from servers"
ROOM_NOT_RUNNING_MEANING = (
    "no node runs the room (it never started or it closed; in a cluster, its node may be down or Redis away)"
)
OUTCOME_UNKNOWN_MEANING = (
    "it may have been done all the same (the answer was lost and could not be checked): "
    "look with list_dispatch before repeating it"
)
# What str() adds for each way wait_for_job ends without the job.
WAIT_MEANINGS = {
    WaitOutcome.NO_JOB: "no agent came: is an agent worker running, registered under the dispatch's "
    "agent_name?",
    WaitOutcome.JOB_PENDING: "a worker has the job, but it had not reached the state waited for",
    WaitOutcome.JOB_FAILED: "the agent's job failed, was cancelled or turned down (job.state.error says why)",
    WaitOutcome.DISPATCH_DELETED: "the dispatch was deleted before its job ran",
    WaitOutcome.DISPATCH_LOST: "the dispatch is gone without a delete: its room started again on another "
    "node, which keeps the room's agents but not its dispatches (the agent may still be in the room)",
    WaitOutcome.ROOM_NOT_RUNNING: "the room closed or never ran (in a cluster: no node answered for it)",
}


def _rebuild(
    code: TwirpErrorCode,
    message: str,
    meta: dict[str, str],
    status: int | None,
    outcome_unknown: bool = False,
) -> TwirpError:
    return TwirpError(code, message, meta=meta, status=status, outcome_unknown=outcome_unknown)
