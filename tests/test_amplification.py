"""An answer under the size cap that would decode into gigabytes: refused in time, neighbours unharmed.

16 MiB of ``{"agent_dispatches":[{"state":{"jobs":[{},{},...1000...]}}, ...]}`` (5,553
dispatches of 1,000 empty jobs) took 9-10 s and about 2.4 GB to decode, with the call's
timeout at 2 s, and starved the other calls on the loop into ``deadline_exceeded``.
"""

from __future__ import annotations

import asyncio
import time
import tracemalloc
from collections.abc import AsyncIterator, Awaitable

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from fake_livekit import API_KEY, API_SECRET

from dispatch_client import AgentDispatchService, ListAgentDispatchResponse, TwirpError, TwirpErrorCode
from dispatch_client.codec import DeadlinePassed, check_containers, container_limit, decode_within
from dispatch_client.service import DEFAULT_MAX_RESPONSE_BYTES

TIMEOUT = 2.0
NEIGHBOUR_DELAY = 0.5
# What a deadline may be overrun by on a loaded 2-core machine: the loop's own latency.
MARGIN = 0.5


def empty_jobs(dispatches: int, jobs: int) -> bytes:
    one = b'{"state":{"jobs":[' + b",".join([b"{}"] * jobs) + b"]}}"
    return b'{"agent_dispatches":[' + b",".join([one] * dispatches) + b"]}"


HOSTILE = empty_jobs(5553, 1000)


@pytest.fixture
async def url() -> AsyncIterator[str]:
    async def handle(request: web.Request) -> web.StreamResponse:
        room = (await request.json())["room"]
        if room == "big":
            return web.Response(body=HOSTILE, content_type="application/json")
        await asyncio.sleep(NEIGHBOUR_DELAY)
        return web.json_response({"agent_dispatches": [{"id": "AD_n", "room": room}]})

    app = web.Application(client_max_size=1 << 20)
    app.router.add_post("/twirp/livekit.AgentDispatchService/ListDispatch", handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


async def timed(call: Awaitable[object]) -> tuple[float, object]:
    start = time.monotonic()
    try:
        result = await call
    except TwirpError as e:
        result = e
    return time.monotonic() - start, result


async def test_a_body_that_decodes_into_gigabytes_is_refused_in_time(
    url: str, session: aiohttp.ClientSession, summary: list[str]
) -> None:
    assert len(HOSTILE) <= DEFAULT_MAX_RESPONSE_BYTES  # under the size cap: the bytes are read
    svc = AgentDispatchService(session, url, API_KEY, API_SECRET, timeout=TIMEOUT)
    (big_s, big), *neighbours = await asyncio.gather(
        timed(svc.list_dispatch("big")), timed(svc.list_dispatch("n1")), timed(svc.list_dispatch("n2"))
    )
    assert isinstance(big, TwirpError)
    assert big.code is TwirpErrorCode.INTERNAL
    assert big.status == 200
    assert "JSON objects and arrays" in big.message
    # The deadline is the point: the call and its neighbours end within it, plus MARGIN.
    assert big_s < TIMEOUT + MARGIN
    for took, found in neighbours:
        assert isinstance(found, list)
        assert [d.id for d in found] == ["AD_n"]
        assert took < TIMEOUT + MARGIN

    # What refusing the body costs, measured alone.
    limit = container_limit(DEFAULT_MAX_RESPONSE_BYTES)
    tracemalloc.start()
    start = time.perf_counter()
    with pytest.raises(ValueError, match="JSON objects and arrays"):
        check_containers(HOSTILE, limit)
    refuse_s = time.perf_counter() - start
    refuse_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    summary.append(
        f"16 MiB of empty jobs ({len(HOSTILE):,} bytes): refused in {refuse_s * 1000:.0f} ms,"
        f" peak {refuse_peak / 2**20:.1f} MiB; the call ended in {big_s:.2f} s (timeout {TIMEOUT:g} s),"
        f" its neighbours (answered at {NEIGHBOUR_DELAY} s) in"
        f" {', '.join(f'{t:.2f}' for t, _ in neighbours)} s"
    )


async def test_the_most_a_body_may_build_is_decoded_within_the_deadline(summary: list[str]) -> None:
    """The worst body the bound lets through (as many empty jobs as allowed), decoded off the
    loop: the loop keeps turning meanwhile, and a deadline shorter than the decode is kept."""
    limit = container_limit(DEFAULT_MAX_RESPONSE_BYTES)
    jobs = 1000
    dispatches = (limit - 2) // (jobs + 3)  # each dispatch: itself, its state, the jobs list, the jobs
    body = empty_jobs(dispatches, jobs)
    assert body.count(b"{") + body.count(b"[") <= limit
    loop = asyncio.get_running_loop()

    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    tick_task = asyncio.create_task(ticker())
    tracemalloc.start()
    start = time.perf_counter()
    decoded = await decode_within(ListAgentDispatchResponse, body, deadline=loop.time() + 60, limit=limit)
    took = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len(decoded.agent_dispatches) == dispatches
    del decoded
    assert ticks >= 1  # the loop was not blocked for the whole decode

    short = 0.05
    start = time.perf_counter()
    with pytest.raises(DeadlinePassed):
        await decode_within(ListAgentDispatchResponse, body, deadline=loop.time() + short, limit=limit)
    cut_at = time.perf_counter() - start
    assert cut_at < short + MARGIN
    tick_task.cancel()
    summary.append(
        f"the most the bound admits ({limit:,} objects and arrays: {dispatches * jobs:,} empty jobs,"
        f" {len(body):,} bytes): decoded in {took:.2f} s (traced, off the loop), peak"
        f" {peak / 2**20:.0f} MiB traced; a {short} s deadline ended the wait after {cut_at:.2f} s"
    )
