"""Failures below HTTP: refused connections, timeouts, lost or oversized answers, cancellation."""

from __future__ import annotations

import asyncio
import gzip
import math
import threading

import aiohttp
import pytest
from aiohttp import web
from fake_livekit import API_KEY, API_SECRET, FakeLiveKit, answer, late, unused_port

from dispatch_client import (
    AgentDispatchService,
    CreateAgentDispatchRequest,
    RetryPolicy,
    TwirpError,
    TwirpErrorCode,
)


async def test_connection_refused_is_unavailable(session: aiohttp.ClientSession) -> None:
    svc = AgentDispatchService(session, f"http://127.0.0.1:{unused_port()}", API_KEY, API_SECRET)
    with pytest.raises(TwirpError) as err:
        await svc.create_dispatch(CreateAgentDispatchRequest(agent_name="a", room="r"))
    assert err.value.code is TwirpErrorCode.UNAVAILABLE
    assert err.value.status is None
    assert isinstance(err.value.__cause__, aiohttp.ClientConnectionError)


async def test_slow_server_is_deadline_exceeded(
    session: aiohttp.ClientSession, fake: FakeLiveKit, url: str
) -> None:
    fake.respond_with(late(5), late(5))
    svc = AgentDispatchService(session, url, API_KEY, API_SECRET, timeout=0.2)
    with pytest.raises(TwirpError) as err:
        await svc.list_dispatch("r")
    assert err.value.code is TwirpErrorCode.DEADLINE_EXCEEDED
    assert err.value.status is None
    assert isinstance(err.value.__cause__, asyncio.TimeoutError)
    with pytest.raises(TwirpError) as err:
        await AgentDispatchService(session, url, API_KEY, API_SECRET).list_dispatch("r", timeout=0.1)
    assert err.value.code is TwirpErrorCode.DEADLINE_EXCEEDED
    assert "0.1 s" in err.value.message


async def test_connection_dropped_mid_response_is_unavailable(
    service: AgentDispatchService, fake: FakeLiveKit
) -> None:
    async def drop(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Length": "1000", "Content-Type": "application/json"})
        await resp.prepare(request)
        await resp.write(b'{"agent_dispatches": [')
        assert request.transport is not None
        request.transport.close()
        return resp

    fake.respond_with(drop)
    with pytest.raises(TwirpError) as err:
        await service.list_dispatch("r")
    assert err.value.code is TwirpErrorCode.UNAVAILABLE
    assert err.value.status == 200  # the status line came, the body did not
    assert isinstance(err.value.__cause__, aiohttp.ClientError)


@pytest.mark.parametrize("chunked", [False, True])
async def test_oversized_response_is_refused(
    session: aiohttp.ClientSession, fake: FakeLiveKit, url: str, chunked: bool
) -> None:
    big = b'{"agent_dispatches": [' + b",".join([b'{"id": "AD_x"}'] * 2000) + b"]}"

    async def handler(request: web.Request) -> web.StreamResponse:
        if not chunked:
            return web.Response(body=big, content_type="application/json")
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for i in range(0, len(big), 1000):
            await resp.write(big[i : i + 1000])
        await resp.write_eof()
        return resp

    fake.respond_with(handler, handler)
    svc = AgentDispatchService(session, url, API_KEY, API_SECRET, max_response_bytes=10_000)
    with pytest.raises(TwirpError) as err:
        await svc.list_dispatch("r")
    assert err.value.code is TwirpErrorCode.INTERNAL
    assert err.value.status == 200
    roomy = AgentDispatchService(session, url, API_KEY, API_SECRET, max_response_bytes=len(big))
    assert len(await roomy.list_dispatch("r")) == 2000


async def test_closed_session(url: str, fake: FakeLiveKit) -> None:
    async with aiohttp.ClientSession() as s:
        svc = AgentDispatchService(s, url, API_KEY, API_SECRET)
    with pytest.raises(TwirpError) as err:
        await svc.list_dispatch("r")
    assert err.value.code is TwirpErrorCode.FAILED_PRECONDITION
    assert err.value.status is None
    assert fake.requests == []


async def test_cancellation_passes_through(service: AgentDispatchService, fake: FakeLiveKit) -> None:
    started = asyncio.Event()
    fake.respond_with(late(5, started=started))
    task = asyncio.create_task(service.list_dispatch("r"))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_compressed_bodies_are_capped_after_decompression(
    session: aiohttp.ClientSession, fake: FakeLiveKit, url: str
) -> None:
    body = b'{"agent_dispatches": [' + b",".join([b'{"id": "AD_x"}'] * 2000) + b"]}"
    packed = gzip.compress(body)
    assert len(packed) < 1000 < len(body)
    handler = answer(200, packed, "application/json", **{"Content-Encoding": "gzip"})
    fake.respond_with(handler, handler)
    assert len(await AgentDispatchService(session, url, API_KEY, API_SECRET).list_dispatch("r")) == 2000
    small = AgentDispatchService(session, url, API_KEY, API_SECRET, max_response_bytes=10_000)
    with pytest.raises(TwirpError) as err:
        await small.list_dispatch("r")
    assert err.value.code is TwirpErrorCode.INTERNAL


@pytest.mark.parametrize(
    "session_options",
    [{"raise_for_status": True}, {"auto_decompress": False}],
    ids=["raise_for_status", "no_auto_decompress"],
)
async def test_the_callers_session_options_do_not_change_results(
    fake: FakeLiveKit, url: str, session_options: dict[str, bool]
) -> None:
    async def gzipped(request: web.Request) -> web.Response:
        body = gzip.compress(b'{"agent_dispatches": [{"id": "AD_z"}]}')
        return web.Response(body=body, content_type="application/json", headers={"Content-Encoding": "gzip"})

    async with aiohttp.ClientSession(**session_options) as s:  # type: ignore[arg-type]
        svc = AgentDispatchService(s, url, API_KEY, API_SECRET)
        fake.respond_with(gzipped)
        assert [d.id for d in await svc.list_dispatch("r")] == ["AD_z"]
        with pytest.raises(TwirpError) as err:
            await svc.delete_dispatch("AD_nope", "r")
    assert err.value.code is TwirpErrorCode.NOT_FOUND
    assert err.value.status == 404
    assert len(fake.requests) == 2


async def test_a_timeout_over_five_seconds_is_not_rounded_up(
    session: aiohttp.ClientSession, fake: FakeLiveKit, url: str
) -> None:
    # aiohttp would move a deadline of 5 s or more to the next whole second of the loop's
    # clock. Started just after a whole second, a 5.05 s deadline would become about 6 s and
    # an answer sent 5.5 s after the request would arrive in time. Kept as it is, the
    # deadline passes first, however slow the machine: the answer cannot come sooner.
    fake.respond_with(late(5.5, then=answer(200, '{"agent_dispatches": []}', "application/json")))
    svc = AgentDispatchService(session, url, API_KEY, API_SECRET, timeout=5.05, retry=RetryPolicy.none())
    loop = asyncio.get_running_loop()
    await asyncio.sleep(math.ceil(loop.time()) - loop.time() + 0.01)
    with pytest.raises(TwirpError) as err:
        await svc.list_dispatch("r")
    assert err.value.code is TwirpErrorCode.DEADLINE_EXCEEDED
    assert err.value.status is None
    assert len(fake.requests) == 1


async def test_the_default_cap_is_16_mib(session: aiohttp.ClientSession, fake: FakeLiveKit, url: str) -> None:
    cap = 16 * 1024 * 1024
    empty = b'{"agent_dispatches": []}'

    def padded(size: int) -> web.StreamResponse:
        return web.Response(body=empty + b" " * (size - len(empty)), content_type="application/json")

    async def at_cap(request: web.Request) -> web.StreamResponse:
        return padded(cap)

    async def over_cap(request: web.Request) -> web.StreamResponse:
        return padded(cap + 1)

    fake.respond_with(at_cap, over_cap)
    svc = AgentDispatchService(session, url, API_KEY, API_SECRET)
    assert await svc.list_dispatch("r") == []
    with pytest.raises(TwirpError) as err:
        await svc.list_dispatch("r")
    assert err.value.code is TwirpErrorCode.INTERNAL
    assert "max_response_bytes=16777216" in err.value.message
    assert len(fake.requests) == 2  # not retried


async def test_a_session_of_another_loop_is_failed_precondition(url: str) -> None:
    """Aiohttp raised RuntimeError ("Timeout context manager should be used inside a
    task") for a session made on another event loop; now it is a TwirpError, nothing sent."""

    async def make() -> aiohttp.ClientSession:
        return aiohttp.ClientSession()

    other = asyncio.new_event_loop()
    thread = threading.Thread(target=other.run_forever)
    thread.start()
    try:
        foreign = asyncio.run_coroutine_threadsafe(make(), other).result()
        try:
            svc = AgentDispatchService(foreign, url, API_KEY, API_SECRET)
            with pytest.raises(TwirpError) as err:
                await svc.list_dispatch("r")
            assert err.value.code is TwirpErrorCode.FAILED_PRECONDITION
            assert "another event loop" in err.value.message
        finally:
            asyncio.run_coroutine_threadsafe(foreign.close(), other).result()
    finally:
        other.call_soon_threadsafe(other.stop)
        thread.join()
        other.close()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.1:7880",
        "http://1.2.3.4.5:7880",
        "http://256.1.1.1:7880",
        "http://01.2.3.4:7880",
        "http://2130706433:7880",
        "http://exa mple:7880",
        "http://127.0.0.1:0",
        "http://[::1:7880",
    ],
)
def test_urls_aiohttp_refuses_are_refused_at_construction(session: aiohttp.ClientSession, url: str) -> None:
    """These were accepted, then every call failed as ``unavailable`` (reads retried)."""
    with pytest.raises(ValueError, match="url"):
        AgentDispatchService(session, url, API_KEY, API_SECRET)


@pytest.mark.parametrize(
    "url", ["http://1.2.3.4:7880", "http://[::1]:7880", "https://lk.example/p", "ws://localhost"]
)
def test_urls_aiohttp_takes_are_accepted(session: aiohttp.ClientSession, url: str) -> None:
    AgentDispatchService(session, url, API_KEY, API_SECRET)


@pytest.mark.parametrize("field", ["agent_name", "metadata", "attributes", "deployment", "restart_policy"])
async def test_a_none_request_field_is_a_value_error(
    service: AgentDispatchService, fake: FakeLiveKit, field: str
) -> None:
    """``agent_name=None`` (or metadata, attributes...) was sent as if left out."""
    req = CreateAgentDispatchRequest(agent_name="a", room="r")
    setattr(req, field, None)
    with pytest.raises(ValueError, match=field):
        await service.create_dispatch(req)
    assert fake.requests == []


async def test_transport_failures_are_told_in_the_users_terms(session: aiohttp.ClientSession) -> None:
    """Aiohttp's wording ("ssl:default" for a plain-http URL, "Bad status line") was
    the message; it stays in meta["detail"] and the cause."""
    port = unused_port()
    svc = AgentDispatchService(
        session, f"http://127.0.0.1:{port}", API_KEY, API_SECRET, retry=RetryPolicy.none()
    )
    with pytest.raises(TwirpError) as err:
        await svc.list_dispatch("r")
    assert err.value.message.startswith(f"ListDispatch: cannot connect to 127.0.0.1:{port}: ")
    assert "ssl:default" not in err.value.message
    assert "ssl:default" in err.value.meta["detail"]

    async def not_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(100)
        writer.write(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
        writer.close()

    server = await asyncio.start_server(not_http, "127.0.0.1", 0)
    try:
        url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        svc = AgentDispatchService(session, url, API_KEY, API_SECRET, retry=RetryPolicy.none())
        with pytest.raises(TwirpError) as err:
            await svc.list_dispatch("r")
    finally:
        server.close()
        await server.wait_closed()
    assert err.value.code is TwirpErrorCode.UNAVAILABLE
    assert err.value.message == "ListDispatch: the answer is not valid HTTP (is the URL's scheme right?)"
    assert "Bad status line" in err.value.meta["detail"]
