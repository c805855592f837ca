"""Where a call's attempts go when its host is a LiveKit Cloud project: the configured URL first,
then, after each failed attempt that is tried again, the next region the server lists."""

from __future__ import annotations

import asyncio

import aiohttp
from yarl import URL

from .regions import FETCH_TIMEOUT, Regions

__all__ = ["Failover", "Route"]


class Route:
    """The target of one call's attempts; :meth:`next` moves it to a region not tried yet.

    Regions come from :class:`~dispatch_client._transport.regions.Regions` (fetched with the call's token
    from the configured host, kept to the configured host patterns). Once every region has
    been tried, the attempts go round again from the configured URL.
    """

    def __init__(self, regions: Regions, base: str, paths: dict[str, str]) -> None:
        self._regions = regions
        self._base = base
        self._paths = paths  # method -> path after the origin, e.g. /twirp/livekit.X/Method
        self.origin: str | None = None  # None: the configured base URL (its path prefix kept)
        self._tried: list[str | None] = [None]

    def url(self, method: str, base_url: URL) -> URL:
        """The URL of ``method`` for the current target; ``base_url`` is the configured one's."""
        return base_url if self.origin is None else URL(self.origin + self._paths[method])

    async def next(self, session: aiohttp.ClientSession, token: str, remaining: float) -> None:
        origins: list[str | None] = [None]
        origins += await self._regions.origins(session, self._base, token, timeout=remaining)
        untried = [o for o in origins if o not in self._tried]
        if not untried:  # all tried: round again
            self._tried = [self.origin]
            untried = [o for o in origins if o != self.origin]
        if untried:
            self.origin = untried[0]
            self._tried.append(self.origin)


class Failover:
    """Region failover for one service whose base is a failover host: a :class:`Route` per call,
    and the region list fetched in the background after a call succeeds while there is none
    yet (a later failure may find the configured host unable to give it)."""

    def __init__(self, regions: Regions, base: str, paths: dict[str, str]) -> None:
        self._regions = regions
        self._base = base
        self._paths = paths
        self._warming: asyncio.Task[list[str]] | None = None

    @classmethod
    def of(cls, regions: Regions | None, base: str, paths: dict[str, str]) -> Failover | None:
        """Failover for ``base``, or None when it is off or ``base`` is no failover host."""
        return cls(regions, base, paths) if regions is not None and regions.applies(base) else None

    def route(self) -> Route:
        return Route(self._regions, self._base, self._paths)

    def succeeded(self, session: aiohttp.ClientSession, token: str) -> None:
        if self._regions.known(self._base) or not (self._warming is None or self._warming.done()):
            return
        fetch = self._regions.origins(session, self._base, token, timeout=FETCH_TIMEOUT)
        self._warming = asyncio.get_running_loop().create_task(fetch)

    async def aclose(self) -> None:
        """Stop a region fetch still running in the background."""
        warming, self._warming = self._warming, None
        if warming is not None and not warming.done():
            warming.cancel()
            await asyncio.gather(warming, return_exceptions=True)
