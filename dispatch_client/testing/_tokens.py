"""Access tokens checked as livekit-server checks them: HS256, a known ``iss``, ``exp``, a minute's leeway."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping

import jwt
from jwt.algorithms import HMACAlgorithm
from jwt.utils import base64url_decode

__all__ = ["LEEWAY_SECONDS", "Grant", "TokenRejected", "TokenVerifier"]

LEEWAY_SECONDS = 60
_INT64_LIMIT = 2.0**63
BEARER = "Bearer "


class TokenRejected(Exception):
    """The token cannot be used; the message is the plain-text body of the 401."""


@dataclasses.dataclass(frozen=True)
class Grant:
    """The part of a verified token's ``video`` grant the dispatch API looks at."""

    room_admin: bool
    room: str


def _number(claims: Mapping[str, object], name: str) -> float | None:
    """A time claim in Unix seconds; livekit-server reads one as a double, then as an int64,
    so a value that either cannot hold makes the token unusable."""
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TokenRejected(f"invalid token: {name} is not a number")
    try:
        seconds = float(value)
    except OverflowError:  # an integer beyond any double
        seconds = math.nan
    if not -_INT64_LIMIT <= seconds < _INT64_LIMIT:  # also NaN and the infinities
        raise TokenRejected(f"invalid token: {name} is out of range")
    return seconds


def _grant(video: object) -> Grant:
    """The ``video`` claim, held to the JSON types of livekit-server's VideoGrant.

    There a value of the wrong type makes the whole token unparseable, while ``null`` or
    a missing value is the zero value: no grant, ``false``, ``""``.
    """
    if video is None:
        return Grant(room_admin=False, room="")
    if not isinstance(video, dict):
        raise TokenRejected("invalid token: the video grant is not an object")
    room_admin = video.get("roomAdmin")
    if room_admin is not None and not isinstance(room_admin, bool):
        raise TokenRejected("invalid token: roomAdmin is not a boolean")
    room = video.get("room")
    if room is not None and not isinstance(room, str):
        raise TokenRejected("invalid token: room is not a string")
    return Grant(room_admin=room_admin is True, room=room or "")


class TokenVerifier:
    """Verifies ``Authorization: Bearer`` tokens against a set of API keys and secrets.

    The signature is checked with pyjwt's HMAC implementation directly: the secrets of
    development servers (``secret``) are short, and pyjwt warns about those on every
    decode, which is the client's business, not the server's. ``clock`` gives Unix seconds.
    """

    def __init__(self, keys: Mapping[str, str], *, clock: Callable[[], float]) -> None:
        self._hs256 = HMACAlgorithm(HMACAlgorithm.SHA256)
        self._keys = {key: self._hs256.prepare_key(secret) for key, secret in keys.items()}
        self._clock = clock

    def grant(self, authorization: str | None, query_token: str | None = None) -> Grant | None:
        """The grant of the request's token, ``None`` when it has none; TokenRejected if it is bad.

        As in livekit-server, a token comes from the ``Authorization`` header, or when that
        is absent from the ``access_token`` query parameter.
        """
        if authorization:
            if not authorization.startswith(BEARER):
                raise TokenRejected("invalid authorization header: it must start with 'Bearer '")
            token = authorization[len(BEARER) :]
        else:
            token = query_token or ""
        if not token:
            return None
        return self._verify(token)

    def _verify(self, token: str) -> Grant:
        try:
            header = jwt.get_unverified_header(token)
            claims = jwt.decode(token, options={"verify_signature": False})
        except (jwt.PyJWTError, UnicodeError) as e:  # header bytes that are not text come as surrogates
            raise TokenRejected("invalid authorization token") from e
        api_key = claims.get("iss")
        key = self._keys.get(api_key) if isinstance(api_key, str) else None
        if key is None:
            raise TokenRejected(f"invalid API key: {api_key}")
        if header.get("alg") != "HS256":
            raise TokenRejected(f"invalid token: unsupported algorithm {header.get('alg')!r}")
        signing_input, _, signature = token.rpartition(".")
        try:
            valid = self._hs256.verify(signing_input.encode(), key, base64url_decode(signature))
        except (ValueError, TypeError):
            valid = False
        if not valid:
            raise TokenRejected("invalid token: signature does not match")
        self._check_times(claims)
        return _grant(claims.get("video"))

    def _check_times(self, claims: Mapping[str, object]) -> None:
        now = self._clock()
        exp = _number(claims, "exp")
        if exp is None:
            raise TokenRejected("invalid token: exp is required")
        if now - LEEWAY_SECONDS > exp:
            raise TokenRejected("invalid token: token is expired")
        nbf = _number(claims, "nbf")
        if nbf is not None and now + LEEWAY_SECONDS < nbf:
            raise TokenRejected("invalid token: token is not valid yet")
        iat = _number(claims, "iat")
        if iat is not None and now + LEEWAY_SECONDS < iat:
            raise TokenRejected("invalid token: token issued in the future")
