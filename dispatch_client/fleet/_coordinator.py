"""What ``ensure_dispatch`` needs to take turns across processes: a lease per key.

A :class:`Coordinator` grants one holder at a time a lease on a key (a room, an agent name and
a deployment). The holder's whole call ends before its lease does: ``ensure_dispatch`` clips its
deadline to the lease's, and livekit-server gives up a create whose ``X-Twirp-Timeout-Ms`` ran
out. So a holder that dies mid-create leaves nothing in flight once its lease has expired, and
the next holder's list sees everything it made.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["Coordinator", "Lease"]


class Lease(Protocol):
    """A key held until :meth:`release`, or until the lease expires."""

    @property
    def deadline(self) -> float:
        """The event-loop time (``loop.time()``) by which the holder's work must be over."""
        ...

    async def release(self) -> None:
        """Hand the key on. Never raises: a lease that cannot be released expires."""
        ...


class Coordinator(Protocol):
    """Grants leases on keys, one holder at a time, across every process that shares it.

    One that also has an ``aclose()`` coroutine method gets it called, on the blocking client's
    own event loop, when a :class:`dispatch_client.sync.AgentDispatchService` closes: what it
    holds on that loop ends with it.
    """

    async def acquire(self, key: str, deadline: float) -> Lease:
        """Wait for ``key`` and hold it for work that ends by ``deadline`` (event-loop time).

        The lease's own deadline may come sooner (a coordinator caps how long a key is held);
        raises :class:`dispatch_client.TwirpError` when the key cannot be had in time
        (``deadline_exceeded``) or the coordinator cannot be reached (``unavailable``).
        """
        ...
