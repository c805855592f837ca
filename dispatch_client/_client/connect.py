"""``connect()``: a service with a session of its own for one ``async with`` block."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from ssl import SSLContext

from .._auth.signer import DEFAULT_TTL
from .._transport.call import CONNECT_TIMEOUT
from .._transport.regions import DEFAULT_HOSTS
from .._transport.retry import RetryPolicy
from ..fleet._coordinator import Coordinator
from ..service import AgentDispatchService
from ..telemetry._otel import Telemetry
from .base import DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_RETRY, DEFAULT_TIMEOUT

__all__ = ["connect"]


@asynccontextmanager
async def connect(
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
) -> AsyncIterator[AgentDispatchService]:
    """:meth:`AgentDispatchService.open` for the block; the service and its session close on exit.

    Arguments left out come from ``LIVEKIT_URL``, and ``LIVEKIT_TOKEN`` or else
    ``LIVEKIT_API_KEY`` and ``LIVEKIT_API_SECRET``; a value missing from both raises ValueError
    naming the variable.

    :param url: the server's URL (default ``LIVEKIT_URL``), a path prefix kept;
        ``https://``, ``http://``, ``wss://`` or ``ws://``; several, separated by commas,
        are a cluster's nodes.
    :param api_key: signs the calls' tokens, with ``api_secret`` (default ``LIVEKIT_API_KEY``).
    :param api_secret: signs the calls' tokens (default ``LIVEKIT_API_SECRET``).
    :param token: a token signed elsewhere, sent as it is (default ``LIVEKIT_TOKEN``).
    :param timeout: seconds a call may take end to end, retries included (each method takes
        its own ``timeout`` too).
    :param connect_timeout: seconds an attempt waits for its connection to open (with
        failover, at most a third of ``timeout``); one that does not open is tried again,
        elsewhere if there is an elsewhere, and did nothing.
    :param token_ttl: seconds a signed token lives.
    :param max_response_bytes: answers larger than this are refused (``internal``).
    :param retry: what is tried again, how often and how patiently.
    :param ssl: an ``ssl.SSLContext``, ``False`` for no certificate checks (with a warning), or
        ``None`` for the system's CAs.
    :param ca_file: a PEM bundle of the CAs to trust instead of the system's.
    :param trust_env: proxies (``HTTPS_PROXY``, ...) and ``.netrc`` from the environment.
    :param failover: for a host matching ``cloud_hosts``, an attempt that is tried again goes
        to the next region the server lists; ``False``: only ever ``url``.
    :param cloud_hosts: the host patterns that are LiveKit Cloud.
    :param urls: more nodes of a cluster, tried when one cannot be reached (docs/failover.md).
    :param coordinator: a ``dispatch_client.fleet.Coordinator`` that
        :meth:`AgentDispatchService.ensure_dispatch` takes turns through (docs/fleets.md); not
        closed here.
    :param telemetry: where spans and metrics go (a
        :class:`dispatch_client.telemetry.Telemetry`; OpenTelemetry's global setup when
        ``None``; docs/observability.md).
    """
    service = AgentDispatchService.open(
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
    try:
        yield service
    finally:
        await service.aclose()
