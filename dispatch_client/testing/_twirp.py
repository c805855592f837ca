"""The Twirp side of the server: routes, encodings, request bodies, deadlines and error answers.

Each answer is what Twirp's Go server (v8.1.3, as livekit-server v1.13.5 uses it) writes:
routing errors are ``bad_route`` with ``meta.twirp_invalid_route``, a body that does not
decode is ``malformed``, and every error is a JSON body with the code's HTTP status.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal, TypeVar

import betterproto2
from aiohttp import web

from .. import codec as _codec
from ..errors import TwirpError, TwirpErrorCode
from . import _protobuf

__all__ = [
    "JSON",
    "PROTOBUF",
    "ROOM_SERVICE",
    "SERVICE",
    "SERVICES",
    "BodyTooLarge",
    "decode_request",
    "encoding_of",
    "error_response",
    "method_of",
    "plain_response",
    "read_body",
    "response",
    "timeout_of",
]

M = TypeVar("M", bound=betterproto2.Message)
Encoding = Literal["json", "protobuf"]
JSON: Encoding = "json"
PROTOBUF: Encoding = "protobuf"
PATH_PREFIX = "/twirp"
SERVICE = "livekit.AgentDispatchService"
ROOM_SERVICE = "livekit.RoomService"
# The Twirp services served and the methods of each (of RoomService, only the two reads of
# the room store; livekit-server has more).
SERVICES: dict[str, tuple[str, ...]] = {
    SERVICE: ("CreateDispatch", "DeleteDispatch", "ListDispatch"),
    ROOM_SERVICE: ("ListRooms", "ListParticipants"),
}
_CONTENT_TYPES: dict[str, Encoding] = {"application/json": JSON, "application/protobuf": PROTOBUF}
# Go's encoding/json escapes these in every string it writes.
_GO_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_JSON_SPACE = " \t\n\r"
_INT64 = 2**63
_GO_INT = re.compile(r"[+-]?[0-9]+")


class BodyTooLarge(Exception):
    """The request body is over the limit; answered with a plain-text 413."""


def _go_quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _go_json(obj: object) -> bytes:
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    for raw, escaped in _GO_ESCAPES.items():
        text = text.replace(raw, escaped)
    return text.encode()


def error_response(err: TwirpError) -> web.Response:
    """A Twirp error as JSON, with the HTTP status of its code (``meta`` only when not empty)."""
    body: dict[str, object] = {"code": err.code.value, "msg": err.message}
    if err.meta:
        body["meta"] = err.meta
    return web.Response(status=err.code.http_status, body=_go_json(body), content_type="application/json")


def plain_response(status: int, text: str) -> web.Response:
    """An answer from outside Twirp (token checks, body size), as livekit-server writes them:
    ``text/plain; charset=utf-8``."""
    return web.Response(status=status, text=text)


def _bad_route(message: str, http_method: str, path: str) -> TwirpError:
    return TwirpError(
        TwirpErrorCode.BAD_ROUTE, message, meta={"twirp_invalid_route": f"{http_method} {path}"}
    )


def method_of(http_method: str, path: str) -> str:
    """The RPC a request is for; TwirpError ``bad_route`` when there is none."""
    if http_method != "POST":
        message = f"unsupported method {_go_quote(http_method)} (only POST is allowed)"
        raise _bad_route(message, http_method, path)
    parts = path.split("/")
    if len(parts) < 2 or parts[-2] not in SERVICES:
        raise _bad_route(f"no handler for path {_go_quote(path)}", http_method, path)
    prefix = "/".join(parts[:-2])
    if prefix != PATH_PREFIX:
        raise _bad_route(
            f"invalid path prefix {_go_quote(prefix)}, expected {_go_quote(PATH_PREFIX)}, "
            f"on path {_go_quote(path)}",
            http_method,
            path,
        )
    if parts[-1] not in SERVICES[parts[-2]]:
        raise _bad_route(f"no handler for path {_go_quote(path)}", http_method, path)
    return parts[-1]


def encoding_of(content_type: str, http_method: str, path: str) -> Encoding:
    """The encoding named by a Content-Type header; ``bad_route`` for anything else."""
    found = _CONTENT_TYPES.get(content_type.split(";", 1)[0].strip().lower())
    if found is None:
        raise _bad_route(f"unexpected Content-Type: {_go_quote(content_type)}", http_method, path)
    return found


async def read_body(request: web.Request, limit: int | None) -> bytes:
    """The whole body; BodyTooLarge once more than ``limit`` bytes came (at most one chunk more is read)."""
    length = request.content_length
    if limit is not None and length is not None and length > limit:
        raise BodyTooLarge
    body = bytearray()
    while True:
        chunk = await request.content.readany()
        if not chunk:
            return bytes(body)
        body += chunk
        if limit is not None and len(body) > limit:
            raise BodyTooLarge


def timeout_of(header: str | None) -> float | None:
    """The call's deadline in seconds from ``X-Twirp-Timeout-Ms``, as livekit-server reads it.

    The value must parse as Go's ``strconv.ParseInt(v, 10, 64)`` (else it is ignored); it
    is then multiplied into nanoseconds in int64, wrapping around, so a value beyond about
    292 years becomes a deadline that has already passed, like 0 and negative values.
    """
    if header is None or not _GO_INT.fullmatch(header):
        return None
    millis = int(header)
    if not -_INT64 <= millis < _INT64:
        return None
    nanos = (millis * 1_000_000 + _INT64) % (2 * _INT64) - _INT64
    return nanos / 1e9


def _reject_pair(_: object) -> Any:
    raise ValueError("not a JSON value")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise ValueError("a key appears twice in one object")
    return obj


def _first_json_value(body: bytes) -> bytes:
    """The bytes of the first JSON value of ``body``: Twirp reads no further than that.

    Keys repeated in one object and the bare words NaN and Infinity are refused here,
    as Go refuses them; the codec then reads the value itself.
    """
    text = body.decode("utf-8", errors="surrogateescape")
    start = len(text) - len(text.lstrip(_JSON_SPACE))
    decoder = json.JSONDecoder(object_pairs_hook=_unique_keys, parse_constant=_reject_pair)
    try:
        _, end = decoder.raw_decode(text, start)
    except (ValueError, RecursionError) as e:
        raise _codec.DecodeError(f"not a JSON value: {e}") from None
    return text[start:end].encode("utf-8", errors="surrogateescape")


def decode_request(cls: type[M], body: bytes, encoding: Encoding) -> M:
    """The request message in ``body``; TwirpError ``malformed`` when it does not decode."""
    try:
        if encoding == PROTOBUF:
            return _protobuf.decode(cls, body)
        return _codec.decode(cls, _first_json_value(body))
    except (_codec.DecodeError, _protobuf.WireError) as e:
        what = "protobuf" if encoding == PROTOBUF else "json"
        raise TwirpError(TwirpErrorCode.MALFORMED, f"the {what} request could not be decoded") from e


# Fields of the newer schema (livekit/protocol v1.54.1) that v1.13.5's does not have: it never writes them.
NEWER_THAN_V1_13_5 = frozenset(
    {
        ("AgentDispatch", "thread_id"),
        ("AgentDispatchState", "trigger"),
        ("Job", "created_at"),
        ("Job", "thread_id"),
        *(
            ("JobState", attr)
            for attr in (
                "accepted_at",
                "assigned_at",
                "attempts",
                "first_started_at",
                "agent_failed_attempts_ns",
                "workers_asked",
            )
        ),
    }
)


def response(msg: betterproto2.Message, encoding: Encoding) -> web.Response:
    """A 200 with ``msg`` in the request's encoding; JSON with every field v1.13.5 has, as it writes."""
    if encoding == PROTOBUF:
        return web.Response(body=bytes(msg), content_type="application/protobuf")
    body = _codec.encode(msg, emit_unpopulated=True, leave_out=NEWER_THAN_V1_13_5)
    return web.Response(body=body, content_type="application/json")
