"""How a non-200 HTTP answer becomes a TwirpError: a Twirp error body, or the Twirp spec's table."""

from __future__ import annotations

from typing import TypeVar

import betterproto2
import orjson

from ..codec import DeadlinePassed, DecodeError, decode_within
from ..errors import _BY_WIRE, TwirpError, TwirpErrorCode
from .redact import not_a

M = TypeVar("M", bound=betterproto2.Message)

__all__ = ["MAX_KEY", "MAX_META", "MAX_TEXT", "decode_answer", "error_from_response"]


def _code_for_intermediary(status: int) -> TwirpErrorCode:
    if 300 <= status < 400:
        return TwirpErrorCode.INTERNAL
    return {
        400: TwirpErrorCode.INTERNAL,
        401: TwirpErrorCode.UNAUTHENTICATED,
        403: TwirpErrorCode.PERMISSION_DENIED,
        404: TwirpErrorCode.BAD_ROUTE,
        # Not in the Twirp spec's table (which gives "unknown"): livekit-server from v1.13.6
        # answers a body over 10 MiB with a plain-text 413. Never retried (see retry.py).
        413: TwirpErrorCode.RESOURCE_EXHAUSTED,
        429: TwirpErrorCode.RESOURCE_EXHAUSTED,
        502: TwirpErrorCode.UNAVAILABLE,
        503: TwirpErrorCode.UNAVAILABLE,
        504: TwirpErrorCode.UNAVAILABLE,
    }.get(status, TwirpErrorCode.UNKNOWN)


# What an error keeps of an answer: a server (or anything claiming to be one) decides its size.
MAX_TEXT = 4096  # characters of a message, a meta value or a quoted body
MAX_KEY = 256  # characters of a meta key
MAX_META = 64  # meta entries


def _capped(text: str, limit: int = MAX_TEXT) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit} more characters)"


def _twirp_body(body: bytes) -> tuple[TwirpErrorCode, str, dict[str, str]] | None:
    """The (code, msg, meta) of a Twirp JSON error body, or None if it is not one."""
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(obj, dict):
        return None
    raw_code = obj.get("code")
    code = _BY_WIRE.get(raw_code) if isinstance(raw_code, str) else None
    msg = obj.get("msg", "")
    if code is None or not isinstance(msg, str):
        return None
    raw_meta = obj.get("meta")
    meta: dict[str, str] = {}
    if isinstance(raw_meta, dict):
        meta = {str(k): v if isinstance(v, str) else _as_text(v) for k, v in raw_meta.items()}
    return code, msg, meta


def _as_text(value: object) -> str:
    """A non-string meta value as JSON text; orjson writes less deep nesting than it reads."""
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        return repr(value)[:1000]


def error_from_response(
    status: int, body: bytes, location: str | None = None, secret: str | None = None
) -> TwirpError:
    """Turn a non-200 HTTP response into a TwirpError, following the Twirp spec.

    A redirect is always an error from an intermediary (redirects are not followed),
    whatever its body. Otherwise a body that is a Twirp error keeps its code, message
    and meta, and anything else (an HTML page from a proxy, an empty body, a JSON body
    whose code is not a Twirp code) is mapped from the HTTP status by the spec's table.
    ``secret`` (the request's token) is cut out of every text taken from the answer, as
    decoded (a JSON string may spell it with escapes), before any text is cut short to
    MAX_TEXT characters (and meta to MAX_META entries).
    """

    def clean(text: str, limit: int = MAX_TEXT) -> str:
        return _capped(text.replace(secret, "[redacted]") if secret else text, limit)

    is_redirect = 300 <= status < 400
    parsed = None if is_redirect else _twirp_body(body)
    if parsed is not None:
        code, msg, meta = parsed
        kept = {clean(k, MAX_KEY): clean(v) for k, v in list(meta.items())[:MAX_META]}
        return TwirpError(code, clean(msg), meta=kept, status=status)
    text = body.decode("utf-8", errors="replace")
    meta = {
        "http_error_from_intermediary": "true",
        "status_code": str(status),
        "body": clean(text),
    }
    if is_redirect:
        meta["location"] = clean(location or "", MAX_KEY * 4)
        message = f"unexpected HTTP {status} redirect to {meta['location'] or '(no location)'}"
    else:
        first_line = clean(text.strip().splitlines()[0], 200) if text.strip() else "(empty body)"
        if status == 401:
            # livekit-server's own token check answers in plain text, not as Twirp.
            message = f"the server did not accept the token: check the API key and secret ({first_line})"
        elif status == 413:
            message = (
                f"the request body is larger than the server accepts ({first_line}); livekit-server"
                " v1.13.6 and later refuse bodies over 10 MiB (HTTP 413)"
            )
        else:
            message = f"HTTP {status} from a non-Twirp responder: {first_line}"
    return TwirpError(_code_for_intermediary(status), message, meta=meta, status=status)


async def decode_answer(
    response_type: type[M], body: bytes, token: str, method: str, deadline: float, limit: int, timeout: float
) -> M | TwirpError:
    """A 200's body as ``response_type``, or the error it is: not such a message (``internal``,
    the token cut from what is quoted), or not decoded by the deadline (``deadline_exceeded``)."""
    try:
        return await decode_within(response_type, body, deadline=deadline, limit=limit)
    except DecodeError as e:
        failure: DecodeError | None = e
    except DeadlinePassed:
        failure = None
    # Outside the handler: the failure (which may quote the token) must not become the
    # __context__ of what not_a raises and catches inside.
    if failure is not None:
        return not_a(response_type, method, body, token, failure)
    return TwirpError(
        TwirpErrorCode.DEADLINE_EXCEEDED,
        f"{method}: the answer could not be decoded within {timeout:g} s",
        status=200,
    )
