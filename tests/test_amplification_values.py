"""Answers of few containers and many values (a map of a million entries is one object): the
bound counts the values, and the decision to decode off the loop does too."""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import string
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

import aiohttp
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from fake_livekit import API_KEY, API_SECRET

from dispatch_client import AgentDispatchService, ListAgentDispatchResponse, TwirpError, TwirpErrorCode
from dispatch_client.codec import container_limit, decode_within
from dispatch_client.service import DEFAULT_MAX_RESPONSE_BYTES

T = TypeVar("T")
MARGIN = 0.5  # what a deadline may be overrun by on a loaded 2-core machine (as test_amplification)
ENTRIES = 1_490_000


def keys() -> Iterator[str]:
    alphabet = string.ascii_letters + string.digits
    for size in itertools.count(1):
        for letters in itertools.product(alphabet, repeat=size):
            yield "".join(letters)


def one_dispatch(entries: int) -> bytes:
    attributes = dict(itertools.islice(zip(keys(), itertools.repeat("")), entries))
    return orjson.dumps({"agent_dispatches": [{"id": "AD_big", "room": "big", "attributes": attributes}]})


MAP = one_dispatch(ENTRIES)


@pytest.fixture
async def url() -> AsyncIterator[str]:
    async def handle(request: web.Request) -> web.StreamResponse:
        return web.Response(body=MAP, content_type="application/json")

    app = web.Application()
    app.router.add_post("/twirp/livekit.AgentDispatchService/ListDispatch", handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


async def test_a_map_of_a_million_entries_is_refused_in_time(
    url: str, session: aiohttp.ClientSession, summary: list[str]
) -> None:
    assert len(MAP) <= DEFAULT_MAX_RESPONSE_BYTES
    assert MAP.count(b"{") + MAP.count(b"[") == 4  # few containers: the old bound saw nothing
    loop = asyncio.get_running_loop()
    worst, stop = 0.0, asyncio.Event()

    async def ticker() -> None:
        nonlocal worst
        last = loop.time()
        while not stop.is_set():
            await asyncio.sleep(0.005)
            worst, last = max(worst, loop.time() - last), loop.time()

    ticking = asyncio.create_task(ticker())
    svc = AgentDispatchService(session, url, API_KEY, API_SECRET)
    start = time.monotonic()
    with pytest.raises(TwirpError) as err:
        await svc.list_dispatch("big", timeout=0.5)
    took = time.monotonic() - start
    stop.set()
    await ticking
    summary.append(
        f"one dispatch of {ENTRIES:,} attributes ({len(MAP):,} bytes), timeout 0.5 s: ended after"
        f" {took:.2f} s ({err.value.code.value}), the loop's longest stall {worst:.3f} s"
    )
    assert err.value.code is TwirpErrorCode.INTERNAL
    assert "JSON values" in err.value.message
    assert took < 0.5 + MARGIN
    assert worst < MARGIN


class Counting(concurrent.futures.ThreadPoolExecutor):
    """The loop's default executor, counting the work handed to it."""

    submitted = 0

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[T]:
        self.submitted += 1
        return super().submit(fn, *args, **kwargs)


@pytest.mark.parametrize(("entries", "threaded"), [(1_000, False), (60_000, False), (200_000, True)])
async def test_many_values_are_decoded_off_the_loop(entries: int, threaded: bool) -> None:
    loop = asyncio.get_running_loop()
    executor = Counting(max_workers=1)
    loop.set_default_executor(executor)
    limit = container_limit(DEFAULT_MAX_RESPONSE_BYTES)
    body = one_dispatch(entries)
    try:
        decoded = await decode_within(ListAgentDispatchResponse, body, deadline=loop.time() + 30, limit=limit)
    finally:
        executor.shutdown()
    assert len(decoded.agent_dispatches[0].attributes) == entries
    assert executor.submitted == (1 if threaded else 0)
