"""One HTTP POST of a call: send, read the answer with a size cap, turn transport failures into errors.

The attempt is bounded by the call's deadline with ``asyncio.timeout_at``, not by aiohttp's
timeouts: aiohttp's timer uncancels the task once per timer it enters, and with more than one
per request a caller's cancel that lands just after the deadline fired was swallowed.

Until its connection is open (name, TCP and TLS), the same scope ends the attempt sooner, at
its connect bound: a host that drops connection attempts would otherwise hold the whole
deadline. The body tells when aiohttp starts writing it; until then nothing was sent, and an
attempt that ends before is known not to have reached any server (:class:`NotConnected`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses

import aiohttp
from yarl import URL

from ..errors import TwirpError, TwirpErrorCode
from .body import NotConnected, Started, body_of
from .redact import without_credentials

__all__ = ["Reply", "in_task", "post", "session_usable"]

_STREAM_FROM_BYTES = 1 << 20
# No timeout of aiohttp's own: the deadline is asyncio's (see the module's docstring).
_NO_AIOHTTP_TIMEOUT = aiohttp.ClientTimeout(total=None, connect=None, sock_read=None, sock_connect=None)


@dataclasses.dataclass(frozen=True)
class Reply:
    """The parts of an HTTP answer a call looks at."""

    status: int
    body: bytes
    location: str | None
    retry_after: str | None


def in_task() -> asyncio.Task[object]:
    task = asyncio.current_task()
    if task is None:
        raise RuntimeError("dispatch_client calls must run inside an asyncio task")
    return task


def session_usable(session: aiohttp.ClientSession) -> TwirpError | None:
    """Why nothing can be sent on ``session`` now (closed, or made on another loop), else None."""
    if session.closed:
        return TwirpError(TwirpErrorCode.FAILED_PRECONDITION, "the aiohttp ClientSession is closed")
    # aiohttp keeps the loop it was made on privately (its public ``loop`` is deprecated).
    loop = getattr(session, "_loop", None)
    if loop is not None and loop is not asyncio.get_running_loop():
        return TwirpError(
            TwirpErrorCode.FAILED_PRECONDITION,
            "the aiohttp ClientSession belongs to another event loop: make it inside the loop that calls",
        )
    return None


async def post(
    session: aiohttp.ClientSession,
    url: URL,
    body: bytes,
    headers: dict[str, str],
    *,
    deadline: float,
    connect_by: float,
    max_bytes: int,
    method: str,
    timeout: float,
) -> Reply:
    """POST ``body`` until ``deadline`` (the loop's clock), its connection open by
    ``connect_by`` (at most ``deadline``); any answer is a Reply.

    Failures without a usable answer raise TwirpError: ``deadline_exceeded`` when the time
    ran out (``status=None``: the call got no answer in time), ``unavailable`` for a lost
    or refused connection, or none open by ``connect_by`` (``status`` set when the status
    line arrived and the body did not), ``failed_precondition`` when the session was closed
    during the attempt,
    ``internal`` for a body over ``max_bytes``. A cancel of the calling task is raised as
    it is; a cancellation that nobody asked of the task (aiohttp cancels the calls waiting
    for a connection when its session closes) is one of the errors above. ``method`` and
    the call's ``timeout`` are for messages. A failure before the connection was open has
    a :class:`NotConnected` cause.
    """
    status: int | None = None
    task = in_task()
    cancels = task.cancelling()
    connect_by = min(connect_by, deadline)
    scope = asyncio.timeout_at(connect_by)
    connected = False

    def opened() -> None:
        nonlocal connected
        connected = True
        if connect_by < deadline and not scope.expired():
            with contextlib.suppress(RuntimeError):  # the attempt has ended meanwhile
                scope.reschedule(deadline)

    # aiohttp writes a bytes body in one go and warns (ResourceWarning) above 1 MiB; a
    # file-like body is streamed in chunks instead. A new one per attempt.
    data = body_of(body, Started(opened), stream=len(body) > _STREAM_FROM_BYTES)
    try:
        async with (
            scope,
            session.post(
                url,
                data=data,
                headers=headers,
                allow_redirects=False,
                raise_for_status=False,
                auto_decompress=True,
                timeout=_NO_AIOHTTP_TIMEOUT,
            ) as resp,
        ):
            status = resp.status
            answer = await _read(resp, max_bytes)
            return Reply(status, answer, resp.headers.get("Location"), resp.headers.get("Retry-After"))
    except asyncio.CancelledError as e:
        if task.cancelling() > cancels:
            raise  # the caller (or a scope around the call) asked this task to stop
        failure = _interrupted(session, method, timeout, status, expired=scope.expired())
        cause: BaseException = e
    except (TimeoutError, aiohttp.ClientError, OSError) as e:
        failure = _failed(e, session, method, timeout, status, expired=scope.expired())
        cause = without_credentials(e)
    except ValueError as e:  # a URL aiohttp cannot send to (a host that cannot be encoded, ...)
        failure = TwirpError(
            TwirpErrorCode.UNAVAILABLE, f"{method}: aiohttp refused the request to {url.host!r}"
        )
        text = f"{type(e).__name__}: {e}"[:1000]
        cause = NotConnected(text) if not connected else ValueError(text)
    if not connected and scope.expired():
        failure, cause = _not_connected(method, timeout, connect_by < deadline, url)
    # Raised outside the handler, so that the original error (which may hold the request's
    # headers) does not ride along as __context__ behind the cleaned cause.
    raise failure from cause


def _deadline_passed(method: str, timeout: float) -> TwirpError:
    return TwirpError(TwirpErrorCode.DEADLINE_EXCEEDED, f"{method}: no answer within {timeout:g} s")


def _not_connected(method: str, timeout: float, bound: bool, url: URL) -> tuple[TwirpError, NotConnected]:
    """The attempt's scope ended before its connection was open: at its connect bound
    (``bound``), or at the call's deadline."""
    where = f"{url.host}:{url.port}"
    if bound:
        what = f"{method}: cannot connect to {where}: no connection within the attempt's connect bound"
        return TwirpError(TwirpErrorCode.UNAVAILABLE, what), NotConnected(what)
    what = f"{method}: no connection to {where} within {timeout:g} s"
    return TwirpError(TwirpErrorCode.DEADLINE_EXCEEDED, what), NotConnected(what)


def _interrupted(
    session: aiohttp.ClientSession, method: str, timeout: float, status: int | None, *, expired: bool
) -> TwirpError:
    """A cancellation that the caller did not ask for: the deadline (on Python 3.11, whose
    timeout re-raises the cancel when the task was cancelled before), or aiohttp's own."""
    if expired:
        return _deadline_passed(method, timeout)
    if session.closed:
        return TwirpError(
            TwirpErrorCode.FAILED_PRECONDITION,
            f"{method}: the aiohttp ClientSession was closed during the call",
        )
    return TwirpError(
        TwirpErrorCode.UNAVAILABLE, f"{method}: aiohttp gave up on the request (cancelled)", status=status
    )


def _failed(
    e: BaseException,
    session: aiohttp.ClientSession,
    method: str,
    timeout: float,
    status: int | None,
    *,
    expired: bool,
) -> TwirpError:
    if expired:
        return _deadline_passed(method, timeout)
    meta = {"detail": (str(e) or type(e).__name__)[:1000]}
    if session.closed:
        code, what = (
            TwirpErrorCode.FAILED_PRECONDITION,
            "the aiohttp ClientSession was closed during the call",
        )
    else:
        code, what = TwirpErrorCode.UNAVAILABLE, _what_happened(e, status)
    return TwirpError(code, f"{method}: {what}", meta=meta, status=status)


def _what_happened(e: BaseException, status: int | None) -> str:
    """The failure in the user's terms; aiohttp's own text goes to ``meta["detail"]`` and the cause."""
    if isinstance(e, aiohttp.ClientSSLError):
        return "the TLS connection could not be set up (certificate or protocol)"
    if isinstance(e, aiohttp.ClientConnectorError):
        reason = e.os_error.strerror or type(e.os_error).__name__
        return f"cannot connect to {e.host}:{e.port}: {reason}"
    if isinstance(e, aiohttp.ServerDisconnectedError):
        return "the server closed the connection before it answered"
    if isinstance(e, aiohttp.ClientPayloadError):
        return f"the answer (HTTP {status}) was cut off" if status is not None else "the answer was cut off"
    if isinstance(e, aiohttp.ClientResponseError) and status is None:
        return "the answer is not valid HTTP (is the URL's scheme right?)"
    if isinstance(e, aiohttp.InvalidURL):
        return "the URL was refused by aiohttp"
    if isinstance(e, (aiohttp.ClientConnectionError, OSError)):
        return "the connection was lost"
    return "the request failed"


async def _read(resp: aiohttp.ClientResponse, limit: int) -> bytes:
    """The body, refusing more than ``limit`` bytes (counted after decompression)."""
    length = resp.content_length
    if length is not None and length > limit:
        raise _too_large(resp.status, limit)
    if length is not None and "Content-Encoding" not in resp.headers:
        return await resp.read()
    chunks = bytearray()
    async for chunk in resp.content.iter_chunked(1 << 16):
        chunks += chunk
        if len(chunks) > limit:
            raise _too_large(resp.status, limit)
    return bytes(chunks)


def _too_large(status: int, limit: int) -> TwirpError:
    return TwirpError(
        TwirpErrorCode.INTERNAL,
        f"response body larger than max_response_bytes={limit}",
        status=status,
    )
