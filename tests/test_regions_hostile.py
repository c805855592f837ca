"""Region entries a server may send that no request can go to: each is skipped, as the configured
URL would be refused, and a call that fails over past them ends as a TwirpError or succeeds."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from local_helpers import KEY, SECRET
from test_regions import TOKEN

from dispatch_client import AgentDispatchService, TwirpError
from dispatch_client._transport.regions import Regions
from dispatch_client.testing import LocalDispatchServer

HOSTS = ("127.0.0.1", "*.livekit.cloud")
BAD = [
    "http://eu..livekit.cloud",
    "http://.livekit.cloud",
    "http://" + "a" * 64 + ".livekit.cloud",
    "http://eu.livekit.cloud:0",
    "http://eu.livekit.cloud:99999",
    "http://xn--zz.livekit.cloud",
    "http://eu%20x.livekit.cloud",
]


class Unavailable:
    """A configured host that lists ``regions`` and answers every call with a 503."""

    def __init__(self, regions: list[str]) -> None:
        self.regions = regions
        self.calls = 0
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        if request.path == "/settings/regions":
            body = orjson.dumps(
                {"regions": [{"region": f"r{i}", "url": u} for i, u in enumerate(self.regions)]}
            )
            return web.Response(
                body=body, content_type="application/json", headers={"Cache-Control": "max-age=60"}
            )
        self.calls += 1
        return web.Response(status=503, text="upstream down")


@pytest.fixture
async def good() -> AsyncIterator[LocalDispatchServer]:
    async with LocalDispatchServer(KEY, SECRET, not_running_wait=0.1) as server:
        yield server


async def served(host: Unavailable) -> TestServer:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", host.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    host.url = str(server.make_url("")).rstrip("/")
    return server


@pytest.mark.parametrize("bad", BAD)
async def test_a_malformed_region_is_skipped(session: aiohttp.ClientSession, bad: str) -> None:
    host = Unavailable([bad, "http://127.0.0.1:7100"])
    server = await served(host)
    try:
        found = await Regions(HOSTS).origins(session, host.url, TOKEN, timeout=1)
    finally:
        await server.close()
    assert found == ["http://127.0.0.1:7100"]


@pytest.mark.parametrize("bad", BAD)
async def test_a_call_fails_over_past_a_malformed_region(
    session: aiohttp.ClientSession, good: LocalDispatchServer, bad: str
) -> None:
    host = Unavailable([bad, good.url])
    server = await served(host)
    try:
        svc = AgentDispatchService(session, host.url, KEY, SECRET, cloud_hosts=HOSTS)
        # The room is not running at the good region: it answers so, and nothing else escapes.
        with pytest.raises(TwirpError) as err:
            await svc.list_dispatch("r", timeout=3)
        assert err.value.room_not_running
    finally:
        await server.close()
    assert host.calls == 1
