"""Nodes and the rooms they run: what livekit-server nodes sharing one Redis keep in it.

Each room is mapped to the node that runs it (the real server's ``room_node_map``). A new
room goes to a node drawn at random among those the others take for alive: a node that
was killed still counts for ``liveness`` seconds (the real nodes send stats every 2 s and
count a node as alive for 5 s after its last), so a room can still land on it then. A
room on a dead node stays mapped to it; nothing answers for it until something moves it.
A node started again is a new node, with a new id.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable

from ._workers import new_id

__all__ = ["NODE_LIVENESS", "NodeTable"]

NODE_LIVENESS = 5.0  # seconds a killed node still counts as alive for the others


@dataclasses.dataclass
class _Node:
    node_id: str
    killed_at: int | None = None  # Unix nanoseconds


class NodeTable:
    """The nodes (alive or killed) and the node each room is mapped to; ``clock`` in Unix ns."""

    def __init__(self, *, clock: Callable[[], int], rng: random.Random, liveness: float) -> None:
        self._clock = clock
        self._rng = rng
        self._liveness = round(liveness * 1e9)
        self._nodes: dict[str, _Node] = {}
        self._placement: dict[str, str] = {}

    @property
    def liveness(self) -> int:
        """How long a killed node still counts as alive, in nanoseconds."""
        return self._liveness

    def add(self) -> str:
        """A new node, alive; its id."""
        while True:
            node_id = new_id("ND_", self._rng)
            if node_id not in self._nodes:
                self._nodes[node_id] = _Node(node_id)
                return node_id

    def kill(self, node_id: str) -> None:
        """The node stops at once; the rooms mapped to it stay mapped to it."""
        node = self._nodes[node_id]
        if node.killed_at is None:
            node.killed_at = self._clock()

    def alive(self, node_id: str) -> bool:
        """Whether the node runs (and answers for its rooms)."""
        return self._nodes[node_id].killed_at is None

    def counted(self, node_id: str, at: int | None = None) -> bool:
        """Whether the other nodes still take it for alive (at ``at``, by default now)."""
        killed_at = self._nodes[node_id].killed_at
        now = self._clock() if at is None else at
        return killed_at is None or now - killed_at < self._liveness

    def node_of(self, room: str) -> str | None:
        """The node ``room`` is mapped to, alive or not; None when it is on none."""
        return self._placement.get(room)

    def rooms_on(self, node_id: str) -> list[str]:
        return [room for room, node in self._placement.items() if node == node_id]

    def place(self, room: str, at: int | None = None) -> str | None:
        """Map ``room`` to a node drawn among those counted as alive (at ``at``); its id, or None
        (and no change) when there is none."""
        candidates = [n for n in self._nodes if self.counted(n, at)]
        if not candidates:
            return None
        node_id = self._rng.choice(candidates)
        self._placement[room] = node_id
        return node_id

    def unplace(self, room: str) -> None:
        self._placement.pop(room, None)
