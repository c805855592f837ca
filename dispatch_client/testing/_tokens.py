"""Access tokens checked as livekit-server v1.13.5 checks them, with its plain-text 401 bodies.

In order: an ``Authorization`` header must start with ``Bearer `` (without one, the
``access_token`` query parameter is read); the token is parsed without its signature
(three base64url parts, a JSON header naming a known ``alg``, registered claims of the
right JSON types), else "invalid authorization token"; ``iss`` must name a known key,
else "invalid API key: <iss>"; then the full check (grant claims of the right types,
HS256, the signature, ``exp``/``nbf`` with a minute of leeway), whose failures answer
"invalid token: <the token>, error: <why>" -- the token itself is echoed back. v1.13.5
needs no ``exp`` and never looks at ``iat``; later releases differ here.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Mapping

from ._claims import claim, grant_type_error, numeric_date, registered_claims_ok, video_grant

__all__ = ["LEEWAY_SECONDS", "Grant", "TokenRejected", "TokenVerifier"]

LEEWAY_SECONDS = 60
BEARER = "Bearer "
# The algorithms golang-jwt knows; any other ``alg`` makes a token unreadable.
_KNOWN_ALGORITHMS = frozenset(
    [
        "HS256",
        "HS384",
        "HS512",
        "RS256",
        "RS384",
        "RS512",
        "ES256",
        "ES384",
        "ES512",
        "PS256",
        "PS384",
        "PS512",
        "EdDSA",
        "none",
    ]
)
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")


class TokenRejected(Exception):
    """The token cannot be used; the message is the plain-text body of the 401."""


@dataclasses.dataclass(frozen=True)
class Grant:
    """The part of a verified token's ``video`` grant the served APIs look at."""

    room_admin: bool
    room: str
    room_list: bool = False

    def admin_of(self, room: str) -> bool:
        """Whether it lets its holder manage ``room`` (livekit-server: ``roomAdmin`` for that room)."""
        return self.room_admin and self.room == room


def _segment(text: str) -> bytes:
    """Unpadded base64url, as Go's RawURLEncoding reads it (it skips CR and LF)."""
    text = text.replace("\r", "").replace("\n", "")
    if not _BASE64URL.fullmatch(text) or len(text) % 4 == 1:
        raise ValueError("not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error as e:
        raise ValueError("not base64url") from e


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _json_object(data: bytes) -> dict[str, object]:
    obj = json.loads(data.decode(), parse_constant=_reject_constant)
    if not isinstance(obj, dict):
        raise ValueError("not an object")
    return obj


@dataclasses.dataclass(frozen=True)
class _Parsed:
    header: Mapping[str, object]
    claims: dict[str, object]
    signing_input: bytes
    signature: bytes


def _parse(token: str) -> _Parsed:
    """The unverified parse; ValueError when golang-jwt could not read the token."""
    parts = token.split(".")
    if len(parts) != 3:
        raise ValueError("not three parts")
    header = _json_object(_segment(parts[0]))
    claims = _json_object(_segment(parts[1]))
    if not registered_claims_ok(claims) or header.get("alg") not in _KNOWN_ALGORITHMS:
        raise ValueError("unreadable claims or algorithm")
    signature = _segment(parts[2])
    return _Parsed(header, claims, f"{parts[0]}.{parts[1]}".encode(), signature)


class TokenVerifier:
    """Verifies tokens against a set of API keys and secrets; ``clock`` gives Unix seconds."""

    def __init__(self, keys: Mapping[str, str], *, clock: Callable[[], float]) -> None:
        self._keys = {key: secret.encode() for key, secret in keys.items()}
        self._clock = clock

    def grant(self, authorization: str | None, query_token: str | None = None) -> Grant | None:
        """The grant of the request's token, ``None`` when there is no token or no ``video`` grant;
        TokenRejected if the token is bad."""
        if authorization:
            if not authorization.startswith(BEARER):
                raise TokenRejected("invalid authorization header. Must start with Bearer ")
            token = authorization[len(BEARER) :]
        else:
            token = query_token or ""
        if not token:
            return None
        return self._verify(token)

    def _verify(self, token: str) -> Grant | None:
        found = video_grant(self.claims(token))
        return None if found is None else Grant(room_admin=found[0], room=found[1], room_list=found[2])

    def claims(self, token: str) -> dict[str, object]:
        """The claims of ``token`` once it is verified; TokenRejected with the server's text if not."""
        try:
            parsed = _parse(token)
        except (ValueError, UnicodeError, RecursionError):
            raise TokenRejected("invalid authorization token") from None
        iss = claim(parsed.claims, "iss")
        api_key = iss if isinstance(iss, str) else ""  # registered_claims_ok let only str or null through
        secret = self._keys.get(api_key)
        if secret is None:
            raise TokenRejected(f"invalid API key: {api_key}")
        why = self._failure(parsed, secret)
        if why is not None:
            raise TokenRejected(f"invalid token: {token}, error: {why}")
        return parsed.claims

    def _failure(self, parsed: _Parsed, secret: bytes) -> str | None:
        """golang-jwt's error text for a token that fails the full check, else None."""
        type_error = grant_type_error(parsed.claims)
        if type_error is not None:
            return f"token is malformed: could not JSON decode claim: {type_error}"
        alg = parsed.header["alg"]
        if alg != "HS256":
            return f"token signature is invalid: signing method {alg} is invalid"
        expected = hmac.new(secret, parsed.signing_input, hashlib.sha256).digest()
        if not hmac.compare_digest(expected, parsed.signature):
            return "token signature is invalid: signature is invalid"
        now = self._clock()
        problems = []
        exp = numeric_date(claim(parsed.claims, "exp"))
        if exp is not None and not now < exp + LEEWAY_SECONDS:
            problems.append("token is expired")
        nbf = numeric_date(claim(parsed.claims, "nbf"))
        if nbf is not None and now < nbf - LEEWAY_SECONDS:
            problems.append("token is not valid yet")
        return "token has invalid claims: " + ", ".join(problems) if problems else None
