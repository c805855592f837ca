"""The two reads of ``livekit.RoomService`` the client makes: the rooms of some names, and the
participants of one room, as the room store (Redis, in a cluster) holds them.

Both answer at once, where a dispatch call in a room that is not running waits 3 s first. Listing
rooms needs the ``roomList`` grant (the signer signs such a token for it); listing participants
needs ``roomAdmin`` on the room, as every dispatch call does.
"""

from __future__ import annotations

from .._generated.livekit import (
    ListParticipantsRequest,
    ListParticipantsResponse,
    ListRoomsRequest,
    ListRoomsResponse,
    ParticipantInfo,
    Room,
)
from .._transport.call import Transport

__all__ = ["list_participants", "list_rooms"]


async def list_rooms(transport: Transport, names: list[str], *, timeout: float) -> list[Room]:
    """The rooms of ``names`` the room store has (those it does not have are left out)."""
    # The token is for listing rooms; the name only keys the log lines and the route.
    resp = await transport.call(
        "ListRooms", names[0] if names else "", ListRoomsRequest(names=names), ListRoomsResponse, timeout
    )
    return resp.rooms


async def list_participants(transport: Transport, room: str, *, timeout: float) -> list[ParticipantInfo]:
    """The participants the room store has for ``room`` (none for a room it does not have)."""
    resp = await transport.call(
        "ListParticipants", room, ListParticipantsRequest(room=room), ListParticipantsResponse, timeout
    )
    return resp.participants
