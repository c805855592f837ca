"""What every service is built from: its settings, its session (given, or its own), its
transport, and its lifetime (``open``, ``aclose``, ``async with``)."""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from ssl import SSLContext
from types import TracebackType
from typing import Self

import aiohttp

from .. import codec as _codec
from .._auth.signer import DEFAULT_TTL
from .._generated.livekit import (
    AgentDispatch,
    CreateAgentDispatchRequest,
    DeleteAgentDispatchRequest,
    ListAgentDispatchRequest,
    ListAgentDispatchResponse,
    ListParticipantsRequest,
    ListParticipantsResponse,
    ListRoomsRequest,
    ListRoomsResponse,
)
from .._transport.call import CONNECT_TIMEOUT, Transport
from .._transport.regions import DEFAULT_HOSTS
from .._transport.retry import RetryPolicy
from .._transport.sources import node_list
from ..errors import TwirpError, TwirpErrorCode
from ..fleet._coordinator import Coordinator
from ..telemetry._otel import Telemetry
from .session import OwnedSession, tls_context
from .settings import from_environment, regions_for, signer_for
from .turns import Turns

__all__ = [
    "DEFAULT_JOB_WAIT",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_RETRY",
    "DEFAULT_TIMEOUT",
    "ServiceBase",
]

DEFAULT_TIMEOUT = 10.0
DEFAULT_JOB_WAIT = 30.0
DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024
DEFAULT_RETRY = RetryPolicy()
_MESSAGES = (
    CreateAgentDispatchRequest,
    DeleteAgentDispatchRequest,
    ListAgentDispatchRequest,
    AgentDispatch,
    ListAgentDispatchResponse,
    ListRoomsRequest,
    ListRoomsResponse,
    ListParticipantsRequest,
    ListParticipantsResponse,
)


class ServiceBase:
    """The settings and lifetime of :class:`dispatch_client.AgentDispatchService`."""

    def __init__(
        self,
        session: aiohttp.ClientSession | None,
        url: str,
        api_key: str | None = None,
        api_secret: str | None = None,
        *,
        token: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        connect_timeout: float = CONNECT_TIMEOUT,
        token_ttl: float = DEFAULT_TTL,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        retry: RetryPolicy = DEFAULT_RETRY,
        ssl: SSLContext | bool | None = None,
        ca_file: str | os.PathLike[str] | None = None,
        trust_env: bool = False,
        failover: bool = True,
        cloud_hosts: tuple[str, ...] = DEFAULT_HOSTS,
        urls: Sequence[str] = (),
        coordinator: Coordinator | None = None,
        telemetry: Telemetry | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        """A service on ``session`` (yours: it stays open), or on a session of its own made when
        first needed (``None``; :meth:`aclose` closes it). :meth:`open` reads the environment
        for what is left out; this constructor does not.

        :param session: an ``aiohttp.ClientSession`` of yours, or ``None``.
        :param url: the server's URL, a path prefix kept;
            ``https://``, ``http://``, ``wss://`` or ``ws://``; several, separated by commas,
            are a cluster's nodes.
        :param api_key: signs the calls' tokens, with ``api_secret``.
        :param api_secret: signs the calls' tokens, with ``api_key``.
        :param token: a token signed elsewhere, sent as it is (instead of a key and secret).
        :param timeout: seconds a call may take end to end, retries included (each method
            takes its own ``timeout`` too).
        :param connect_timeout: seconds an attempt waits for its connection to open (with
            failover, at most a third of ``timeout``); one that does not open is tried again,
            elsewhere if there is an elsewhere, and did nothing.
        :param token_ttl: seconds a signed token lives.
        :param max_response_bytes: answers larger than this are refused (``internal``).
        :param retry: what is tried again, how often and how patiently.
        :param ssl: an ``ssl.SSLContext``, ``False`` for no certificate checks (with a warning),
            or ``None`` for the system's CAs; only for a session the service makes.
        :param ca_file: a PEM bundle of the CAs to trust instead of the system's.
        :param trust_env: proxies (``HTTPS_PROXY``, ...) and ``.netrc`` from the environment.
        :param failover: for a host matching ``cloud_hosts``, an attempt that is tried again
            goes to the next region the server lists; ``False``: only ever ``url``.
        :param cloud_hosts: the host patterns that are LiveKit Cloud.
        :param urls: more nodes of a cluster, tried when one cannot be reached (docs/failover.md).
        :param coordinator: a ``dispatch_client.fleet.Coordinator`` (such as
            :class:`dispatch_client.fleet.RedisCoordinator`) that :meth:`ensure_dispatch` takes
            turns through with every process sharing it; the service does not close it.
        :param telemetry: where spans and metrics go (a
            :class:`dispatch_client.telemetry.Telemetry`; OpenTelemetry's global setup when
            ``None``; docs/observability.md).
        :param clock: the time, in Unix seconds (injectable for tests, as ``sleep`` and ``rand``).
        :param sleep: how the service waits between attempts.
        :param rand: random numbers in [0, 1), for the backoff's jitter.
        """
        # Every node's base URL, the configured one first (docs/failover.md, node lists).
        self._nodes = node_list(url, urls)
        regions = regions_for(failover, cloud_hosts)
        if regions is None and len(self._nodes) > 1:
            raise ValueError("several node URLs were given with failover=False: give one, or allow failover")
        signer = signer_for(api_key, api_secret, token, ttl=token_ttl, clock=clock)
        self._signer = signer
        self._sleep, self._rand, self._turns = sleep, rand, Turns()
        if coordinator is not None and not callable(getattr(coordinator, "acquire", None)):
            raise ValueError(f"coordinator must be a dispatch_client.fleet.Coordinator, got {coordinator!r}")
        self._coordinator = coordinator
        self._closed = False
        self._owned: OwnedSession | None = None
        if session is None:
            self._owned = OwnedSession(ssl=tls_context(ssl, ca_file), trust_env=trust_env)
        elif not isinstance(session, aiohttp.ClientSession):
            raise ValueError(
                f"session must be an aiohttp.ClientSession or None, got {type(session).__name__}"
            )
        elif ssl is not None or ca_file is not None or trust_env:
            raise ValueError("ssl=, ca_file= and trust_env= are for a session the service makes itself")
        self._given = session
        # The codec's per-class work is done here, once per process, instead of in the first call.
        _codec.prepare(*_MESSAGES)
        self._transport = Transport(
            self._session,
            self._nodes[0],
            signer,
            timeout=timeout,
            max_response_bytes=max_response_bytes,
            retry=retry,
            connect_timeout=connect_timeout,
            regions=regions,
            nodes=self._nodes[1:],
            sleep=sleep,
            rand=rand,
            clock=clock,
            telemetry=telemetry,
        )

    @classmethod
    def open(
        cls,
        url: str | None = None,
        api_key: str | None = None,
        api_secret: str | None = None,
        *,
        token: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        connect_timeout: float = CONNECT_TIMEOUT,
        token_ttl: float = DEFAULT_TTL,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        retry: RetryPolicy = DEFAULT_RETRY,
        ssl: SSLContext | bool | None = None,
        ca_file: str | os.PathLike[str] | None = None,
        trust_env: bool = False,
        failover: bool = True,
        cloud_hosts: tuple[str, ...] = DEFAULT_HOSTS,
        urls: Sequence[str] = (),
        coordinator: Coordinator | None = None,
        telemetry: Telemetry | None = None,
    ) -> Self:
        """A service with a session of its own, for an application's lifetime: close it with
        :meth:`aclose` (or use it as ``async with``). It may be made outside the event loop.

        Arguments left out come from the environment: ``LIVEKIT_URL`` (unless ``urls`` is
        given; it may list several nodes, separated by commas), and ``LIVEKIT_TOKEN`` or
        else ``LIVEKIT_API_KEY`` and ``LIVEKIT_API_SECRET`` (credentials passed as arguments
        win over all of these); ValueError names what is missing.

        :param url: the server's URL (default ``LIVEKIT_URL``), a path prefix kept;
            ``https://``, ``http://``, ``wss://`` or ``ws://``; several, separated by commas,
            are a cluster's nodes.
        :param api_key: signs the calls' tokens, with ``api_secret`` (default ``LIVEKIT_API_KEY``).
        :param api_secret: signs the calls' tokens (default ``LIVEKIT_API_SECRET``).
        :param token: a token signed elsewhere, sent as it is (default ``LIVEKIT_TOKEN``).
        :param timeout: seconds a call may take end to end, retries included (each method
            takes its own ``timeout`` too).
        :param connect_timeout: seconds an attempt waits for its connection to open (with
            failover, at most a third of ``timeout``); one that does not open is tried again,
            elsewhere if there is an elsewhere, and did nothing.
        :param token_ttl: seconds a signed token lives.
        :param max_response_bytes: answers larger than this are refused (``internal``).
        :param retry: what is tried again, how often and how patiently.
        :param ssl: an ``ssl.SSLContext``, ``False`` for no certificate checks (with a warning),
            or ``None`` for the system's CAs.
        :param ca_file: a PEM bundle of the CAs to trust instead of the system's.
        :param trust_env: proxies (``HTTPS_PROXY``, ...) and ``.netrc`` from the environment.
        :param failover: for a host matching ``cloud_hosts``, an attempt that is tried again
            goes to the next region the server lists; ``False``: only ever ``url``.
        :param cloud_hosts: the host patterns that are LiveKit Cloud.
        :param urls: more nodes of a cluster, tried when one cannot be reached (docs/failover.md).
        :param coordinator: a ``dispatch_client.fleet.Coordinator`` that
            :meth:`ensure_dispatch` takes turns through (docs/fleets.md); not closed here.
        :param telemetry: where spans and metrics go (a
            :class:`dispatch_client.telemetry.Telemetry`; OpenTelemetry's global setup when
            ``None``; docs/observability.md).
        """
        url, api_key, api_secret, token = from_environment(url, api_key, api_secret, token, urls=urls)
        return cls(
            None,
            url,
            api_key,
            api_secret,
            token=token,
            timeout=timeout,
            connect_timeout=connect_timeout,
            token_ttl=token_ttl,
            max_response_bytes=max_response_bytes,
            retry=retry,
            ssl=ssl,
            ca_file=ca_file,
            trust_env=trust_env,
            failover=failover,
            cloud_hosts=cloud_hosts,
            urls=urls,
            coordinator=coordinator,
            telemetry=telemetry,
        )

    def _session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise TwirpError(TwirpErrorCode.FAILED_PRECONDITION, "the service is closed")
        return self._owned() if self._owned is not None else self._given  # type: ignore[return-value]

    async def aclose(self) -> None:
        """Close the service (and the session it made); calls after it raise failed_precondition."""
        self._closed = True
        await self._transport.aclose()
        if self._owned is not None:
            await self._owned.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    @property
    def url(self) -> str:
        """The HTTP base URL calls go to (with several nodes: the first, the configured one)."""
        return self._transport.base

    @property
    def urls(self) -> tuple[str, ...]:
        """The HTTP base URL of every node calls may go to, :attr:`url` first: the URLs of
        ``url`` (one, or several separated by commas, as ``LIVEKIT_URL`` may hold them), then
        those of the ``urls=`` option not among them yet. One, without a node list (LiveKit
        Cloud regions found later are not in it). See docs/failover.md."""
        return self._nodes

    def __repr__(self) -> str:
        if len(self._nodes) > 1:
            return f"AgentDispatchService(urls={list(self._nodes)!r})"
        return f"AgentDispatchService(url={self.url!r})"
