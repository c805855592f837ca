"""Token claims read as Go's encoding/json reads them into livekit-server v1.13.5's claim types.

Go matches keys to fields case-insensitively, takes ``null`` as "leave the field alone" and
refuses a value of another JSON type with an error naming the first such field. The
registered claims (``iss``, ``exp``, ...) are read first, on their own; the grants after
the key is known. The grants other than ``video`` are checked only for being objects.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

__all__ = [
    "ClaimTypeError",
    "claim",
    "go_json_kind",
    "grant_type_error",
    "numeric_date",
    "registered_claims_ok",
    "video_grant",
]

_INT64_MIN = -(2**63)
_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_STRING_CLAIMS = ("iss", "sub", "jti")
_TIME_CLAIMS = ("exp", "nbf", "iat")
# Field name -> Go type, for the grants' fields that are not objects.
_GRANT_FIELDS = {
    "identity": "string",
    "name": "string",
    "kind": "string",
    "kindDetails": "[]string",
    "roomPreset": "string",
    "sha256": "string",
    "metadata": "string",
    "attributes": "map[string]string",
}
_GRANT_OBJECTS = {
    "video": "auth.VideoGrant",
    "sip": "auth.SIPGrant",
    "agent": "auth.AgentGrant",
    "inference": "auth.InferenceGrant",
    "observability": "auth.ObservabilityGrant",
    "roomConfig": "auth.RoomConfiguration",
}
_VIDEO_FIELDS = {
    **dict.fromkeys(
        [
            "roomCreate",
            "roomList",
            "roomRecord",
            "roomAdmin",
            "roomJoin",
            "canPublish",
            "canSubscribe",
            "canPublishData",
            "canUpdateOwnMetadata",
            "ingressAdmin",
            "hidden",
            "recorder",
            "agent",
            "canSubscribeMetrics",
            "canManageAgentSession",
        ],
        "bool",
    ),
    "room": "string",
    "destinationRoom": "string",
    "canPublishSources": "[]string",
}


class ClaimTypeError(Exception):
    """A claim of the wrong JSON type; the message is Go's."""


def go_json_kind(value: object) -> str:
    """How Go's encoding/json names the JSON type of a value in its errors."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def claim(obj: Mapping[str, object], name: str) -> object:
    """The value Go would store in field ``name``: an exact key, else one equal ignoring case."""
    if name in obj:
        return obj[name]
    for key, value in obj.items():
        if key.casefold() == name.casefold():
            return value
    return None


def numeric_date(value: object) -> float | None:
    """A time claim in Unix seconds as golang-jwt reads it (a number, or a string holding one),
    after Go's conversion to int64 seconds; ValueError when it cannot be read."""
    if value is None:
        return None
    if isinstance(value, str):  # Go takes a string only when it holds a JSON number literal
        value = float(value) if _JSON_NUMBER.fullmatch(value) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("not a number")
    try:
        seconds = float(value)
    except OverflowError:  # an integer beyond any double: Go's ParseFloat refuses it too
        raise ValueError("out of range") from None
    if not math.isfinite(seconds):
        raise ValueError("out of range")
    whole = math.trunc(seconds)
    if not _INT64_MIN <= whole < 2**63:
        whole = _INT64_MIN  # what Go's float-to-int64 conversion gives on amd64
    return whole + (seconds - math.trunc(seconds))


def registered_claims_ok(claims: Mapping[str, object]) -> bool:
    """Whether golang-jwt can read the registered claims (its first, unverified parse)."""
    for name in _STRING_CLAIMS:
        if not isinstance(claim(claims, name), (str, type(None))):
            return False
    aud = claim(claims, "aud")
    if not (
        aud is None
        or isinstance(aud, str)
        or (isinstance(aud, list) and all(isinstance(a, str) for a in aud))
    ):
        return False
    try:
        for name in _TIME_CLAIMS:
            numeric_date(claim(claims, name))
    except ValueError:
        return False
    return True


def _type_error(value: object, struct: str, path: str, go_type: str) -> ClaimTypeError:
    return ClaimTypeError(
        f"json: cannot unmarshal {go_json_kind(value)} into Go struct field {struct}.{path} of type {go_type}"
    )


def _check(value: object, go_type: str, struct: str, path: str) -> None:
    if value is None:
        return
    if go_type == "string" and not isinstance(value, str):
        raise _type_error(value, struct, path, go_type)
    if go_type == "bool" and not isinstance(value, bool):
        raise _type_error(value, struct, path, go_type)
    if go_type == "[]string":
        if not isinstance(value, list):
            raise _type_error(value, struct, path, go_type)
        for item in value:
            _check(item, "string", struct, path)
    if go_type == "map[string]string":
        if not isinstance(value, dict):
            raise _type_error(value, struct, path, go_type)
        for key, item in value.items():
            _check(item, "string", struct, f"{path}.{key}")


def grant_type_error(claims: Mapping[str, object]) -> str | None:
    """Go's error for the first grant claim of the wrong type, in the token's key order; else None."""
    names = {name.casefold(): name for name in (*_GRANT_FIELDS, *_GRANT_OBJECTS)}
    try:
        for key, value in claims.items():
            name = key if key in names.values() else names.get(key.casefold())
            if name in _GRANT_FIELDS:
                _check(value, _GRANT_FIELDS[name], "tokenClaims", f"ClaimGrants.{name}")
            elif name in _GRANT_OBJECTS and value is not None:
                if not isinstance(value, dict):
                    raise _type_error(value, "tokenClaims", f"ClaimGrants.{name}", _GRANT_OBJECTS[name])
                if name == "video":
                    _check_video(value)
    except ClaimTypeError as e:
        return str(e)
    return None


def _check_video(video: Mapping[str, object]) -> None:
    names = {name.casefold(): name for name in _VIDEO_FIELDS}
    for key, value in video.items():
        name = key if key in _VIDEO_FIELDS else names.get(key.casefold())
        if name is not None:
            _check(value, _VIDEO_FIELDS[name], "VideoGrant", f"ClaimGrants.video.{name}")


def video_grant(claims: Mapping[str, object]) -> tuple[bool, str, bool] | None:
    """``(roomAdmin, room, roomList)`` of a token whose types were checked; None without a
    ``video`` grant."""
    video = claim(claims, "video")
    if not isinstance(video, dict):
        return None
    room_admin, room, room_list = claim(video, "roomAdmin"), claim(video, "room"), claim(video, "roomList")
    return room_admin is True, room if isinstance(room, str) else "", room_list is True
