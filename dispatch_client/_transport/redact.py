"""The bearer token stays out of what a call raises: bodies, messages, meta and causes.

A proxy or server that echoes request headers back, and aiohttp errors that keep the
request they were raised for, must not put the token into the caller's exceptions and logs.
"""

from __future__ import annotations

import aiohttp
import betterproto2

from .. import codec as _codec
from ..errors import TwirpError, TwirpErrorCode

__all__ = ["REDACTED", "cut", "not_a", "redacted", "without_credentials"]

REDACTED = "[redacted]"


def cut(body: bytes, token: str) -> bytes:
    """``body`` with the token taken out, before any of it is quoted (or cut short) in an error."""
    return body.replace(token.encode(), REDACTED.encode())


def without_credentials(e: BaseException) -> BaseException:
    """``e``, or for an aiohttp error that keeps its request a copy whose request is cleaned.

    ``ClientResponseError`` and its kind carry the request's headers in ``request_info``,
    and their ``repr()`` shows them: the copy has the same type, status, message and causes,
    with the ``Authorization`` value replaced and no redirect history.
    """
    if not isinstance(e, aiohttp.ClientResponseError):
        return e
    info = e.request_info
    headers = info.headers.copy()
    if "Authorization" in headers:
        headers["Authorization"] = "Bearer " + REDACTED
    # The proxy type of the original: a read-only view, as aiohttp hands it out.
    clean_info = aiohttp.RequestInfo(info.url, info.method, type(info.headers)(headers), info.real_url)
    clean = type(e)(clean_info, (), status=e.status, message=e.message, headers=e.headers)
    clean.__cause__ = e.__cause__
    clean.__context__ = e.__context__
    clean.__suppress_context__ = e.__suppress_context__
    return clean.with_traceback(e.__traceback__)


def not_a(
    response_type: type[betterproto2.Message],
    method: str,
    body: bytes,
    token: str,
    failure: _codec.DecodeError,
) -> TwirpError:
    """The error for a 200 whose body is not a ``response_type``.

    The decoder and the meta quote the body only in part, so an echoed token is cut out
    first: when the body holds it, the failure reported is that of the body without it.
    """
    data = cut(body, token)
    if data != body:
        try:
            _codec.decode(response_type, data)
        except _codec.DecodeError as e:
            failure = e
        else:
            failure = _codec.DecodeError("the body quotes the request's token")
    err = TwirpError(
        TwirpErrorCode.INTERNAL,
        f"{method}: the response is not a valid {response_type.__name__}: {failure}",
        meta={"body": data[:4096].decode("utf-8", errors="replace")},
        status=200,
    )
    err.__cause__ = failure
    return err


# A piece of the token's signature this long, quoted anywhere, gives the signature away with
# what else is guessable (a reply cut across reads can quote just the token's tail).
_PIECE = 12
PIECE_REDACTED = "[redacted: it quoted part of the token]"


def _pieces(token: str) -> list[str]:
    signature = token.rsplit(".", 1)[-1]
    return [signature[i : i + _PIECE] for i in range(max(0, len(signature) - _PIECE + 1))]


def _clean(text: str, token: str, pieces: list[str]) -> str:
    text = text.replace(token, REDACTED)
    return PIECE_REDACTED if any(p in text for p in pieces) else text


def redacted(err: TwirpError, token: str, *, outcome_unknown: bool = False) -> TwirpError:
    """``err``, or a copy of it with the token cut out of its message and meta (keys and values).

    A text that still quotes a piece of the token's signature (a reply split across reads can
    quote just its tail) is replaced as a whole. The copy has no causes at all when the token,
    or such a piece, shows in the text or ``repr()`` of any exception reachable from ``err``
    through ``__cause__`` and ``__context__``. ``outcome_unknown`` is set on what is returned.
    """
    err.outcome_unknown = outcome_unknown
    pieces = _pieces(token)
    leaked_cause = _shows(err.__cause__, token, pieces) or _shows(err.__context__, token, pieces)
    texts = [err.message, *err.meta.keys(), *err.meta.values()]
    if not leaked_cause and all(_clean(t, token, pieces) == t for t in texts):
        return err
    clean = TwirpError(
        err.code,
        _clean(err.message, token, pieces),
        meta={_clean(k, token, pieces): _clean(v, token, pieces) for k, v in err.meta.items()},
        status=err.status,
        outcome_unknown=outcome_unknown,
    )
    clean.__cause__ = None if leaked_cause else err.__cause__
    clean.__suppress_context__ = True
    return clean


def _shows(first: BaseException | None, token: str, pieces: list[str]) -> bool:
    """True when the token, or a piece of its signature, is in the text of ``first`` or of an
    exception behind it."""
    todo = [first]
    seen: set[int] = set()
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        texts = (str(e), repr(e), repr(e.args))
        if any(token in text or any(p in text for p in pieces) for text in texts):
            return True
        todo += [e.__cause__, e.__context__]
    return False
