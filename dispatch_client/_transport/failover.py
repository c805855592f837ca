"""Where a call's attempts go when there is more than one place to send them: the nodes of a
self-hosted cluster or the regions of a LiveKit Cloud project (see sources), behind one route.

A call starts at the first target that is not cooling down (the configured one, unless it
could not be reached a moment ago) and, after a failed attempt that is tried again, may move to
the next. A target that could not be reached is passed over by later calls for
:data:`COOL_DOWN` seconds (docs/failover.md says why that long).
"""

from __future__ import annotations

from collections.abc import Callable

import aiohttp
from yarl import URL

from ..errors import TwirpError, TwirpErrorCode
from .body import NotConnected, never_sent
from .regions import Regions
from .sources import CloudRegions, NodeList, Source

__all__ = ["COOL_DOWN", "Failover", "Route", "no_answer", "unreachable"]

COOL_DOWN = 30.0  # seconds a target that could not be reached is passed over
_GATEWAY = frozenset({502, 503, 504})


def unreachable(err: TwirpError) -> bool:
    """Whether the attempt reached no server through its target: no connection could be made
    (refused, no route to the host, an unknown name, none open within the attempt's connect
    bound; not a TLS failure, which is never tried again), or an intermediary in front of it
    answered 502, 503 or 504."""
    cause = err.__cause__
    if isinstance(cause, NotConnected):
        return err.code is not TwirpErrorCode.DEADLINE_EXCEEDED  # the deadline: no verdict on the target
    if isinstance(cause, aiohttp.ClientConnectorError):
        return not isinstance(cause, aiohttp.ClientSSLError)
    return err.from_intermediary and err.status in _GATEWAY


def no_answer(err: TwirpError) -> bool:
    """Whether the target's connection broke before its whole answer came (reset, closed, cut
    off); not a timeout (the call's deadline, which no target can undo) nor a TLS failure."""
    cause = err.__cause__
    lost = isinstance(cause, (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, OSError))
    return lost and not isinstance(cause, (aiohttp.ClientSSLError, TimeoutError))


class Route:
    """The target of one call's attempts: where :meth:`Failover.route` started it, and after a
    failed attempt, when :meth:`next` moves it, a target this call has not tried yet (one not
    cooling down if there is one; once every target has been tried, round again)."""

    def __init__(self, failover: Failover, start: str) -> None:
        self._failover = failover
        self.target = start
        self._tried = [start]

    def url(self, method: str, configured: URL) -> URL:
        """The URL of ``method`` at the current target; ``configured`` is its URL at the configured base."""
        failover = self._failover
        return configured if self.target == failover.base else failover.url(self.target, configured)

    def failed(self, err: TwirpError) -> None:
        """The attempt at the current target failed with ``err`` (whether or not it is tried again)."""
        self._failover.observe(self.target, err)

    def succeeded(self, session: aiohttp.ClientSession, token: str) -> None:
        """The call succeeded at the current target."""
        self._failover.succeeded(session, token, self.target)

    async def next(
        self, session: aiohttp.ClientSession, token: str, remaining: float, err: TwirpError
    ) -> bool:
        """Before the attempt after ``err``: move on when another target may answer otherwise.

        It moves after an attempt that could not reach its target or got no whole answer from
        it; after any other failure only when the source's targets do not all answer alike
        (regions: yes; a cluster's nodes: no, the next attempt goes to the same node). True
        when the target changed. May ask the source for its targets within ``remaining`` s,
        unless the configured base, which would be asked, could not be connected to just now.
        """
        failover = self._failover
        if failover.source.same_answers and not (unreachable(err) or no_answer(err)):
            return False
        if self.target == failover.base and unreachable(err) and never_sent(err):
            found = failover.source.known()  # the base could not be connected to just now
        else:
            found = await failover.source.targets(session, token, remaining)
        targets = [failover.base, *found]
        others = [t for t in targets if t != self.target]
        if not others:
            return False
        untried = [t for t in others if t not in self._tried]
        if not untried:  # all tried: round again
            self._tried = [self.target]
            untried = others
        self.target = next((t for t in untried if not failover.cooling(t)), untried[0])
        self._tried.append(self.target)
        return True


class Failover:
    """Failover for one service: a :class:`Route` per call over the targets of one source (the
    configured base first), and which targets are cooling down.

    ``clock`` gives seconds (the service's clock). A target that could not be reached is
    passed over for :data:`COOL_DOWN` seconds from then while another is not (at once if the
    clock goes back); any answer from it, or a success, ends its cool-down.
    """

    def __init__(self, source: Source, base: str, *, clock: Callable[[], float]) -> None:
        self.source = source
        self.base = base
        self._clock = clock
        self._failed: dict[str, float] = {}  # target -> when it could not be reached
        self._prefix = URL(base).path.rstrip("/")
        self._urls: dict[tuple[str, str], URL] = {}

    @classmethod
    def of(
        cls, regions: Regions | None, base: str, nodes: tuple[str, ...], *, clock: Callable[[], float]
    ) -> Failover | None:
        """Failover for ``base``: over ``nodes`` (the other nodes) when there are any, else over
        the regions when ``base`` is a failover host; None otherwise (or with failover off)."""
        if nodes:
            return cls(NodeList(nodes), base, clock=clock)
        if regions is not None and regions.applies(base):
            return cls(CloudRegions(regions, base), base, clock=clock)
        return None

    def route(self) -> Route:
        """A route for one call, at the first target not cooling down (the configured one if all are)."""
        start = self.base
        if self._failed and self.cooling(start):
            start = next((t for t in self.source.known() if not self.cooling(t)), start)
        return Route(self, start)

    def cooling(self, target: str) -> bool:
        """Whether ``target`` could not be reached less than :data:`COOL_DOWN` seconds ago."""
        since = self._failed.get(target)
        if since is None:
            return False
        if 0 <= self._clock() - since < COOL_DOWN:
            return True
        del self._failed[target]
        return False

    def observe(self, target: str, err: TwirpError | None) -> None:
        """An attempt at ``target`` ended: with ``err`` (None: it succeeded)."""
        if err is not None and unreachable(err):
            self._failed[target] = self._clock()
        elif self._failed and (err is None or err.status is not None):  # it answered
            self._failed.pop(target, None)

    def url(self, target: str, configured: URL) -> URL:
        """``configured``, a URL under the configured base, moved under ``target``."""
        key = (target, configured.path)
        found = self._urls.get(key)
        if found is None:
            path = configured.path
            tail = path[len(self._prefix) :] if path.startswith(self._prefix) else path
            root = URL(target)
            found = self._urls[key] = root.with_path(root.path.rstrip("/") + tail)
        return found

    def succeeded(self, session: aiohttp.ClientSession, token: str, target: str) -> None:
        self.observe(target, None)
        self.source.succeeded(session, token)

    async def aclose(self) -> None:
        """Stop what the source runs in the background (a region fetch)."""
        await self.source.aclose()
