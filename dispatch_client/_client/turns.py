"""Turns for ``ensure_dispatch``: calls of one service for the same room, agent and deployment
go one at a time, holding (with a coordinator) the key's lease across processes too."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from .._generated.livekit import AgentDispatch
from ..fleet._coordinator import Lease

__all__ = ["Key", "Turn", "Turns", "release_when_done"]

Key = tuple[str, str, str]


class Turn:
    """A key's turn, taken; :meth:`release` (once) hands it to the next caller.

    With a coordinator, the turn also holds the key's lease across processes, handed on first.
    """

    def __init__(self, turns: Turns, key: Key, lock: asyncio.Lock) -> None:
        self._turns, self._key, self._lock, self._held = turns, key, lock, True
        self.lease: Lease | None = None

    def release(self) -> None:
        if self._held:
            self._held = False
            if self.lease is not None:
                self._turns.hand_on(self.lease)
            self._lock.release()
            self._turns.leave(self._key)


class Turns:
    """One asyncio lock per key while anyone holds or waits for it (no lock outlives its users)."""

    def __init__(self) -> None:
        self._locks: dict[Key, tuple[asyncio.Lock, int]] = {}
        self._releases: set[asyncio.Task[None]] = set()

    def hand_on(self, lease: Lease) -> None:
        """Release ``lease`` in the background (its release never raises)."""
        task = asyncio.get_running_loop().create_task(lease.release())
        self._releases.add(task)
        task.add_done_callback(self._releases.discard)

    async def take(self, key: Key) -> Turn:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            await lock.acquire()
        except BaseException:
            self.leave(key)
            raise
        return Turn(self, key, lock)

    def leave(self, key: Key) -> None:
        lock, users = self._locks[key]
        if users == 1:
            del self._locks[key]
        else:
            self._locks[key] = (lock, users - 1)


def release_when_done(turn: Turn) -> Callable[[asyncio.Task[AgentDispatch]], None]:
    def done(task: asyncio.Task[AgentDispatch]) -> None:
        if not task.cancelled():
            task.exception()  # looked at: its caller is gone, and the outcome is in the room
        turn.release()

    return done
