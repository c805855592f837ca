"""When a failed call is tried again, and how long to wait first."""

from __future__ import annotations

import dataclasses
import email.utils
import math

import aiohttp

from .._checks import require_positive_int
from ..errors import TwirpError, TwirpErrorCode
from .body import NotConnected, never_sent

__all__ = ["NODE_LIVENESS", "RetryPolicy", "may_have_acted", "retry_after", "should_retry"]

# Seconds from a node's last stats (sent every 2 s) until the other nodes of a livekit-server
# cluster count it as gone and take over its rooms: a create that found no node for its room
# is tried again this long after its attempt started.
NODE_LIVENESS = 5.0

# 2.0 ** 1024 overflows; past this exponent every wait is max_backoff anyway.
_MAX_EXPONENT = 1000


def _require_delay(name: str, value: object) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not (ok and value >= 0):  # type: ignore[operator]
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a failed call is tried again.

    ``attempts`` counts the first try (:meth:`none` never retries). Before retry ``n`` the
    call waits a random time between 0 and ``min(max_backoff, initial_backoff * 2 ** (n - 1))``
    ("full jitter", so that many clients failing together do not come back together), or
    what the server asked for in ``Retry-After``. All attempts share the call's one deadline:
    a retry is made only if, after its wait, at least as much time is left as the failed
    attempt took (and a tenth of the call's timeout); otherwise the failure that is known is
    raised rather than traded for a likely ``deadline_exceeded``.
    """

    attempts: int = 3
    initial_backoff: float = 0.1
    max_backoff: float = 2.0

    def __post_init__(self) -> None:
        require_positive_int("attempts", self.attempts)
        _require_delay("initial_backoff", self.initial_backoff)
        _require_delay("max_backoff", self.max_backoff)

    @classmethod
    def none(cls) -> RetryPolicy:
        """One attempt per call: failures are raised as they come."""
        return cls(attempts=1)

    def backoff(self, retry: int, rand: float) -> float:
        """Seconds to wait before retry number ``retry`` (1-based); ``rand`` is uniform in [0, 1)."""
        ceiling = self.initial_backoff * 2.0 ** min(retry - 1, _MAX_EXPONENT)
        return rand * min(self.max_backoff, ceiling)


def should_retry(err: TwirpError, *, read_only: bool, repeatable: bool) -> bool:
    """True when trying the call again is safe and may help.

    ``repeatable`` says that a second arrival of the same call cannot act twice: a read, or
    a create, whose every attempt carries the call's one request id for a server that
    deduplicates on it. Retried for every call: a connection that could not be made at all,
    and the refusals 503 (``unavailable``) and 429 (``resource_exhausted``, but not a 413's), which
    mean that nothing was done. Retried only when repeatable: a connection closed before any answer,
    and a proxy's 502 or 504, after which the server may have acted (a delete that did its
    work would otherwise come back as ``not_found``). Retried only for reads: an answer lost
    midway or one that is not HTTP. Never retried: the call's timeout, TLS and certificate
    failures, and every other answer (``internal``, other 4xx, ...).
    """
    if err.code is TwirpErrorCode.DEADLINE_EXCEEDED or err.room_not_running or err.status == 413:
        return False  # a 413 (a body too large) is a resource_exhausted that no retry cures
    cause = err.__cause__
    if isinstance(cause, aiohttp.ClientSSLError):
        return False  # a certificate or TLS setup problem does not go away on retry
    if isinstance(cause, (aiohttp.ClientConnectorError, NotConnected)):
        return True  # no connection: the request never left
    if isinstance(cause, (aiohttp.ClientConnectionError, OSError)) and err.status is None:
        return repeatable  # reset or closed before any answer: it may have been acted on
    if isinstance(cause, aiohttp.ClientError):
        return read_only  # an answer lost midway, or one that is not HTTP
    if err.code not in (TwirpErrorCode.UNAVAILABLE, TwirpErrorCode.RESOURCE_EXHAUSTED):
        return False
    return repeatable or err.status in (429, 503)


# Twirp codes with which a server says it failed while it may already have acted.
_SERVER_FAILURES = frozenset(
    {
        TwirpErrorCode.UNKNOWN,
        TwirpErrorCode.INTERNAL,
        TwirpErrorCode.UNAVAILABLE,
        TwirpErrorCode.DATALOSS,
        TwirpErrorCode.DEADLINE_EXCEEDED,
        TwirpErrorCode.CANCELED,
        TwirpErrorCode.ABORTED,
    }
)


def may_have_acted(err: TwirpError) -> bool:
    """True when the request of a failed attempt may have been carried out by the server.

    False only when it surely was not: no connection was made (:func:`never_sent`: the
    deadline too may end an attempt before its connection opened), an intermediary refused it
    with a 3xx or a 4xx other than 408, or the server refused it with a code that says it
    decided not to act (``invalid_argument``, ``unauthenticated``, ``not_found``, ...).
    Everything else may follow the server's work: a connection lost before or during the
    answer, the deadline running out after the request left, a 200 whose body cannot be
    read, a proxy's 5xx or 408, and the server's own ``unavailable``, ``internal`` and the
    like (livekit-server's 503 for a create can come after the room has acted).
    """
    if never_sent(err) or err.room_not_running:
        return False  # refused, unreachable, TLS setup failed, not open in time, or no server has the room
    if err.status is None or err.status == 200:
        return True
    if err.from_intermediary:
        return err.status >= 500 or err.status == 408
    return err.code in _SERVER_FAILURES


def retry_after(value: str | None, now: float) -> float | None:
    """Seconds a ``Retry-After`` header asks to wait (delta-seconds or an HTTP date), else None.

    ``now`` is the wall clock in Unix seconds, for dates. A value that is neither form is
    ignored, and a date in the past means "now".
    """
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value) if len(value) <= 12 else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        return None  # RFC 9110 dates are GMT; one without a zone is not one
    try:
        return max(0.0, when.timestamp() - now)
    except (OverflowError, OSError, ValueError):
        return None
