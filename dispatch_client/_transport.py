"""One Twirp JSON call over aiohttp: URL, headers, deadline, body cap, error mapping."""

from __future__ import annotations

import asyncio
import logging
import math
import platform
import random
import urllib.parse
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

import aiohttp
import betterproto2
from yarl import URL

from . import _codec
from ._auth import TokenSigner
from ._checks import require_positive_int, require_seconds
from ._retry import RetryPolicy, should_retry
from ._version import __version__
from .errors import TwirpError, TwirpErrorCode, error_from_response

__all__ = ["Transport", "base_url"]

M = TypeVar("M", bound=betterproto2.Message)
logger = logging.getLogger("dispatch_client")

SERVICE = "livekit.AgentDispatchService"
USER_AGENT = f"dispatch-client/{__version__} aiohttp/{aiohttp.__version__} python/{platform.python_version()}"
METHODS = ("CreateDispatch", "DeleteDispatch", "ListDispatch")
READ_ONLY = frozenset({"ListDispatch"})
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
    """Sends requests for one service on one aiohttp session; the session stays the caller's."""

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
    ) -> M:
        """POST ``request`` to ``method`` with a token for ``room``; raise TwirpError on failure.

        Failures that the retry policy allows are tried again, inside one deadline of
        ``timeout`` seconds. Every attempt carries the same ``X-Livekit-Request-Id``.
        """
        timeout = self._timeout if timeout is None else require_seconds("timeout", timeout)
        try:
            body = _codec.encode(request)
        except (TypeError, ValueError) as e:  # orjson's JSONEncodeError is a TypeError
            raise ValueError(f"cannot encode {type(request).__name__} as JSON: {e}") from e
        headers = dict(self._headers)
        headers["Authorization"] = "Bearer " + self._signer.token(room)
        headers["X-Livekit-Request-Id"] = "REQ_" + uuid.uuid4().hex
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        read_only = method in READ_ONLY
        attempt = 1
        while True:
            started = loop.time()
            try:
                data = await self._attempt(method, body, headers, deadline - started, timeout)
            except TwirpError as err:
                if attempt >= self._retry.attempts or not should_retry(err, read_only):
                    raise
                delay = self._retry.backoff(attempt, self._rand())
                now = loop.time()
                # A retry that would get less time than the failed attempt took, or under a
                # tenth of the timeout, would most likely end as deadline_exceeded and hide
                # the failure we know of.
                if deadline - (now + delay) < max(now - started, timeout / 10):
                    raise
                logger.info(
                    "%s failed (%s); attempt %d of %d in %.2f s",
                    method,
                    err,
                    attempt + 1,
                    self._retry.attempts,
                    delay,
                )
                await self._sleep(delay)
                attempt += 1
                continue
            try:
                return _codec.decode(response_type, data)
            except _codec.DecodeError as e:
                raise TwirpError(
                    TwirpErrorCode.INTERNAL,
                    f"{method}: the response is not a valid {response_type.__name__}: {e}",
                    meta={"body": data[:4096].decode("utf-8", errors="replace")},
                    status=200,
                ) from e

    async def _attempt(
        self, method: str, body: bytes, headers: dict[str, str], remaining: float, timeout: float
    ) -> bytes:
        """One POST with ``remaining`` seconds of the call's ``timeout`` left; the 200 body."""
        if self._session.closed:
            raise TwirpError(TwirpErrorCode.FAILED_PRECONDITION, "the aiohttp ClientSession is closed")
        if remaining <= 0:
            raise TwirpError(TwirpErrorCode.DEADLINE_EXCEEDED, f"{method}: the {timeout:g} s deadline passed")
        # Lets the server bound its own work to what the caller will still wait for.
        headers["X-Twirp-Timeout-Ms"] = str(max(1, math.ceil(remaining * 1000)))
        status: int | None = None
        try:
            async with self._session.post(
                self._urls[method],
                data=body,
                headers=headers,
                allow_redirects=False,
                raise_for_status=False,
                auto_decompress=True,
                # ceil_threshold: aiohttp would round timeouts over 5 s up to a whole second.
                timeout=aiohttp.ClientTimeout(total=remaining, ceil_threshold=math.inf),
            ) as resp:
                status = resp.status
                data = await self._read(resp)
                location = resp.headers.get("Location")
        except asyncio.TimeoutError as e:
            raise TwirpError(
                TwirpErrorCode.DEADLINE_EXCEEDED, f"{method}: no answer within {timeout:g} s", status=status
            ) from e
        except (aiohttp.ClientError, OSError) as e:
            # status is set when the status line arrived but the body did not.
            detail = str(e) or type(e).__name__
            raise TwirpError(TwirpErrorCode.UNAVAILABLE, f"{method}: {detail}", status=status) from e
        if status != 200:
            raise error_from_response(status, data, location)
        return data

    async def _read(self, resp: aiohttp.ClientResponse) -> bytes:
        """The body, refusing more than max_response_bytes (counted after decompression)."""
        limit = self._max_bytes
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
        TwirpErrorCode.RESOURCE_EXHAUSTED,
        f"response body larger than max_response_bytes={limit}",
        status=status,
    )
