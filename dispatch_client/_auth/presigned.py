"""A token signed elsewhere (``token=`` or ``LIVEKIT_TOKEN``), sent as it is and never signed here.

The token's claims are read, without its signature (that is the server's to check), only to
refuse a call the token cannot make before anything is sent: livekit-server v1.13.5 lets a call
on room R through only with ``video.roomAdmin`` true and ``video.room`` equal to R, and refuses
a token past its ``exp`` (with a minute of leeway), and one without a ``video`` grant. A token
whose claims are not a JSON object (not a JWT, or not base64 JSON) is sent as it is, and the
server's ``unauthenticated`` answer says what it thinks of it; claims that are JSON but that no
server could read (nested past any sense, an ``exp`` that is not a finite number) are a
ValueError when the token is given.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import time
from collections.abc import Callable

from .._checks import require_credential

__all__ = ["PresignedToken"]

_LEEWAY = 60


_WHO = "the pre-signed token (token= or LIVEKIT_TOKEN)"


class _Constant(ValueError):
    """NaN or Infinity, which Python's json reads and JSON does not have."""


def _refuse_constant(name: str) -> object:
    raise _Constant(name)


def _claims(token: str) -> dict[str, object] | None:
    """The token's claims when they are a JSON object; None when they are not JSON at all."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        raw = base64.urlsafe_b64decode(payload)
    except (binascii.Error, ValueError):
        return None
    try:
        claims = json.loads(raw, parse_constant=_refuse_constant)
    except RecursionError:
        raise ValueError(f"{_WHO} has claims nested too deep to read") from None
    except _Constant as e:
        raise ValueError(f"{_WHO} has claims holding {e}, which no JWT reader takes") from None
    except ValueError:  # not JSON (UnicodeDecodeError and JSONDecodeError are ValueErrors)
        return None
    return claims if isinstance(claims, dict) else None


def _exp(claims: dict[str, object]) -> float | None:
    """The ``exp`` claim in seconds, None without one; ValueError when no server could read it."""
    exp = claims.get("exp")
    if exp is None:
        return None
    if isinstance(exp, (int, float)) and not isinstance(exp, bool):
        try:
            seconds = float(exp)
        except OverflowError:
            seconds = math.inf
        if math.isfinite(seconds):
            return seconds
    raise ValueError(f"{_WHO} has an exp claim that is not a finite number of seconds")


class PresignedToken:
    """Hands out one fixed token for the rooms it grants; ValueError for any other call."""

    def __init__(self, token: str, *, clock: Callable[[], float] = time.time) -> None:
        self._token = require_credential("token", token, "LIVEKIT_TOKEN")
        self._clock = clock
        claims = _claims(self._token)
        video = claims.get("video") if claims is not None else None
        self._readable = claims is not None
        self._video = isinstance(video, dict)
        self._admin = isinstance(video, dict) and video.get("roomAdmin") is True
        room = video.get("room") if isinstance(video, dict) else None
        self._room = room if isinstance(room, str) else ""
        self._exp = _exp(claims) if claims is not None else None

    def token(self, room: str, *, list_rooms: bool = False) -> str:
        """The token, when it can make a call on ``room``; ValueError saying why not, otherwise.

        For listing rooms it is sent as it is: the server says whether it grants ``roomList``.
        """
        if self._readable and not list_rooms and not (self._admin and self._room == room):
            if not self._video:
                granted = "no video grant"
            else:
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
