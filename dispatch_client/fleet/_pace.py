"""Starts spread evenly in time: at most ``rate`` per second, on a fixed schedule.

The schedule is kept from start to start (each slot is the last one plus ``1 / rate``), so a
loop that wakes a little late does not slow the pace down; a start whose slot has gone by
goes at once. Only when the starts fall more than one interval behind (nobody asked for a
while, or every slot of the work was busy) does the schedule begin again from now. Over any
span of T seconds, at most ``rate * T + 2`` starts are let through.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable

__all__ = ["MAX_RATE", "Pacer", "require_rate"]

MAX_RATE = 1e6  # starts per second; more than any server takes creates


def require_rate(value: object) -> float | None:
    """``None`` (no limit), or a positive, finite number of starts per second."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        rate = float(value)
        if 0 < rate <= MAX_RATE and math.isfinite(rate):
            return rate
    raise ValueError(
        f"rate must be None or a positive number of creates per second, at most {MAX_RATE:g}, got {value!r}"
    )


class Pacer:
    """Lets callers start at ``rate`` per second; ``clock`` and ``sleep`` are the event loop's
    (injected, so that a test can run the schedule on a clock of its own)."""

    def __init__(
        self, rate: float, *, clock: Callable[[], float], sleep: Callable[[float], Awaitable[None]]
    ) -> None:
        self._interval = 1.0 / rate
        self._clock, self._sleep = clock, sleep
        self._next: float | None = None

    def reserve(self) -> float:
        """Take the next slot; returns the clock time at which it comes (maybe already past)."""
        now = self._clock()
        if self._next is None:
            at, self._next = now, now + self._interval
            return at
        at = max(self._next, now)
        # From the slot, not from now: lateness in waking is made up. Far behind: from now.
        self._next = max(self._next + self._interval, now)
        return at

    async def wait(self) -> None:
        """Return once this caller's slot has come. A caller cancelled meanwhile leaves its slot unused."""
        at = self.reserve()
        delay = at - self._clock()
        if delay > 0:
            await self._sleep(delay)
