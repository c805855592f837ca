"""Where a route's targets come from: the nodes a service was given, or a LiveKit Cloud
project's regions. A target is a base URL (``scheme://host[:port][/prefix]``); the configured
one is always the first, and is not among what a source lists."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

import aiohttp

from .regions import FETCH_TIMEOUT, Regions
from .request import base_url

__all__ = ["CloudRegions", "NodeList", "Source", "node_list", "require_urls"]


class Source(Protocol):
    """The targets a route may move to after the configured one, in the order to try them."""

    @property
    def same_answers(self) -> bool:
        """Whether every target answers for the same servers, so that an answer one of them
        gives (any HTTP answer but an intermediary's 502, 503 or 504) every other gives too."""
        ...

    def known(self) -> list[str]:
        """The targets known now, without asking anyone (for choosing where a call starts)."""
        ...

    async def targets(self, session: aiohttp.ClientSession, token: str, remaining: float) -> list[str]:
        """The targets to move to, asked for if need be within ``remaining`` seconds."""
        ...

    def succeeded(self, session: aiohttp.ClientSession, token: str) -> None:
        """A call has succeeded with ``token``."""
        ...

    async def aclose(self) -> None:
        """Stop whatever the source runs in the background."""
        ...


class NodeList:
    """The nodes of a self-hosted cluster, as given. Every node serves every room (the nodes
    share Redis), so a node's own answer is the cluster's: only the nodes given are ever asked."""

    same_answers = True

    def __init__(self, others: tuple[str, ...]) -> None:
        self._others = list(others)

    def known(self) -> list[str]:
        return self._others

    async def targets(self, session: aiohttp.ClientSession, token: str, remaining: float) -> list[str]:
        return self._others

    def succeeded(self, session: aiohttp.ClientSession, token: str) -> None:
        pass

    async def aclose(self) -> None:
        pass


class CloudRegions:
    """The regions of a LiveKit Cloud project, from ``GET /settings/regions`` on the configured
    host (see :class:`dispatch_client._transport.regions.Regions`). The list is fetched in the
    background after a call succeeds while there is none yet: a later failure may find the
    configured host unable to give it."""

    same_answers = False

    def __init__(self, regions: Regions, base: str) -> None:
        self._regions = regions
        self._base = base
        self._last: list[str] = []
        self._warming: asyncio.Task[None] | None = None

    def known(self) -> list[str]:
        # The list last seen, while Regions keeps it (as its max-age says, or however old
        # when the configured host could not be asked again).
        return self._last if self._regions.known(self._base) else []

    async def targets(self, session: aiohttp.ClientSession, token: str, remaining: float) -> list[str]:
        self._last = await self._regions.origins(session, self._base, token, timeout=remaining)
        return self._last

    def succeeded(self, session: aiohttp.ClientSession, token: str) -> None:
        if not self._regions.due(self._base) or not (self._warming is None or self._warming.done()):
            return
        self._warming = asyncio.get_running_loop().create_task(self._warm(session, token))

    async def _warm(self, session: aiohttp.ClientSession, token: str) -> None:
        self._last = await self._regions.origins(session, self._base, token, timeout=FETCH_TIMEOUT)

    async def aclose(self) -> None:
        warming, self._warming = self._warming, None
        if warming is not None and not warming.done():
            warming.cancel()
            await asyncio.gather(warming, return_exceptions=True)


def require_urls(urls: object) -> tuple[str, ...]:
    """``urls`` as given to a service: a list or tuple of strings, one URL each (not checked as
    URLs here: :func:`node_list` does)."""
    if isinstance(urls, (str, bytes)) or not isinstance(urls, Sequence):
        raise ValueError(f"urls must be a list or tuple of URL strings, got {type(urls).__name__}")
    for i, text in enumerate(urls):
        if not isinstance(text, str):
            raise ValueError(f"urls[{i}] must be a string, got {type(text).__name__}")
        if "," in text:
            raise ValueError(f"urls[{i}] holds a comma: one URL per entry (a list with commas goes in url)")
    return tuple(urls)


def node_list(url: object, urls: object = ()) -> tuple[str, ...]:
    """The HTTP base URL of every node, the configured one first: the URLs of ``url`` (one, or
    several separated by commas, as ``LIVEKIT_URL`` may hold them), then those of ``urls`` that
    are not among them yet. Each is checked as ``url`` always is; with an https (or wss) first
    node, no node may be http (the token would cross the network in clear)."""
    if not isinstance(url, str):
        raise ValueError(f"url must be a string, got {type(url).__name__}")
    entries = [url] if "," not in url else [part.strip() for part in url.split(",")]
    if not all(entries):
        raise ValueError(f"url holds an empty entry between its commas: {url!r}")
    nodes: list[str] = []
    for text in entries:
        base = base_url(text)
        if base not in nodes:
            nodes.append(base)
    for i, text in enumerate(require_urls(urls)):
        try:
            base = base_url(text)
        except ValueError as e:
            raise ValueError(f"urls[{i}]: {e}") from None
        if base not in nodes:
            nodes.append(base)
    if nodes[0].startswith("https:"):
        clear = [n for n in nodes if not n.startswith("https:")]
        if clear:
            raise ValueError(f"the first node is https, so every node must be; not: {', '.join(clear)}")
    return tuple(nodes)
