"""Fleets: one agent per room across processes and hosts.

:class:`RedisCoordinator` (``pip install "dispatch-client[redis]"``) lets ``ensure_dispatch``
take turns across every process that shares a Redis, passed as
``AgentDispatchService(..., coordinator=...)``; any object with the :class:`Coordinator`
protocol does. :class:`Supervisor` keeps one running agent in each room it is given, through
worker deaths, node deaths and deleted dispatches, and tells what it does as
:class:`SupervisorEvent` values. docs/fleets.md says what each mode promises.
"""

from ._coordinator import Coordinator, Lease
from ._events import EventKind, EventStream, LossReason, SupervisorEvent
from ._settings import SupervisorOptions
from ._supervisor import Supervisor

__all__ = [
    "Coordinator",
    "EventKind",
    "EventStream",
    "Lease",
    "LossReason",
    "Supervisor",
    "SupervisorEvent",
    "SupervisorOptions",
]
