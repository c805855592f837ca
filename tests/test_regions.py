"""Region discovery (dispatch_client._transport.regions.Regions) against real local servers: parsing, filters,
the cache on an injected clock, failures, timeouts, redirects, body caps, cancellation."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import ssl
import time
from collections.abc import AsyncIterator

import aiohttp
import orjson
import pytest
import trustme
from aiohttp import web
from aiohttp.test_utils import TestServer

from dispatch_client._transport.regions import FETCH_TIMEOUT, MAX_BODY_BYTES, Regions

TOKEN = "header.claims.signature"
LOOPBACK = ("127.0.0.1",)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclasses.dataclass
class Endpoint:
    """A server whose every answer is set by the test; it records each request's path and token."""

    status: int = 200
    body: bytes = b'{"regions": []}'
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    delay: float = 0.0
    chunked: bool = False
    requests: list[tuple[str, str | None]] = dataclasses.field(default_factory=list)
    arrived: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    url: str = ""

    def regions(self, *urls: object, max_age: int | None = None) -> None:
        self.body = orjson.dumps({"regions": [{"region": f"r{i}", "url": u} for i, u in enumerate(urls)]})
        self.headers = {} if max_age is None else {"Cache-Control": f"max-age={max_age}"}

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((request.path_qs, request.headers.get("Authorization")))
        self.arrived.set()
        await asyncio.sleep(self.delay)
        if not self.chunked:
            return web.Response(status=self.status, body=self.body, headers=self.headers)
        response = web.StreamResponse(status=self.status, headers=self.headers)
        response.enable_chunked_encoding()
        await response.prepare(request)
        for start in range(0, len(self.body), 8192):
            await response.write(self.body[start : start + 8192])
        await response.write_eof()
        return response


async def serve(endpoint: Endpoint, host: str = "127.0.0.1") -> TestServer:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", endpoint.handle)
    server = TestServer(app, host=host)
    await server.start_server()
    endpoint.url = str(server.make_url("")).rstrip("/")
    return server


@pytest.fixture
async def endpoint() -> AsyncIterator[Endpoint]:
    found = Endpoint()
    server = await serve(found)
    yield found
    await server.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def origins(
    regions: Regions, session: aiohttp.ClientSession, base: str, timeout: float = 1.0
) -> list[str]:
    return await regions.origins(session, base, TOKEN, timeout=timeout)


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        ("https://proj.livekit.cloud", True),
        ("wss://PROJ.LiveKit.Cloud/prefix", True),
        ("http://a.b.livekit.cloud:7880", True),
        ("https://livekit.cloud", False),
        ("https://proj.livekit.cloud.evil.example", False),
        ("https://evil.example/x.livekit.cloud", False),
        ("https://cloud-api.livekit.io", False),
        ("ftp://proj.livekit.cloud", False),
        ("proj.livekit.cloud", False),
        ("", False),
    ],
)
def test_applies_to_livekit_cloud_hosts_by_default(base: str, expected: bool) -> None:
    assert Regions().applies(base) is expected


def test_host_patterns_are_configurable_and_checked() -> None:
    regions = Regions(("cloud-api.*.livekit.io", "127.0.0.1"))
    assert regions.applies("https://cloud-api.staging.livekit.io")
    assert regions.applies("http://127.0.0.1:9")
    assert not regions.applies("https://proj.livekit.cloud")
    with pytest.raises(ValueError, match="hosts"):
        Regions(["*.livekit.cloud"])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="hosts"):
        Regions(("",))


async def test_region_urls_become_origins_in_the_servers_order(
    endpoint: Endpoint, session: aiohttp.ClientSession
) -> None:
    endpoint.regions(
        "wss://127.0.0.1:1001/rtc?x=1",
        "ws://127.0.0.1:1002",
        None,
        "",
        "http://user:pw@127.0.0.1:1003/some/path",
        "https://127.0.0.1",
        "ftp://127.0.0.1:1004",
        "not a url",
    )
    got = await origins(Regions(LOOPBACK), session, endpoint.url + "/a/prefix")
    assert got == [
        "https://127.0.0.1:1001",
        "http://127.0.0.1:1002",
        "http://127.0.0.1:1003",
        "https://127.0.0.1",
    ]


async def test_entries_without_a_url_key_are_skipped(
    endpoint: Endpoint, session: aiohttp.ClientSession
) -> None:
    endpoint.body = (
        b'{"regions": [{"region": "x", "distance": "1"}, {"region": "y", "url": "http://127.0.0.1:5"}]}'
    )
    assert await origins(Regions(LOOPBACK), session, endpoint.url) == ["http://127.0.0.1:5"]


async def test_the_base_is_excluded_and_hosts_are_deduplicated(
    endpoint: Endpoint, session: aiohttp.ClientSession
) -> None:
    port = int(endpoint.url.rsplit(":", 1)[1])
    endpoint.regions(
        f"ws://127.0.0.1:{port}/other",
        "http://127.0.0.1:2000",
        "https://127.0.0.1:2000/x",
        "ws://127.0.0.1:2000",
        "http://127.0.0.1:2001",
        f"http://127.0.0.1:{port}",
    )
    assert await origins(Regions(LOOPBACK), session, endpoint.url) == [
        "http://127.0.0.1:2000",
        "http://127.0.0.1:2001",
    ]


async def test_the_token_goes_only_to_the_configured_hosts_discovery_endpoint(
    endpoint: Endpoint, session: aiohttp.ClientSession
) -> None:
    elsewhere = Endpoint()
    other = await serve(elsewhere, host="127.0.0.2")
    try:
        endpoint.regions(elsewhere.url, "http://127.0.0.1:3000")
        assert await origins(Regions(LOOPBACK), session, endpoint.url + "/prefix") == [
            "http://127.0.0.1:3000"
        ]
        # The other host's region is dropped: nothing was ever sent there.
        assert elsewhere.requests == []
        assert endpoint.requests == [("/settings/regions", f"Bearer {TOKEN}")]
        # A base outside the patterns gets no regions, and no request is made at all.
        assert await origins(Regions(("*.livekit.cloud",)), session, endpoint.url) == []
        assert await origins(Regions(("127.0.0.1",)), session, elsewhere.url) == []
        assert len(endpoint.requests) == 1
        assert elsewhere.requests == []
    finally:
        await other.close()


async def test_an_https_base_is_never_given_an_http_region(session: aiohttp.ClientSession) -> None:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    endpoint = Endpoint()
    endpoint.regions(
        "http://127.0.0.1:4000", "ws://127.0.0.1:4001", "wss://127.0.0.1:4002", "https://127.0.0.1:4003"
    )
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", endpoint.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_context)
    await site.start()
    try:
        port = runner.addresses[0][1]
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=client_context)) as tls:
            got = await origins(Regions(LOOPBACK), tls, f"https://127.0.0.1:{port}")
        assert got == ["https://127.0.0.1:4002", "https://127.0.0.1:4003"]
        assert len(endpoint.requests) == 1
    finally:
        await runner.cleanup()


async def test_an_http_base_may_be_given_https_regions(
    endpoint: Endpoint, session: aiohttp.ClientSession
) -> None:
    endpoint.regions("https://127.0.0.1:4100", "http://127.0.0.1:4101")
    assert await origins(Regions(LOOPBACK), session, endpoint.url) == [
        "https://127.0.0.1:4100",
        "http://127.0.0.1:4101",
    ]


async def test_the_list_is_cached_for_max_age_on_the_injected_clock(
    endpoint: Endpoint, session: aiohttp.ClientSession
) -> None:
    clock = Clock()
    regions = Regions(LOOPBACK, clock=clock)
    endpoint.regions("http://127.0.0.1:5000", max_age=30)
    assert await origins(regions, session, endpoint.url) == ["http://127.0.0.1:5000"]
    endpoint.regions("http://127.0.0.1:5001", max_age=30)
    clock.now += 29.9
    assert await origins(regions, session, endpoint.url) == ["http://127.0.0.1:5000"]
    assert len(endpoint.requests) == 1
    clock.now += 0.1
    assert await origins(regions, session, endpoint.url) == ["http://127.0.0.1:5001"]
    assert len(endpoint.requests) == 2


@pytest.mark.parametrize(
    "cache_control",
    [
        None,
        "max-age=0",
        "no-store, max-age=60",
        "no-cache, max-age=60",
        "max-age=abc",
        "max-age=-5",
        "public",
    ],
)
async def test_an_answer_without_a_positive_max_age_is_not_cached(
    endpoint: Endpoint, session: aiohttp.ClientSession, cache_control: str | None
) -> None:
    regions = Regions(LOOPBACK, clock=Clock())
    endpoint.regions("http://127.0.0.1:5100")
    if cache_control is not None:
        endpoint.headers = {"Cache-Control": cache_control}
    assert await origins(regions, session, endpoint.url) == ["http://127.0.0.1:5100"]
    endpoint.regions("http://127.0.0.1:5101")
    assert await origins(regions, session, endpoint.url) == ["http://127.0.0.1:5101"]
    assert len(endpoint.requests) == 2


async def test_the_cache_is_per_host(session: aiohttp.ClientSession) -> None:
    first, second = Endpoint(), Endpoint()
    servers = [await serve(first), await serve(second)]
    try:
        first.regions("http://127.0.0.1:5200", max_age=60)
        second.regions("http://127.0.0.1:5201", max_age=60)
        regions = Regions(LOOPBACK, clock=Clock())
        assert await origins(regions, session, first.url) == ["http://127.0.0.1:5200"]
        assert await origins(regions, session, second.url) == ["http://127.0.0.1:5201"]
        assert (len(first.requests), len(second.requests)) == (1, 1)
    finally:
        for server in servers:
            await server.close()


FAILURES: list[tuple[int, bytes, dict[str, str]]] = [
    (503, b"upstream down", {}),
    (401, b"invalid authorization token", {}),
    (404, b"404 page not found\n", {}),
    (307, b"", {"Location": "/settings/regions/elsewhere"}),
    (200, b"not json", {}),
    (200, b"\xff\xfe", {}),
    (200, b"[1, 2]", {}),
    (200, b"{}", {}),
    (200, b'{"regions": {"url": "http://127.0.0.1:1"}}', {}),
    (200, b'{"regions": [1]}', {}),
    (200, b'{"regions": [{"url": 5}]}', {}),
    (200, b"[" * 5000 + b"]" * 5000, {}),
]


@pytest.mark.parametrize(("status", "body", "headers"), FAILURES)
async def test_a_failed_fetch_gives_the_stale_list(
    endpoint: Endpoint, session: aiohttp.ClientSession, status: int, body: bytes, headers: dict[str, str]
) -> None:
    clock = Clock()
    regions = Regions(LOOPBACK, clock=clock)
    endpoint.regions("http://127.0.0.1:6000", max_age=10)
    assert await origins(regions, session, endpoint.url) == ["http://127.0.0.1:6000"]
    clock.now += 3600
    endpoint.status, endpoint.body, endpoint.headers = (
        status,
        body,
        {**headers, "Cache-Control": "max-age=10"},
    )
    assert await origins(regions, session, endpoint.url) == ["http://127.0.0.1:6000"]
    assert len(endpoint.requests) == 2
    assert [path for path, _ in endpoint.requests] == ["/settings/regions"] * 2  # no redirect followed


@pytest.mark.parametrize(("status", "body", "headers"), FAILURES)
async def test_a_failed_fetch_without_a_cached_list_gives_none(
    endpoint: Endpoint, session: aiohttp.ClientSession, status: int, body: bytes, headers: dict[str, str]
) -> None:
    endpoint.status, endpoint.body, endpoint.headers = status, body, headers
    assert await origins(Regions(LOOPBACK), session, endpoint.url) == []
    assert [path for path, _ in endpoint.requests] == ["/settings/regions"]


async def test_a_refused_connection_gives_the_stale_list_or_none(session: aiohttp.ClientSession) -> None:
    endpoint = Endpoint()
    server = await serve(endpoint)
    clock = Clock()
    regions = Regions(LOOPBACK, clock=clock)
    endpoint.regions("http://127.0.0.1:6100", max_age=5)
    assert await origins(regions, session, endpoint.url) == ["http://127.0.0.1:6100"]
    await server.close()
    clock.now += 60
    assert await origins(regions, session, endpoint.url) == ["http://127.0.0.1:6100"]
    assert await origins(regions, session, f"http://127.0.0.1:{closed_port()}") == []


async def test_a_slow_endpoint_is_given_up_after_the_timeout(
    endpoint: Endpoint, session: aiohttp.ClientSession
) -> None:
    clock = Clock()
    regions = Regions(LOOPBACK, clock=clock)
    endpoint.regions("http://127.0.0.1:6200", max_age=5)
    assert await origins(regions, session, endpoint.url) == ["http://127.0.0.1:6200"]
    endpoint.delay = 30
    clock.now += 60
    started = time.monotonic()
    assert await origins(regions, session, endpoint.url, timeout=0.2) == ["http://127.0.0.1:6200"]
    assert await origins(Regions(LOOPBACK), session, endpoint.url, timeout=0.2) == []
    assert time.monotonic() - started < 1.5


async def test_the_fetch_never_waits_longer_than_its_own_limit(
    endpoint: Endpoint, session: aiohttp.ClientSession
) -> None:
    endpoint.delay = 30
    started = time.monotonic()
    assert await origins(Regions(LOOPBACK), session, endpoint.url, timeout=600) == []
    assert FETCH_TIMEOUT - 0.1 < time.monotonic() - started < FETCH_TIMEOUT + 1.5


async def test_no_time_left_gives_the_cached_list_without_a_request(
    endpoint: Endpoint, session: aiohttp.ClientSession
) -> None:
    clock = Clock()
    regions = Regions(LOOPBACK, clock=clock)
    endpoint.regions("http://127.0.0.1:6300", max_age=5)
    assert await origins(regions, session, endpoint.url) == ["http://127.0.0.1:6300"]
    clock.now += 60
    assert await origins(regions, session, endpoint.url, timeout=0) == ["http://127.0.0.1:6300"]
    assert await origins(regions, session, endpoint.url, timeout=float("nan")) == ["http://127.0.0.1:6300"]
    assert len(endpoint.requests) == 1


@pytest.mark.parametrize("chunked", [False, True])
async def test_a_body_over_the_cap_is_refused(
    endpoint: Endpoint, session: aiohttp.ClientSession, chunked: bool
) -> None:
    valid = orjson.dumps({"regions": [{"url": "http://127.0.0.1:6400"}]})
    endpoint.chunked = chunked
    endpoint.body = valid + b" " * (MAX_BODY_BYTES - len(valid))
    assert await origins(Regions(LOOPBACK), session, endpoint.url) == ["http://127.0.0.1:6400"]
    endpoint.body += b" "
    assert await origins(Regions(LOOPBACK), session, endpoint.url) == []
    assert len(endpoint.requests) == 2


async def test_cancellation_propagates(endpoint: Endpoint, session: aiohttp.ClientSession) -> None:
    endpoint.delay = 30
    task = asyncio.create_task(origins(Regions(LOOPBACK), session, endpoint.url, timeout=1.0))
    await endpoint.arrived.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled()


async def test_a_list_not_to_be_cached_is_not_kept_for_failures_either(
    endpoint: Endpoint, session: aiohttp.ClientSession
) -> None:
    clock = Clock()
    regions = Regions(LOOPBACK, clock=clock)
    endpoint.regions("http://127.0.0.1:6500", max_age=5)
    assert await origins(regions, session, endpoint.url) == ["http://127.0.0.1:6500"]
    clock.now += 60
    endpoint.regions("http://127.0.0.1:6501", max_age=0)
    assert await origins(regions, session, endpoint.url) == ["http://127.0.0.1:6501"]
    endpoint.status = 503
    assert await origins(regions, session, endpoint.url) == []
