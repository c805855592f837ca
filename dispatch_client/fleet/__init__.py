"""Fleets: one agent per room across processes and hosts, and many rooms at once.

:class:`RedisCoordinator` (``pip install "dispatch-client[redis]"``) lets ``ensure_dispatch``
take turns across every process that shares a Redis, passed as
``AgentDispatchService(..., coordinator=...)``; any object with the :class:`Coordinator`
protocol does. docs/fleets.md says what each mode promises.

``AgentDispatchService.dispatch_many`` sends an agent to many rooms, paced and bounded, and
returns a :class:`DispatchResult` per room, whose :class:`DispatchOutcome` says how it ended.
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
from ._redis import RedisCoordinator

__all__ = [
    "DEFAULT_ATTEMPTS",
    "DEFAULT_CONCURRENCY",
    "JOB_OFFER_WINDOW",
    "MAX_ATTEMPTS",
    "Coordinator",
    "DispatchOutcome",
    "DispatchResult",
    "Lease",
    "RedisCoordinator",
]
