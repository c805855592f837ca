"""One Twirp JSON call over aiohttp: URL, headers, one deadline over its attempts, retries, logging."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import aiohttp
import betterproto2
from yarl import URL

from .._auth.signer import Signer
from .._checks import require_positive_int, require_request_id, require_seconds
from ..codec import container_limit
from ..errors import TwirpError, TwirpErrorCode
from ..telemetry._about import about
from ..telemetry._otel import Call, Telemetry
from .failover import Failover
from .http import Reply, post, session_usable
from .redact import cut, redacted
from .regions import Regions
from .request import (
    CONSTANT_HEADERS,
    METHODS,
    REQUEST_ID_HEADER,
    SERVICE,
    base_url,
    encoded,
    new_request_id,
    timeout_ms,
)
from .responses import decode_answer, error_from_response
from .retry import NODE_LIVENESS, RetryPolicy, may_have_acted, retry_after, should_retry

__all__ = ["CONNECT_TIMEOUT", "METHODS", "REQUEST_ID_HEADER", "SERVICE", "Find", "Transport"]

M = TypeVar("M", bound=betterproto2.Message)
# What a failed attempt made, found by the caller: (deadline on the loop's clock, request id) -> it or None.
Find = Callable[[float, str], Awaitable[M | None]]
logger = logging.getLogger("dispatch_client")

# The telemetry of the call under way in this task: its attempts are counted and traced there.
_CALL: contextvars.ContextVar[Call | None] = contextvars.ContextVar("dispatch_client_call", default=None)
READ_ONLY = frozenset({"ListDispatch", "ListRooms", "ListParticipants"})
# Calls that start their room when it is not running.
STARTS_ROOM = frozenset({"CreateDispatch"})
# Seconds an attempt may take to open its connection (name, TCP, TLS); with somewhere else to
# go (failover), at most a third of the call's timeout, so that a target dropping connection
# attempts leaves time for the next.
CONNECT_TIMEOUT = 2.0


class Transport:
    """Sends requests for one service on one aiohttp session: the caller's, or one made on demand
    by the callable given instead (which raises TwirpError when there can be none).

    ``sleep`` waits between attempts, ``rand`` (uniform in [0, 1)) spreads the waits and
    ``clock`` (Unix seconds) reads ``Retry-After`` dates; all three are injectable. An
    attempt whose connection is not open within ``connect_timeout`` (and a third of the
    call's timeout, with failover) ends as a connection that could not be made.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession | Callable[[], aiohttp.ClientSession],
        url: str,
        signer: Signer,
        *,
        timeout: float,
        max_response_bytes: int,
        retry: RetryPolicy,
        connect_timeout: float = CONNECT_TIMEOUT,
        regions: Regions | None = None,
        nodes: tuple[str, ...] = (),
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rand: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.time,
        telemetry: Telemetry | None = None,
    ) -> None:
        if isinstance(session, aiohttp.ClientSession):
            self._session: Callable[[], aiohttp.ClientSession] = lambda: session
        elif callable(session):
            self._session = session
        else:
            raise ValueError(f"session must be an aiohttp.ClientSession, got {type(session).__name__}")
        if not isinstance(retry, RetryPolicy):
            raise ValueError(f"retry must be a RetryPolicy, got {retry!r}")
        self._base = base_url(url)
        self._signer = signer
        self._timeout = require_seconds("timeout", timeout)
        self._connect_timeout = require_seconds("connect_timeout", connect_timeout)
        self._max_bytes = require_positive_int("max_response_bytes", max_response_bytes)
        self._max_containers = container_limit(self._max_bytes)
        self._retry = retry
        self._sleep = sleep
        self._rand = rand
        self._clock = clock
        self._urls = {m: URL(f"{self._base}/twirp/{service}/{m}") for m, service in METHODS.items()}
        # Failover across ``nodes`` (the other nodes of a cluster, base URLs), or across the
        # regions of a LiveKit Cloud host (see failover).
        self._failover = Failover.of(regions, self._base, nodes, clock=clock)
        self._headers = dict(CONSTANT_HEADERS)
        if telemetry is not None and not isinstance(telemetry, Telemetry):
            raise ValueError(f"telemetry must be a dispatch_client.telemetry.Telemetry, got {telemetry!r}")
        self._telemetry = Telemetry() if telemetry is None else telemetry

    @property
    def telemetry(self) -> Telemetry:
        return self._telemetry

    @property
    def base(self) -> str:
        return self._base

    @property
    def timeout(self) -> float:
        """The call timeout used when a call gives none."""
        return self._timeout

    async def call(
        self,
        method: str,
        room: str,
        request: betterproto2.Message,
        response_type: type[M],
        timeout: float | None = None,
        request_id: str | None = None,
        find: Find[M] | None = None,
    ) -> M:
        """:meth:`_call` in its span (telemetry), with its outcome logged when it is unknown."""
        with self._telemetry.call(METHODS[method], method, room, about(request)) as record:
            token = _CALL.set(record)
            try:
                result = await self._call(method, room, request, response_type, timeout, request_id, find)
            except TwirpError as e:
                record.finished(e)
                if e.outcome_unknown:
                    logger.info("%s: outcome unknown: %s", method, e)
                raise
            finally:
                _CALL.reset(token)
            record.set(about(result))
            record.finished(None)
            return result

    async def _call(
        self,
        method: str,
        room: str,
        request: betterproto2.Message,
        response_type: type[M],
        timeout: float | None = None,
        request_id: str | None = None,
        find: Find[M] | None = None,
    ) -> M:
        """POST ``request`` to ``method`` with a token for ``room``; raise TwirpError on failure.

        Failures that the retry policy allows are tried again, inside one deadline of
        ``timeout`` seconds. Every attempt carries the same ``X-Livekit-Request-Id``: the
        caller's ``request_id``, or a fresh one per call.

        A call that changes something is never sent again after a failure that may follow
        the server's work, unless ``find`` can tell: ``find(deadline, request_id)`` returns
        the call's result when the failed attempt was done, None when it was not (then the
        call is tried again if the failure is one worth retrying), and raises TwirpError when
        it cannot tell. A failure that may have been acted on and was not found out is
        raised with ``outcome_unknown`` set.
        """
        timeout = self._timeout if timeout is None else require_seconds("timeout", timeout)
        request_id = new_request_id() if request_id is None else require_request_id(request_id)
        body = encoded(request)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        read_only = method in READ_ONLY
        attempt = 1
        route = self._failover.route() if self._failover is not None else None
        last: TwirpError | None = None  # the failure of the attempt before
        while True:
            started = loop.time()
            # Nothing is sent on a closed session (or one of another loop) or with the deadline
            # spent: raised as they are.
            session = self._session()
            unusable = session_usable(session)
            if unusable is not None:
                raise unusable
            if started >= deadline:
                message = f"{method}: the {timeout:g} s deadline passed"
                # The same cause as for a deadline that runs out during an attempt.
                raise TwirpError(TwirpErrorCode.DEADLINE_EXCEEDED, message) from asyncio.TimeoutError()
            # From the cache while it has half its life left, so no attempt sends an expired one.
            # A pre-signed token refuses (ValueError) before the first attempt; one that expires
            # later ends the call with the failure already known.
            try:
                token = self._signer.token(room, list_rooms=method == "ListRooms")
            except ValueError:
                if last is None:
                    raise
                # Every failure that led to a retry is one that was not done (or was checked).
                raise redacted(last, token) from None
            wait: float | None = None
            try:
                url = route.url(method, self._urls[method]) if route is not None else self._urls[method]
                reply = await self._attempt(session, url, method, body, token, request_id, deadline, timeout)
            except TwirpError as e:
                err = e
            else:
                if reply.status == 200:
                    self._log_attempt(method, attempt, "HTTP 200", loop.time() - started, request_id)
                    decoded = await decode_answer(
                        response_type, reply.body, token, method, deadline, self._max_containers, timeout
                    )
                    if not isinstance(decoded, TwirpError):
                        if route is not None:
                            route.succeeded(session, token)
                        return decoded
                    err = decoded
                else:
                    err = error_from_response(reply.status, cut(reply.body, token), reply.location, token)
                    wait = retry_after(reply.retry_after, self._clock())
            now = loop.time()
            if route is not None:  # a target that cannot be reached cools down (see failover)
                route.failed(err)
            if err.status != 200:
                outcome = (
                    f"HTTP {err.status} {err.code}" if err.status is not None else f"no answer ({err.code})"
                )
                self._log_attempt(method, attempt, outcome, now - started, request_id)
            # A create or delete that may have been done is sent again only once ``find`` has
            # checked that it was not; a failure that means nothing was done (a connection
            # never made, a 429) is retried as for any call.
            acted = not read_only and may_have_acted(err)
            checked = acted and find is not None and self._retry.attempts > 1
            # A create that found no node for its room (in a cluster: the room's node is down)
            # did nothing, and succeeds once another node takes the room over: it is tried again
            # until then, for as long as the deadline lets it, whatever the policy's attempts.
            moved = method in STARTS_ROOM and err.room_not_running and self._retry.attempts > 1
            retry = moved or (
                attempt < self._retry.attempts
                and should_retry(err, read_only=read_only or checked, repeatable=read_only or checked)
            )
            if not (retry or checked):
                raise redacted(err, token, outcome_unknown=acted)
            delay = self._retry.backoff(attempt, self._rand()) if wait is None else wait
            if moved:
                delay = max(delay, NODE_LIVENESS - (now - started))
            # A retry that would get less time than the failed attempt took, or under a
            # tenth of the timeout, would most likely end as deadline_exceeded and hide
            # the failure we know of; a Retry-After past the deadline is not waited for.
            if deadline - (now + delay) < max(now - started, timeout / 10):
                raise redacted(err, token, outcome_unknown=acted)
            if checked:
                assert find is not None
                logger.info(
                    "%s failed (%s) and may have been done; checking in %.2f s",
                    method,
                    redacted(err, token),
                    delay,
                )
                await self._sleep(delay)
                try:
                    made = await find(deadline, request_id)
                except TwirpError as e:
                    logger.info("%s: cannot tell whether the failed attempt was done (%s)", method, e)
                    raise redacted(err, token, outcome_unknown=True) from None
                if made is not None:
                    logger.info("%s: the failed attempt was done; its result is returned", method)
                    return made
                if not retry or deadline - loop.time() < max(now - started, timeout / 10):
                    raise redacted(err, token)
                logger.info(
                    "%s: the failed attempt was not done; attempt %d of %d",
                    method,
                    attempt + 1,
                    self._retry.attempts,
                )
            else:
                logger.info(
                    "%s failed (%s); attempt %d of %d in %.2f s",
                    method,
                    redacted(err, token),
                    attempt + 1,
                    self._retry.attempts,
                    delay,
                )
                await self._sleep(delay)
            last = err
            # The next attempt may go to another node or region (see failover).
            if route is not None and await route.next(session, token, deadline - loop.time(), err):
                logger.info("%s: attempt %d goes to %s", method, attempt + 1, route.target)
            attempt += 1

    async def aclose(self) -> None:
        """Stop a region fetch still running in the background."""
        if self._failover is not None:
            await self._failover.aclose()

    async def _attempt(
        self,
        session: aiohttp.ClientSession,
        url: URL,
        method: str,
        body: bytes,
        token: str,
        request_id: str,
        deadline: float,
        timeout: float,
    ) -> Reply:
        """One POST until ``deadline`` (the loop's clock), within the call's ``timeout``."""
        headers = dict(self._headers)
        headers["Authorization"] = "Bearer " + token
        headers[REQUEST_ID_HEADER] = request_id
        record = _CALL.get()
        if record is None:
            return await self._post(session, url, body, headers, deadline, method, timeout)
        with record.attempt(url.host, url.port) as attempt:
            attempt.inject(headers)  # traceparent: the server's work is part of the attempt
            try:
                reply = await self._post(session, url, body, headers, deadline, method, timeout)
            except TwirpError as e:
                attempt.failed(e)
                raise
            attempt.answered(reply.status)
            return reply

    async def _post(
        self,
        session: aiohttp.ClientSession,
        url: URL,
        body: bytes,
        headers: dict[str, str],
        deadline: float,
        method: str,
        timeout: float,
    ) -> Reply:
        # Lets the server bound its own work to what the caller will still wait for.
        now = asyncio.get_running_loop().time()
        headers["X-Twirp-Timeout-Ms"] = str(timeout_ms(deadline - now))
        return await post(
            session,
            url,
            body,
            headers,
            deadline=deadline,
            connect_by=now + min(self._connect_timeout, timeout / 3 if self._failover else timeout),
            max_bytes=self._max_bytes,
            method=method,
            timeout=timeout,
        )

    @staticmethod
    def _log_attempt(method: str, attempt: int, outcome: str, elapsed: float, request_id: str) -> None:
        logger.debug(
            "%s attempt %d: %s in %.3f s (request %s)", method, attempt, outcome, elapsed, request_id
        )
