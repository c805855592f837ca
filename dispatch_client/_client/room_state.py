"""What the room store says of a room: whether it is there, since when, and which agents are in it.

livekit-server answers a dispatch call in a room that is not running only after waiting 3 s,
and in a cluster gives that same answer while the room's node is down or Redis is away.
``RoomService`` reads the room store (Redis, in a cluster) and answers at once: a room that is
not in it is not running anywhere, and one that is in it while no node answers for it is on
a node that went down. The store keeps a room's participants too, so an agent that is still
in a room (or will come back to it when its node's rooms move) is seen there even when the
dispatch that sent it is gone.

Reads that cannot be made (a server that does not serve ``RoomService``, a pre-signed token
without the ``roomList`` grant, Redis away) say :attr:`Store.UNREADABLE`: the caller then
knows nothing more than the dispatch calls tell.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable

from .._generated.livekit import ParticipantInfo, ParticipantInfoKind, Room
from ..errors import TwirpError

__all__ = ["AGENT_NAME_ATTRIBUTE", "RoomReads", "Store", "agents_named"]

# The attribute livekit-server sets on an agent's participant: the agent name of its job.
AGENT_NAME_ATTRIBUTE = "lk.agent_name"

ListRooms = Callable[[list[str], float], Awaitable[list[Room]]]
ListParticipants = Callable[[str, float], Awaitable[list[ParticipantInfo]]]


class Store(enum.Enum):
    """What the room store said when it had no room to show."""

    ABSENT = "absent"
    """The store has no such room: it is not running on any node."""
    UNREADABLE = "unreadable"
    """The store could not be read: nothing is known beyond what the dispatch calls say."""


def agents_named(participants: list[ParticipantInfo], agent_name: str) -> list[ParticipantInfo]:
    """The participants that are agents sent under ``agent_name``."""
    return [
        p
        for p in participants
        if p.kind is ParticipantInfoKind.AGENT and p.attributes.get(AGENT_NAME_ATTRIBUTE) == agent_name
    ]


class RoomReads:
    """The two reads of the room store a service makes, each bounded by the caller's time."""

    def __init__(self, list_rooms: ListRooms, list_participants: ListParticipants) -> None:
        self._list_rooms = list_rooms
        self._list_participants = list_participants

    async def room(self, name: str, timeout: float) -> Room | Store:
        """The store's record of room ``name``, or why there is none to show."""
        try:
            rooms = await self._list_rooms([name], timeout)
        except (TwirpError, ValueError):  # ValueError: a pre-signed token that expired
            return Store.UNREADABLE
        return next((r for r in rooms if r.name == name), Store.ABSENT)

    async def agents(self, room: str, agent_name: str, timeout: float) -> list[ParticipantInfo] | Store:
        """The agents under ``agent_name`` the store lists in ``room``."""
        try:
            participants = await self._list_participants(room, timeout)
        except (TwirpError, ValueError):
            return Store.UNREADABLE
        return agents_named(participants, agent_name)
