"""When a failed call is tried again, and how long to wait first."""

from __future__ import annotations

import dataclasses
import math

import aiohttp

from .errors import TwirpError, TwirpErrorCode

__all__ = ["RetryPolicy", "should_retry"]


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """Retries for calls that failed before the server acted on them.

    ``attempts`` counts the first try (``RetryPolicy(attempts=1)`` never retries). The wait
    before retry ``n`` is ``initial_backoff * 2 ** (n - 1)``, capped at ``max_backoff``, then
    spread by ``± jitter`` (a fraction) so that many clients do not retry in step. All
    attempts share the call's one deadline: a retry is made only if, after its wait, at
    least as much time is left as the failed attempt took (and a tenth of the call's
    timeout); otherwise the failure that is known is raised rather than traded for a
    likely ``deadline_exceeded``.
    """

    attempts: int = 3
    initial_backoff: float = 0.1
    max_backoff: float = 2.0
    jitter: float = 0.2

    def __post_init__(self) -> None:
        if not (isinstance(self.attempts, int) and self.attempts >= 1):
            raise ValueError(f"attempts must be an int >= 1, got {self.attempts!r}")
        for name in ("initial_backoff", "max_backoff"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"jitter must be within [0, 1], got {self.jitter!r}")

    def backoff(self, retry: int, rand: float) -> float:
        """Seconds to wait before retry number ``retry`` (1-based); ``rand`` is uniform in [0, 1)."""
        base = min(self.max_backoff, self.initial_backoff * 2.0 ** (retry - 1))
        return base * (1 + self.jitter * (2 * rand - 1))


def should_retry(err: TwirpError, read_only: bool) -> bool:
    """True when trying again cannot make the server act twice, or when the call only reads.

    Retried: a connection that could not be opened at all, and a 503 (the server, or a
    proxy with no server behind it, did not take the call). For a read-only call also: a
    connection or answer lost midway, and a 502 or 504 from a proxy. Never retried:
    timeouts (the deadline is spent) and every answer in which a server decided something
    (not_found, invalid_argument, unauthenticated, ...).
    """
    if err.code is not TwirpErrorCode.UNAVAILABLE:
        return False
    cause = err.__cause__
    if isinstance(cause, aiohttp.ClientSSLError):
        return False  # a certificate or TLS setup problem does not go away on retry
    if isinstance(cause, (aiohttp.ClientError, OSError)):
        return read_only or isinstance(cause, aiohttp.ClientConnectorError)
    return err.status == 503 or (read_only and err.status in (502, 504))
