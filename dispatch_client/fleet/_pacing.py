"""How a keeper paces itself and how it ends: backoff, the redispatch budget, fatal failures.

Redispatches wait a capped, jittered backoff (``backoff`` doubling to ``max_backoff``, each wait
between half and all of that), reset once an agent runs; at most ``max_redispatches`` are made
per ``window`` seconds (``None``: in all).
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable

from .._generated.livekit import Job
from ..errors import TwirpError, TwirpErrorCode
from ._events import EventKind, LossReason
from ._settings import Settings

__all__ = ["Emit", "Pacing", "Stop", "fatal"]

# Failures that will not pass by being tried again: the keeping of the room ends.
_FATAL = frozenset(
    {
        TwirpErrorCode.INVALID_ARGUMENT,
        TwirpErrorCode.MALFORMED,
        TwirpErrorCode.PERMISSION_DENIED,
        TwirpErrorCode.UNAUTHENTICATED,
        TwirpErrorCode.BAD_ROUTE,
        TwirpErrorCode.UNIMPLEMENTED,
        TwirpErrorCode.FAILED_PRECONDITION,
        TwirpErrorCode.OUT_OF_RANGE,
    }
)


def fatal(e: TwirpError) -> bool:
    """Whether trying again cannot help (bad credentials or request, a closed client)."""
    return e.code in _FATAL


class Emit:
    """How a keeper reports: ``__call__(kind, ...)`` makes, logs and hands on one event."""

    def __init__(self, report: Callable[..., None]) -> None:
        self.report = report

    def __call__(
        self,
        kind: EventKind,
        *,
        dispatch_id: str | None = None,
        job: Job | None = None,
        reason: LossReason | None = None,
        detail: str = "",
    ) -> None:
        self.report(kind, dispatch_id=dispatch_id, job=job, reason=reason, detail=detail)


class Stop(Exception):
    """The keeping ends: ``kind`` is ``GAVE_UP`` or ``ROOM_CLOSED``, ``detail`` says why."""

    def __init__(self, kind: EventKind, detail: str) -> None:
        super().__init__(kind, detail)
        self.kind, self.detail = kind, detail


class Pacing:
    """One room's backoff and redispatch budget (event-loop time)."""

    def __init__(self, settings: Settings, rand: Callable[[], float]) -> None:
        self._s, self._rand = settings, rand
        self._spent: collections.deque[float] = collections.deque()  # when each redispatch was made
        self._failures = 0  # attempts since an agent last ran

    @property
    def redispatches(self) -> int:
        """The redispatches counted against the budget now."""
        if self._s.window is not None:
            now = asyncio.get_running_loop().time()
            while self._spent and now - self._spent[0] > self._s.window:
                self._spent.popleft()
        return len(self._spent)

    def spend(self) -> None:
        """Count a redispatch just made."""
        self._spent.append(asyncio.get_running_loop().time())

    def check_budget(self) -> None:
        """:class:`Stop` (``GAVE_UP``) when no redispatch is left in the window."""
        if self.redispatches >= self._s.max_redispatches:
            window = "" if self._s.window is None else f" in {self._s.window:g} s"
            raise Stop(
                EventKind.GAVE_UP, f"{self._s.max_redispatches} redispatches{window}: the budget is spent"
            )

    def backoff(self) -> float:
        """The next wait before trying again; each one doubles, up to ``max_backoff``."""
        base = min(self._s.max_backoff, self._s.backoff * 2.0 ** min(self._failures, 30))
        self._failures += 1
        return base * (0.5 + self._rand() / 2)

    def ran(self) -> None:
        """An agent runs: the backoff starts again from ``backoff``."""
        self._failures = 0

    def interval(self) -> float:
        """The wait between two checks: ``check_interval``, give or take a quarter."""
        return self._s.check_interval * (0.75 + self._rand() / 2)
