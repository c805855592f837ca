"""LocalCloud: several LocalDispatchServer regions sharing one state, as LiveKit Cloud's regions do.

Each region listens on a port of its own and serves the same AgentDispatchService as
:class:`LocalDispatchServer`; all of them read and write one :class:`DispatchStore`, so a
dispatch created in one region is seen from every other. Each also answers LiveKit Cloud's
``GET /settings/regions`` (livekit-server v1.13.5 itself answers that path with Go's plain
404): the list of every region, for clients that fail over. A test takes a region down
(its port refuses connections, or it answers 503 to everything) and brings it back.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import random
import time
from collections.abc import Callable, Sequence
from types import TracebackType

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from .._checks import require_seconds, require_text
from .._generated.livekit import AgentDispatch
from . import _routes
from ._listening import Listening, base_url, listen
from ._server import DEFAULT_API_KEY, NOT_RUNNING_WAIT, LocalDispatchServer
from ._state import DEFAULT_EMPTY_TIMEOUT, DispatchStore
from ._tokens import TokenRejected, TokenVerifier
from ._workers import SimulatedWorker, WorkerAnswer

__all__ = ["DEFAULT_REGIONS_MAX_AGE", "REGIONS_PATH", "LocalCloud", "Outage"]

REGIONS_PATH = "/settings/regions"
DEFAULT_REGIONS_MAX_AGE = 60  # seconds, sent as Cache-Control: max-age


class Outage(str, enum.Enum):
    """How a region is down."""

    REFUSE = "refuse"  # its port stops listening; open connections are closed
    UNAVAILABLE = "503"  # it answers every request with a plain-text 503, as a load balancer would


@dataclasses.dataclass
class _Region:
    name: str
    server: LocalDispatchServer
    port: int = 0
    listening: Listening | None = None
    outage: Outage | None = None


class LocalCloud:
    """Regions of a local LiveKit Cloud on ports of ``host``, one dispatch state shared by all.

        async with LocalCloud(["us", "eu", "ap"], api_key="devkey", api_secret=secret) as cloud:
            cloud.url            # the first region's http://127.0.0.1:port
            cloud.urls["eu"]     # every region's, by name
            await cloud.down("eu")                        # its port refuses connections
            await cloud.down("ap", Outage.UNAVAILABLE)    # it answers 503
            await cloud.up("eu")                          # the same port again

    Every region answers ``GET /settings/regions`` with ``{"regions": [{"region", "url",
    "distance": "0"}, ...]}`` (all regions, in the order given, whether up or not) and
    ``Cache-Control: max-age=<regions_max_age>`` (no header when it is ``None``). That route
    wants a valid token of the cloud's key (any grant): without one, a plain-text 401. The
    other settings are :class:`LocalDispatchServer`'s, shared by every region.
    """

    def __init__(
        self,
        regions: Sequence[str],
        api_key: str = DEFAULT_API_KEY,
        api_secret: str | None = None,
        *,
        host: str = "127.0.0.1",
        regions_max_age: int | None = DEFAULT_REGIONS_MAX_AGE,
        clock: Callable[[], int] = time.time_ns,
        rng: random.Random | None = None,
        shutdown_timeout: float = 1.0,
        empty_timeout: float | None = DEFAULT_EMPTY_TIMEOUT,
        not_running_wait: float = NOT_RUNNING_WAIT,
    ) -> None:
        names = list(regions) if not isinstance(regions, str) else []
        if not names or len(set(names)) != len(names) or not all(isinstance(n, str) and n for n in names):
            raise ValueError(f"regions must be distinct non-empty names, at least one, got {regions!r}")
        if regions_max_age is not None and (
            isinstance(regions_max_age, bool) or not isinstance(regions_max_age, int) or regions_max_age < 0
        ):
            raise ValueError(f"regions_max_age must be an int of 0 or more, or None, got {regions_max_age!r}")
        self._max_age = regions_max_age
        if empty_timeout is not None:
            empty_timeout = require_seconds("empty_timeout", empty_timeout)
        store = DispatchStore(
            clock=clock, rng=rng if rng is not None else random.Random(), empty_timeout=empty_timeout
        )
        self._host = require_text("host", host)

        def region_server(key: str, secret: str | None) -> LocalDispatchServer:
            return LocalDispatchServer(
                key,
                secret,
                host=host,
                clock=clock,
                shutdown_timeout=shutdown_timeout,
                not_running_wait=not_running_wait,
            )._share(store)

        first = region_server(api_key, api_secret)
        self._shutdown_timeout = shutdown_timeout
        self._regions = {
            name: _Region(name, first if i == 0 else region_server(first.api_key, first.api_secret))
            for i, name in enumerate(names)
        }
        self._first = first
        self._tokens = TokenVerifier({first.api_key: first.api_secret}, clock=lambda: clock() / 1e9)
        self._running = False
        self._region_lists = 0
        self._region_list_served = asyncio.Event()

    @property
    def api_key(self) -> str:
        return self._first.api_key

    @property
    def api_secret(self) -> str:
        return self._first.api_secret

    @property
    def urls(self) -> dict[str, str]:
        """Every region's ``http://host:port``, by name (a region that is down keeps its address)."""
        if not self._running:
            raise RuntimeError("the cloud is not running: use `async with` or await start()")
        return self._urls()

    @property
    def url(self) -> str:
        """The first region's URL."""
        return next(iter(self.urls.values()))

    def outages(self) -> dict[str, Outage]:
        """The regions that are down now, and how."""
        return {name: r.outage for name, r in self._regions.items() if r.outage is not None}

    def rooms(self) -> dict[str, list[AgentDispatch]]:
        """A copy of the shared state: every running room, with its dispatches."""
        return self._first.rooms()

    def close_room(self, room: str) -> bool:
        """End ``room`` in every region at once; whether it ran (see LocalDispatchServer.close_room)."""
        return self._first.close_room(room)

    def add_worker(
        self, agent_name: str, *, delay: float = 0.0, answer: WorkerAnswer | str = WorkerAnswer.ACCEPT
    ) -> SimulatedWorker:
        """A simulated worker for the whole cloud (see LocalDispatchServer.add_worker)."""
        return self._first.add_worker(agent_name, delay=delay, answer=answer)

    def remove_worker(self, worker: SimulatedWorker) -> bool:
        """Unregister a worker of the cloud; False when it was not registered."""
        return self._first.remove_worker(worker)

    async def start(self) -> str:
        """Every region listens (on a free port each); returns :attr:`url`."""
        if self._running:
            raise RuntimeError("the cloud is already running")
        try:
            for region in self._regions.values():
                region.outage = None
                await self._listen(region)
        except BaseException:
            await self._stop_all()
            raise
        self._running = True
        return self.url

    async def close(self) -> None:
        """Every region stops; the state is kept, ports are chosen anew by the next start()."""
        self._running = False
        await self._stop_all()

    async def down(self, name: str, mode: Outage | str = Outage.REFUSE) -> None:
        """Take region ``name`` down: its port refuses connections (``"refuse"``; open ones are
        closed, requests in progress get ``shutdown_timeout`` seconds), or it answers 503 (``"503"``)."""
        region, mode = self._region(name), Outage(mode)
        region.outage = mode
        if mode is Outage.REFUSE:
            await self._stop(region)
        else:
            await self._listen(region)

    async def up(self, name: str) -> None:
        """Bring region ``name`` back, on the same port (OSError if another process took it meanwhile)."""
        region = self._region(name)
        region.outage = None
        await self._listen(region)

    @property
    def region_lists_served(self) -> int:
        """How many times a region answered ``GET /settings/regions`` with the list."""
        return self._region_lists

    async def region_list_fetched(self, timeout: float = 5) -> None:
        """Wait until a client has fetched the region list (TimeoutError after ``timeout`` s).

        A service on a failover host fetches it in the background after its first successful
        call, and cannot fail over before it has it: a test that takes a region down right after
        that call waits for this first.
        """
        async with asyncio.timeout(timeout):
            await self._region_list_served.wait()

    async def __aenter__(self) -> LocalCloud:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"LocalCloud(regions={list(self._regions)!r}, api_key={self.api_key!r})"

    def _urls(self) -> dict[str, str]:
        return {name: base_url(self._host, region.port) for name, region in self._regions.items()}

    def _region(self, name: str) -> _Region:
        if not self._running:
            raise RuntimeError("the cloud is not running: use `async with` or await start()")
        found = self._regions.get(name)
        if found is None:
            raise ValueError(f"no region {name!r}: the regions are {', '.join(self._regions)}")
        return found

    async def _listen(self, region: _Region) -> None:
        if region.listening is not None:
            return
        app = region.server.app()
        app.middlewares.append(self._middleware(region))
        region.listening = await listen(app, self._host, region.port, shutdown_timeout=self._shutdown_timeout)
        region.port = region.listening.port

    async def _stop(self, region: _Region) -> None:
        listening, region.listening = region.listening, None
        if listening is not None:
            await listening.stop()

    async def _stop_all(self) -> None:
        for region in self._regions.values():
            await self._stop(region)
            region.port = 0

    def _middleware(self, region: _Region) -> Middleware:
        @web.middleware
        async def cloud_routes(request: web.Request, handler: Handler) -> web.StreamResponse:
            if region.outage is Outage.UNAVAILABLE:
                return web.Response(status=503, text="503 Service Unavailable\n")
            if request.path != REGIONS_PATH:
                return await handler(request)
            # (not `or`: an aiohttp response is a mapping, false when it holds no state)
            response = _routes.preflight(request)
            if response is None:
                response = self._settings_regions(request)
            _routes.cors(request, response)
            return response

        return cloud_routes

    def _settings_regions(self, request: web.Request) -> web.Response:
        if request.method not in ("GET", "HEAD"):
            return web.Response(status=405, text="method not allowed\n", headers={"Allow": "GET, HEAD"})
        authorization = request.headers.get("Authorization")
        if not authorization and not request.query.get("access_token"):
            return web.Response(status=401, text="no authorization token")
        try:
            self._tokens.grant(authorization, request.query.get("access_token"))
        except TokenRejected as e:
            return web.Response(status=401, text=str(e))
        regions = [{"region": name, "url": url, "distance": "0"} for name, url in self._urls().items()]
        headers = {} if self._max_age is None else {"Cache-Control": f"max-age={self._max_age}"}
        self._region_lists += 1
        self._region_list_served.set()
        return web.Response(
            body=orjson.dumps({"regions": regions}), content_type="application/json", headers=headers
        )
