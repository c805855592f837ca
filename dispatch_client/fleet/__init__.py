"""Fleets: one agent per room across processes and hosts.

:class:`RedisCoordinator` (``pip install "dispatch-client[redis]"``) lets ``ensure_dispatch``
take turns across every process that shares a Redis, passed as
``AgentDispatchService(..., coordinator=...)``; any object with the :class:`Coordinator`
protocol does. docs/fleets.md says what each mode promises.
"""

from ._coordinator import Coordinator, Lease
from ._redis import RedisCoordinator

__all__ = ["Coordinator", "Lease", "RedisCoordinator"]
