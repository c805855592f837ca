"""A supervisor's settings, checked once: ValueError for a bad one, before anything is sent."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TypedDict

from .._checks import require_seconds

__all__ = ["Settings", "SupervisorOptions"]


class SupervisorOptions(TypedDict, total=False):
    """The settings of :class:`dispatch_client.fleet.Supervisor`, as a dict to pass on as its keywords."""

    job_timeout: float
    check_interval: float
    join_timeout: float
    leave_timeout: float
    room_grace: float
    call_timeout: float
    max_redispatches: int
    window: float | None
    backoff: float
    max_backoff: float
    event_buffer: int
    clock: Callable[[], float]


def _count(name: str, value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise ValueError(f"{name} must be an int of 0 or more, got {value!r}")


@dataclasses.dataclass(frozen=True)
class Settings:
    """Seconds unless said otherwise; see :class:`dispatch_client.fleet.Supervisor`."""

    job_timeout: float = 15.0
    check_interval: float = 2.0
    join_timeout: float = 10.0
    leave_timeout: float = 5.0
    room_grace: float = 30.0
    call_timeout: float = 10.0
    max_redispatches: int = 10
    window: float | None = 600.0
    backoff: float = 0.5
    max_backoff: float = 30.0
    event_buffer: int = 1000

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name in ("max_redispatches", "event_buffer"):
                _count(field.name, value)
            elif not (field.name == "window" and value is None):
                require_seconds(field.name, value)
        if self.event_buffer < 1:
            raise ValueError(f"event_buffer must be an int of 1 or more, got {self.event_buffer!r}")
        if self.max_backoff < self.backoff:
            raise ValueError(
                f"max_backoff ({self.max_backoff!r}) must not be less than backoff ({self.backoff!r})"
            )
