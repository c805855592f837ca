"""A token signed elsewhere (``token=`` or ``LIVEKIT_TOKEN``), sent as it is and never signed here.

The token's claims are read, without its signature (that is the server's to check), only to
refuse a call the token cannot make before anything is sent: livekit-server v1.13.5 lets a call
on room R through only with ``video.roomAdmin`` true and ``video.room`` equal to R, and refuses
a token past its ``exp`` (with a minute of leeway). A token whose claims cannot be read is sent
as it is, and the server's ``unauthenticated`` answer says what it thinks of it.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Callable

from .._checks import require_credential

__all__ = ["PresignedToken"]

_LEEWAY = 60


def _claims(token: str) -> dict[str, object] | None:
    parts = token.split(".")
    if len(parts) != 3:
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (binascii.Error, ValueError):
        return None
    return claims if isinstance(claims, dict) else None


class PresignedToken:
    """Hands out one fixed token for the rooms it grants; ValueError for any other call."""

    def __init__(self, token: str, *, clock: Callable[[], float] = time.time) -> None:
        self._token = require_credential("token", token, "LIVEKIT_TOKEN")
        self._clock = clock
        claims = _claims(self._token)
        video = claims.get("video") if claims is not None else None
        self._readable = isinstance(video, dict)
        self._admin = isinstance(video, dict) and video.get("roomAdmin") is True
        room = video.get("room") if isinstance(video, dict) else None
        self._room = room if isinstance(room, str) else ""
        exp = claims.get("exp") if claims is not None else None
        self._exp = float(exp) if isinstance(exp, (int, float)) and not isinstance(exp, bool) else None

    def token(self, room: str, *, list_rooms: bool = False) -> str:
        """The token, when it can make a call on ``room``; ValueError saying why not, otherwise.

        For listing rooms it is sent as it is: the server says whether it grants ``roomList``.
        """
        if self._readable and not list_rooms and not (self._admin and self._room == room):
            granted = f"roomAdmin on room {self._room!r}" if self._admin else "no roomAdmin grant"
            raise ValueError(
                f"the pre-signed token cannot make calls on room {room!r}: it grants {granted}"
                " (livekit-server needs video.roomAdmin and video.room equal to the call's room)"
            )
        if self._exp is not None and self._clock() > self._exp + _LEEWAY:
            raise ValueError("the pre-signed token has expired (its exp is past): sign a new one")
        return self._token

    def __repr__(self) -> str:
        return "PresignedToken([redacted])"
