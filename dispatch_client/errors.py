"""The one error type a call raises (how HTTP answers become it: _responses)."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

from ._generated.livekit import Job

__all__ = ["TwirpError", "TwirpErrorCode", "WaitOutcome"]


class TwirpErrorCode(str, enum.Enum):
    """Twirp v7 error codes; each value is the string used on the wire."""

    CANCELED = "canceled"
    UNKNOWN = "unknown"
    INVALID_ARGUMENT = "invalid_argument"
    MALFORMED = "malformed"
    DEADLINE_EXCEEDED = "deadline_exceeded"
    NOT_FOUND = "not_found"
    BAD_ROUTE = "bad_route"
    ALREADY_EXISTS = "already_exists"
    PERMISSION_DENIED = "permission_denied"
    UNAUTHENTICATED = "unauthenticated"
    RESOURCE_EXHAUSTED = "resource_exhausted"
    FAILED_PRECONDITION = "failed_precondition"
    ABORTED = "aborted"
    OUT_OF_RANGE = "out_of_range"
    UNIMPLEMENTED = "unimplemented"
    INTERNAL = "internal"
    UNAVAILABLE = "unavailable"
    DATALOSS = "dataloss"

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

    NO_JOB = "no_job"  # the deadline passed and the dispatch had no job: no worker took it
    JOB_PENDING = "job_pending"  # the deadline passed with a job still pending (``TwirpError.job``)
    JOB_FAILED = "job_failed"  # the job failed, was cancelled or turned down; ``job.state.error``
    DISPATCH_DELETED = "dispatch_deleted"  # the room no longer has the dispatch
    ROOM_NOT_RUNNING = "room_not_running"  # the room closed (or never ran)


class TwirpError(Exception):
    """A call failed: the server said so, something between us said so, or no answer came.

    ``status`` is the HTTP status of the response, or ``None`` when none arrived
    (connection failure, timeout). ``meta`` carries the server's string metadata; for
    errors made from a non-Twirp response it holds ``http_error_from_intermediary``,
    ``status_code``, ``body`` and, for redirects, ``location``. ``outcome_unknown`` is true
    when the server may have done the call's work although the call failed: a create or
    delete whose answer was lost, and that the call could not check (see README,
    "Retries"). Repeating such a call blindly may do the work twice.
    """

    code: TwirpErrorCode
    message: str
    meta: dict[str, str]
    status: int | None
    outcome_unknown: bool
    # Set only on what ``wait_for_job`` raises: why it ended, and the job last seen (if any).
    wait_outcome: WaitOutcome | None = None
    job: Job | None = None

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
        where = f" (HTTP {self.status})" if self.status is not None else ""
        return f"{self.code.value}: {self.message}{where}"

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
        from servers", after waiting 3 s for the room to answer. Such a failure is not
        retried: the room will not start by itself.
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


def _rebuild(
    code: TwirpErrorCode,
    message: str,
    meta: dict[str, str],
    status: int | None,
    outcome_unknown: bool = False,
) -> TwirpError:
    return TwirpError(code, message, meta=meta, status=status, outcome_unknown=outcome_unknown)


# The mapping of HTTP answers to errors lives in _responses; imported here, where it always was.
from ._responses import error_from_response as error_from_response  # noqa: E402
