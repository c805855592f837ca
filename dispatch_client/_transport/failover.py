"""Where a call's attempts go when its host is a LiveKit Cloud project: the configured URL first,
then, after each failed attempt that is tried again, the next region the server lists."""

from __future__ import annotations

import aiohttp
from yarl import URL

from .regions import Regions

__all__ = ["Route"]


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
