"""The one error type a call raises, and how HTTP answers become it."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

import orjson

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
    JOB_FAILED = "job_failed"  # the job failed or was cancelled; its error is in ``job.state.error``
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


def _code_for_intermediary(status: int) -> TwirpErrorCode:
    if 300 <= status < 400:
        return TwirpErrorCode.INTERNAL
    return {
        400: TwirpErrorCode.INTERNAL,
        401: TwirpErrorCode.UNAUTHENTICATED,
        403: TwirpErrorCode.PERMISSION_DENIED,
        404: TwirpErrorCode.BAD_ROUTE,
        429: TwirpErrorCode.RESOURCE_EXHAUSTED,
        502: TwirpErrorCode.UNAVAILABLE,
        503: TwirpErrorCode.UNAVAILABLE,
        504: TwirpErrorCode.UNAVAILABLE,
    }.get(status, TwirpErrorCode.UNKNOWN)


# What an error keeps of an answer: a server (or anything claiming to be one) decides its size.
MAX_TEXT = 4096  # characters of a message, a meta value or a quoted body
MAX_KEY = 256  # characters of a meta key
MAX_META = 64  # meta entries


def _capped(text: str, limit: int = MAX_TEXT) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit} more characters)"


def _twirp_body(body: bytes) -> tuple[TwirpErrorCode, str, dict[str, str]] | None:
    """The (code, msg, meta) of a Twirp JSON error body, or None if it is not one."""
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(obj, dict):
        return None
    raw_code = obj.get("code")
    code = _BY_WIRE.get(raw_code) if isinstance(raw_code, str) else None
    msg = obj.get("msg", "")
    if code is None or not isinstance(msg, str):
        return None
    raw_meta = obj.get("meta")
    meta: dict[str, str] = {}
    if isinstance(raw_meta, dict):
        meta = {str(k): v if isinstance(v, str) else _as_text(v) for k, v in raw_meta.items()}
    return code, msg, meta


def _as_text(value: object) -> str:
    """A non-string meta value as JSON text; orjson writes less deep nesting than it reads."""
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        return repr(value)[:1000]


def error_from_response(
    status: int, body: bytes, location: str | None = None, secret: str | None = None
) -> TwirpError:
    """Turn a non-200 HTTP response into a TwirpError, following the Twirp spec.

    A redirect is always an error from an intermediary (redirects are not followed),
    whatever its body. Otherwise a body that is a Twirp error keeps its code, message
    and meta, and anything else (an HTML page from a proxy, an empty body, a JSON body
    whose code is not a Twirp code) is mapped from the HTTP status by the spec's table.
    ``secret`` (the request's token) is cut out of every text taken from the answer, as
    decoded (a JSON string may spell it with escapes), before any text is cut short to
    MAX_TEXT characters (and meta to MAX_META entries).
    """

    def clean(text: str, limit: int = MAX_TEXT) -> str:
        return _capped(text.replace(secret, "[redacted]") if secret else text, limit)

    is_redirect = 300 <= status < 400
    parsed = None if is_redirect else _twirp_body(body)
    if parsed is not None:
        code, msg, meta = parsed
        kept = {clean(k, MAX_KEY): clean(v) for k, v in list(meta.items())[:MAX_META]}
        return TwirpError(code, clean(msg), meta=kept, status=status)
    text = body.decode("utf-8", errors="replace")
    meta = {
        "http_error_from_intermediary": "true",
        "status_code": str(status),
        "body": clean(text),
    }
    if is_redirect:
        meta["location"] = clean(location or "", MAX_KEY * 4)
        message = f"unexpected HTTP {status} redirect to {meta['location'] or '(no location)'}"
    else:
        first_line = clean(text.strip().splitlines()[0], 200) if text.strip() else "(empty body)"
        if status == 401:
            # livekit-server's own token check answers in plain text, not as Twirp.
            message = f"the server did not accept the token: check the API key and secret ({first_line})"
        else:
            message = f"HTTP {status} from a non-Twirp responder: {first_line}"
    return TwirpError(_code_for_intermediary(status), message, meta=meta, status=status)
