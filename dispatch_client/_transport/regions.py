"""Region discovery for LiveKit Cloud: the other regions' origins, from ``GET /settings/regions``.

LiveKit Cloud answers ``{"regions": [{"region", "url", "distance"}, ...]}`` there, with a
``Cache-Control: max-age`` saying how long the list holds. :class:`Regions` fetches it with
the call's token, keeps it per host for that long, and hands the transport the origins a
failed attempt may be retried at. Discovery is best effort: it never raises for what the
network or the server does; a failure gives the last list known, or none.
"""

from __future__ import annotations

import asyncio
import dataclasses
import fnmatch
import logging
import time
from collections.abc import Callable

import aiohttp
import orjson
from yarl import URL

from .region_answer import (
    MAX_CACHE_SECONDS,
    Unusable,
    cache_seconds,
    host_port,
    http_url,
    region_urls,
    well_formed,
)

__all__ = [
    "DEFAULT_HOSTS",
    "FETCH_TIMEOUT",
    "MAX_BODY_BYTES",
    "MAX_CACHE_SECONDS",
    "REFETCH_AFTER",
    "REGIONS_PATH",
    "Regions",
]

DEFAULT_HOSTS = ("*.livekit.cloud",)
REGIONS_PATH = "/settings/regions"
FETCH_TIMEOUT = 2.0  # seconds: discovery must not eat the call's deadline
MAX_BODY_BYTES = 64 * 1024
# Seconds before an origin is asked again after an answer that is not a region list (such as
# livekit-server's 404), and before a list that may not be kept is fetched in the background again.
REFETCH_AFTER = 60.0
logger = logging.getLogger("dispatch_client")
# What the network, the server or its answer can do to a fetch; our own bugs are not in here.
# RuntimeError: a session closed meanwhile (the call itself reports that).
_FETCH_FAILURES = (aiohttp.ClientError, OSError, TimeoutError, ValueError, RuntimeError)


@dataclasses.dataclass(frozen=True)
class _Cached:
    origins: tuple[str, ...]
    expires: float  # on the Regions clock


class Regions:
    """Which hosts fail over across regions, and the region origins to try for them.

    ``hosts`` are fnmatch-style patterns of host names (case-insensitive; ``*`` also spans
    dots); a base URL whose host matches one is a LiveKit Cloud project. ``clock`` gives
    monotonic seconds, for the cache.

    The token is never sent to a host outside ``hosts``: discovery asks only the configured
    base's own host, and a region whose host matches no pattern is dropped from the list,
    so the calls retried there cannot carry the token elsewhere either. Nor is an https base
    ever given an http region.
    """

    def __init__(
        self,
        hosts: tuple[str, ...] = DEFAULT_HOSTS,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not isinstance(hosts, tuple) or not all(isinstance(h, str) and h for h in hosts):
            raise ValueError(f"hosts must be a tuple of non-empty host patterns, got {hosts!r}")
        self._patterns = tuple(h.lower() for h in hosts)
        self._clock = clock
        self._cache: dict[str, _Cached] = {}
        self._refused: dict[str, float] = {}  # origin -> when it last answered with no region list
        self._asked: dict[str, float] = {}  # origin -> when it last answered at all

    @property
    def hosts(self) -> tuple[str, ...]:
        return self._patterns

    def _allowed(self, url: URL) -> bool:
        host = (url.host or "").lower()
        return any(fnmatch.fnmatchcase(host, pattern) for pattern in self._patterns)

    def applies(self, base_url: str) -> bool:
        """Whether the host of ``base_url`` (http, https, ws or wss) matches one of the patterns."""
        url = http_url(base_url)
        return url is not None and self._allowed(url)

    def known(self, base_url: str) -> bool:
        """Whether a region list fetched for ``base_url``'s origin is kept, fresh or stale."""
        base = http_url(base_url)
        return base is not None and str(base.origin()).lower() in self._cache

    def due(self, base_url: str) -> bool:
        """Whether a fetch in the background for ``base_url``'s origin would be of use: no list is
        kept for it, and it has not answered in the last :data:`REFETCH_AFTER` seconds."""
        base = http_url(base_url)
        if base is None:
            return False
        key = str(base.origin()).lower()
        return key not in self._cache and not self._recent(self._asked, key)

    def _recent(self, when: dict[str, float], key: str) -> bool:
        since = when.get(key)
        return since is not None and 0 <= self._clock() - since < REFETCH_AFTER

    async def origins(
        self, session: aiohttp.ClientSession, base_url: str, token: str, *, timeout: float
    ) -> list[str]:
        """The region origins (``scheme://host[:port]``) to try after ``base_url``, in the server's order.

        Fetched from the base's ``/settings/regions`` with ``Authorization: Bearer <token>``
        unless a list fetched earlier for that origin is still fresh (``Cache-Control:
        max-age``; without it, or with 0, nothing is kept). Without the base's own origin,
        one origin per host and port, only hosts matching the patterns, only https when the
        base is https. Waits at most ``timeout`` seconds (and never more than
        :data:`FETCH_TIMEOUT`); follows no redirect; reads at most :data:`MAX_BODY_BYTES`.

        Never raises for a failure of the fetch (connection, status other than 200, a body
        that is not a region list, the timeout): it returns the last list fetched for that
        origin, however old, or ``[]``. An origin that answered with no region list is not
        asked again for :data:`REFETCH_AFTER` seconds. A base whose host matches no pattern
        gets ``[]`` without a request. Cancellation propagates.
        """
        base = http_url(base_url)
        if base is None or not self._allowed(base):
            return []
        origin = base.origin()
        key = str(origin).lower()
        cached = self._cache.get(key)
        if cached is not None and self._clock() < cached.expires:
            return list(cached.origins)
        wait = min(float(timeout), FETCH_TIMEOUT)
        if not wait > 0 or self._recent(self._refused, key):  # no time left (or NaN), or no list there
            return list(cached.origins) if cached is not None else []
        task = asyncio.current_task()
        cancels = task.cancelling() if task is not None else 0
        try:
            async with asyncio.timeout(wait):
                found, max_age = await self._fetch(session, origin, token)
        except asyncio.CancelledError:
            # aiohttp cancels the requests waiting for a connection of a session that closes:
            # only a cancel of the calling task goes on as one.
            if task is None or task.cancelling() > cancels:
                raise
            return list(cached.origins) if cached is not None else []
        except _FETCH_FAILURES as e:
            if isinstance(e, ValueError):  # an answer, not a region list
                self._refused[key] = self._asked[key] = self._clock()
            return list(cached.origins) if cached is not None else []
        self._refused.pop(key, None)
        self._asked[key] = self._clock()
        usable = self._usable(base, found)
        if max_age > 0:
            self._cache[key] = _Cached(tuple(usable), self._clock() + max_age)
        else:
            self._cache.pop(key, None)
        return usable

    async def _fetch(
        self, session: aiohttp.ClientSession, origin: URL, token: str
    ) -> tuple[list[str], float]:
        async with session.get(
            origin.with_path(REGIONS_PATH),
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            allow_redirects=False,
        ) as resp:
            if resp.status != 200:
                raise Unusable(f"status {resp.status}")
            if resp.content_length is not None and resp.content_length > MAX_BODY_BYTES:
                raise Unusable("body too large")
            body = bytearray()
            async for chunk in resp.content.iter_chunked(16 * 1024):
                body += chunk
                if len(body) > MAX_BODY_BYTES:
                    raise Unusable("body too large")
            max_age = cache_seconds(resp.headers.getall("Cache-Control", []))
        return region_urls(orjson.loads(bytes(body))), max_age

    def _usable(self, base: URL, found: list[str]) -> list[str]:
        seen = {host_port(base)}
        usable: list[str] = []
        for text in found:
            url = http_url(text)
            if url is not None and not well_formed(str(url.origin())):
                url = None
                logger.info("region list of %s: skipped the malformed region URL %.200r", base.host, text)
            if url is None or not self._allowed(url) or (base.scheme == "https" and url.scheme != "https"):
                continue
            if host_port(url) not in seen:
                seen.add(host_port(url))
                usable.append(str(url.origin()))
        return usable
