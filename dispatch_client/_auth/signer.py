"""Bearer tokens for the dispatch API: short-lived HS256 JWTs, one per room, reused."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol, Unpack

import jwt

from .._checks import require_credential, require_seconds
from ..tokens import JoinOptions, participant_token

__all__ = ["Signer", "TokenSigner"]

DEFAULT_TTL = 600.0
MIN_TTL = 10.0
_MAX_CACHED_ROOMS = 1024


class Signer(Protocol):
    """Where a call's token comes from: this module's signer, or a token signed elsewhere."""

    def token(self, room: str, *, list_rooms: bool = False) -> str: ...


class TokenSigner:
    """Signs ``Authorization`` tokens granting ``roomAdmin`` on one room.

    A token lives ``ttl`` seconds (whole seconds, at least MIN_TTL) from the whole second
    it is issued in, and is reused for the same room until half of that life is gone: every
    token handed out has more than ``ttl / 2`` seconds left, and a busy caller signs about
    once per ``ttl / 2`` per room instead of once per call. ``clock`` returns Unix seconds;
    inject it in tests.
    """

    def __init__(
        self,
        api_key: str,
        api_secret: str,
        *,
        ttl: float = DEFAULT_TTL,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._key = require_credential("api_key", api_key, "LIVEKIT_API_KEY")
        self._secret = require_credential("api_secret", api_secret, "LIVEKIT_API_SECRET")
        seconds = require_seconds("token_ttl", ttl)
        if seconds < MIN_TTL:
            # nbf and exp count from the issue time rounded down to a whole second, so up to a
            # second of a token's life is gone when it is signed; half of 10 s is left for use.
            raise ValueError(f"token_ttl must be at least {MIN_TTL:g} seconds, got {ttl!r}")
        self._ttl = int(seconds)
        self._clock = clock
        self._cache: OrderedDict[tuple[str, bool], tuple[str, float]] = OrderedDict()
        self._lock = threading.Lock()

    def claims(self, room: str, now: int, *, list_rooms: bool = False) -> dict[str, object]:
        """The claims of a token for calls on ``room``, or (``list_rooms``) for listing rooms."""
        video: dict[str, object] = {"roomList": True} if list_rooms else {"roomAdmin": True, "room": room}
        return {"iss": self._key, "nbf": now, "exp": now + self._ttl, "video": video}

    def token(self, room: str, *, list_rooms: bool = False) -> str:
        """A valid token for ``room`` (or, with ``list_rooms``, for ``RoomService.ListRooms``,
        which needs the ``roomList`` grant), from the cache when it has enough life left."""
        key = ("", True) if list_rooms else (room, False)
        now = self._clock()
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None and cached[1] > now:
                self._cache.move_to_end(key)
                return cached[0]
        issued = int(now)
        token = jwt.encode(self.claims(room, issued, list_rooms=list_rooms), self._secret, algorithm="HS256")
        with self._lock:
            self._cache[key] = (token, issued + self._ttl / 2)
            self._cache.move_to_end(key)
            while len(self._cache) > _MAX_CACHED_ROOMS:
                self._cache.popitem(last=False)
        return token

    def participant_token(self, **kwargs: Unpack[JoinOptions]) -> str:
        """A join token (:func:`dispatch_client.tokens.participant_token`) with this key and secret,
        at this signer's clock."""
        return participant_token(self._key, self._secret, clock=self._clock, **kwargs)

    def __repr__(self) -> str:
        return f"TokenSigner(api_key={self._key!r}, ttl={self._ttl})"
