"""Fleets: one agent per room across processes and hosts, and many rooms at once.

:class:`RedisCoordinator` (``pip install "dispatch-client[redis]"``) lets ``ensure_dispatch``
take turns across every process that shares a Redis, passed as
``AgentDispatchService(..., coordinator=...)``; any object with the :class:`Coordinator`
protocol does. :class:`Supervisor` keeps one running agent in each room it is given, through
worker deaths, node deaths and deleted dispatches, and tells what it does as
:class:`SupervisorEvent` values. ``AgentDispatchService.dispatch_many`` sends an agent to many
rooms, paced and bounded, and returns a :class:`DispatchResult` per room, whose
:class:`DispatchOutcome` says how it ended. docs/fleets.md says what each mode promises.
"""

from ._bulk import (
    DEFAULT_ATTEMPTS,
    DEFAULT_CONCURRENCY,
    JOB_OFFER_WINDOW,
    MAX_ATTEMPTS,
    DispatchOutcome,
    DispatchResult,
)
from ._coordinator import Coordinator, Lease
from ._events import EventKind, EventStream, LossReason, SupervisorEvent
from ._redis import RedisCoordinator
from ._settings import SupervisorOptions
from ._supervisor import Supervisor

__all__ = [
    "DEFAULT_ATTEMPTS",
    "DEFAULT_CONCURRENCY",
    "JOB_OFFER_WINDOW",
    "MAX_ATTEMPTS",
    "Coordinator",
    "DispatchOutcome",
    "DispatchResult",
    "EventKind",
    "EventStream",
    "Lease",
    "LossReason",
    "RedisCoordinator",
    "Supervisor",
    "SupervisorEvent",
    "SupervisorOptions",
]
