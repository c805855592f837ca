"""One Twirp JSON call over aiohttp: URL, headers, one deadline over its attempts, retries, logging."""

from __future__ import annotations

import asyncio
import logging
import math
import os
import platform
import random
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import TypeVar

import aiohttp
import betterproto2
from yarl import URL

from . import _codec
from ._auth import TokenSigner
from ._checks import require_positive_int, require_request_id, require_seconds
from ._http import Reply, post
from ._redact import cut, not_a, redacted
from ._retry import RetryPolicy, retry_after, should_retry
from ._version import __version__
from .errors import TwirpError, TwirpErrorCode, error_from_response

__all__ = ["METHODS", "REQUEST_ID_HEADER", "SERVICE", "Transport", "base_url"]

M = TypeVar("M", bound=betterproto2.Message)
logger = logging.getLogger("dispatch_client")

SERVICE = "livekit.AgentDispatchService"
REQUEST_ID_HEADER = "X-Livekit-Request-Id"
USER_AGENT = f"dispatch-client/{__version__} aiohttp/{aiohttp.__version__} python/{platform.python_version()}"
METHODS = ("CreateDispatch", "DeleteDispatch", "ListDispatch")
READ_ONLY = frozenset({"ListDispatch"})
# Safe to send twice: reads, and creates (deduplicated by the request id). Not a delete:
# the second one of a delete that was done answers not_found.
REPEATABLE = frozenset({"ListDispatch", "CreateDispatch"})
_MAX_TIMEOUT_MS = 2**63 - 1
_SCHEMES = {"http": "http", "https": "https", "ws": "http", "wss": "https"}


def base_url(url: str) -> str:
    """The HTTP base for a LiveKit URL: ws(s) becomes http(s), a path prefix is kept."""
    if not isinstance(url, str):
        raise ValueError(f"url must be a string, got {type(url).__name__}")
    try:
        parts = urllib.parse.urlsplit(url.strip())
        parts.port  # noqa: B018 -- parsed for its check: a port that is not a number raises
    except ValueError as e:
        raise ValueError(f"url is not a valid URL ({e}): {url!r}") from e
    scheme = _SCHEMES.get(parts.scheme.lower())
    if scheme is None or not parts.hostname:
        raise ValueError(f"url must look like https://host[:port][/prefix] (or ws/wss), got {url!r}")
    try:
        parts.hostname.encode("idna")
    except UnicodeError as e:
        raise ValueError(f"url has an invalid host name ({e}): {url!r}") from e
    if parts.query or parts.fragment or parts.username is not None:
        raise ValueError(f"url must not carry credentials, a query or a fragment, got {url!r}")
    return urllib.parse.urlunsplit((scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


class Transport:
    """Sends requests for one service on one aiohttp session; the session stays the caller's.

    ``sleep`` waits between attempts, ``rand`` (uniform in [0, 1)) spreads the waits and
    ``clock`` (Unix seconds) reads ``Retry-After`` dates; all three are injectable.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        signer: TokenSigner,
        *,
        timeout: float,
        max_response_bytes: int,
        retry: RetryPolicy,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rand: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not isinstance(session, aiohttp.ClientSession):
            raise ValueError(f"session must be an aiohttp.ClientSession, got {type(session).__name__}")
        if not isinstance(retry, RetryPolicy):
            raise ValueError(f"retry must be a RetryPolicy, got {retry!r}")
        self._session = session
        self._base = base_url(url)
        self._signer = signer
        self._timeout = require_seconds("timeout", timeout)
        self._max_bytes = require_positive_int("max_response_bytes", max_response_bytes)
        self._retry = retry
        self._sleep = sleep
        self._rand = rand
        self._clock = clock
        self._urls = {m: URL(f"{self._base}/twirp/{SERVICE}/{m}") for m in METHODS}
        self._headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }

    @property
    def base(self) -> str:
        return self._base

    async def call(
        self,
        method: str,
        room: str,
        request: betterproto2.Message,
        response_type: type[M],
        timeout: float | None = None,
        request_id: str | None = None,
    ) -> M:
        """POST ``request`` to ``method`` with a token for ``room``; raise TwirpError on failure.

        Failures that the retry policy allows are tried again, inside one deadline of
        ``timeout`` seconds. Every attempt carries the same ``X-Livekit-Request-Id``: the
        caller's ``request_id``, or a fresh one per call.
        """
        timeout = self._timeout if timeout is None else require_seconds("timeout", timeout)
        request_id = new_request_id() if request_id is None else require_request_id(request_id)
        try:
            body = _codec.encode(request)
        except (TypeError, ValueError) as e:  # orjson's JSONEncodeError is a TypeError
            raise ValueError(f"cannot encode {type(request).__name__} as JSON: {e}") from e
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        read_only, repeatable = method in READ_ONLY, method in REPEATABLE
        attempt = 1
        while True:
            started = loop.time()
            # From the cache while it has half its life left, so no attempt sends an expired one.
            token = self._signer.token(room)
            wait: float | None = None
            try:
                reply = await self._attempt(method, body, token, request_id, deadline - started, timeout)
            except TwirpError as e:
                err = e
            else:
                if reply.status == 200:
                    self._log_attempt(method, attempt, "HTTP 200", loop.time() - started, request_id)
                    try:
                        return _codec.decode(response_type, reply.body)
                    except _codec.DecodeError as e:
                        failure = e
                    raise redacted(not_a(response_type, method, reply.body, token, failure), token)
                err = error_from_response(reply.status, cut(reply.body, token), reply.location)
                wait = retry_after(reply.retry_after, self._clock())
            now = loop.time()
            outcome = f"HTTP {err.status} {err.code}" if err.status is not None else f"no answer ({err.code})"
            self._log_attempt(method, attempt, outcome, now - started, request_id)
            if attempt >= self._retry.attempts or not should_retry(
                err, read_only=read_only, repeatable=repeatable
            ):
                raise redacted(err, token)
            delay = self._retry.backoff(attempt, self._rand()) if wait is None else wait
            # A retry that would get less time than the failed attempt took, or under a
            # tenth of the timeout, would most likely end as deadline_exceeded and hide
            # the failure we know of; a Retry-After past the deadline is not waited for.
            if deadline - (now + delay) < max(now - started, timeout / 10):
                raise redacted(err, token)
            logger.info(
                "%s failed (%s); attempt %d of %d in %.2f s",
                method,
                redacted(err, token),
                attempt + 1,
                self._retry.attempts,
                delay,
            )
            await self._sleep(delay)
            attempt += 1

    async def _attempt(
        self, method: str, body: bytes, token: str, request_id: str, remaining: float, timeout: float
    ) -> Reply:
        """One POST with ``remaining`` seconds of the call's ``timeout`` left."""
        if self._session.closed:
            raise TwirpError(TwirpErrorCode.FAILED_PRECONDITION, "the aiohttp ClientSession is closed")
        if remaining <= 0:
            # The same cause as for a deadline that runs out during an attempt.
            message = f"{method}: the {timeout:g} s deadline passed"
            raise TwirpError(TwirpErrorCode.DEADLINE_EXCEEDED, message) from asyncio.TimeoutError()
        headers = dict(self._headers)
        headers["Authorization"] = "Bearer " + token
        headers[REQUEST_ID_HEADER] = request_id
        # Lets the server bound its own work to what the caller will still wait for.
        headers["X-Twirp-Timeout-Ms"] = str(timeout_ms(remaining))
        return await post(
            self._session,
            self._urls[method],
            body,
            headers,
            remaining=remaining,
            max_bytes=self._max_bytes,
            method=method,
            timeout=timeout,
        )

    @staticmethod
    def _log_attempt(method: str, attempt: int, outcome: str, elapsed: float, request_id: str) -> None:
        logger.debug(
            "%s attempt %d: %s in %.3f s (request %s)", method, attempt, outcome, elapsed, request_id
        )


def timeout_ms(remaining: float) -> int:
    """``remaining`` seconds in whole milliseconds for the header: rounded up, 1 to 2**63 - 1.

    Servers read the header as a 64-bit integer; the top is far past any timeout a call
    accepts, and is there so that no value can be sent that overflows it.
    """
    if remaining * 1000 >= _MAX_TIMEOUT_MS:
        return _MAX_TIMEOUT_MS
    return max(1, math.ceil(remaining * 1000))


def new_request_id() -> str:
    """A fresh id for one logical call: a random UUID4, in hex.

    The same bytes ``uuid.uuid4()`` draws, with its version and variant bits, without
    building a UUID object (a quarter of the cost, on every call).
    """
    b = bytearray(os.urandom(16))
    b[6] = b[6] & 0x0F | 0x40  # version 4
    b[8] = b[8] & 0x3F | 0x80  # the RFC 4122 variant
    return "REQ_" + b.hex()
