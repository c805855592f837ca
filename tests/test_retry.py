"""Which failures are tried again, for which methods, and how long the client waits."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import jwt
import orjson
import pytest
from aiohttp import web
from fake_livekit import API_KEY, API_SECRET, FakeLiveKit, answer, unused_port
from retrying import STEADY, Sleeps, make, unavailable

from dispatch_client import (
    AgentDispatchService,
    CreateAgentDispatchRequest,
    TwirpError,
    TwirpErrorCode,
)


async def drop(request: web.Request) -> web.StreamResponse:
    """Close the connection without answering."""
    assert request.transport is not None
    request.transport.close()
    return web.Response()


async def drop_mid_body(request: web.Request) -> web.StreamResponse:
    """Send a 200 status line and part of the body, then close the connection."""
    resp = web.StreamResponse(headers={"Content-Length": "1000", "Content-Type": "application/json"})
    await resp.prepare(request)
    await resp.write(b'{"id": "AD_')
    assert request.transport is not None
    request.transport.close()
    return resp


async def testunavailable_then_success(
    session: aiohttp.ClientSession, url: str, fake: FakeLiveKit, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="dispatch_client")
    sleeps = Sleeps()
    fake.respond_with(unavailable, answer(503, "<html>no healthy upstream</html>", "text/html"))
    svc = make(session, url, sleeps, rand=0.5, retry=STEADY)
    created = await svc.create_dispatch(CreateAgentDispatchRequest(agent_name="a", room="r"))
    assert created.room == "r"
    assert sleeps.calls == [0.05, 0.1]  # half of 0.1 s, then half of 0.2 s
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.INFO] == [
        "CreateDispatch failed (unavailable: node draining (HTTP 503)); attempt 2 of 3 in 0.05 s",
        "CreateDispatch failed (unavailable: HTTP 503 from a non-Twirp responder: "
        "<html>no healthy upstream</html> (HTTP 503)); attempt 3 of 3 in 0.10 s",
    ]
    ids = {r.headers["X-Livekit-Request-Id"] for r in fake.requests}
    assert len(fake.requests) == 3
    assert len(ids) == 1  # one logical call, one request id, so the server can tell retries apart
    await svc.list_dispatch("r")
    assert fake.requests[-1].headers["X-Livekit-Request-Id"] not in ids


async def test_gives_up_after_the_last_attempt(
    session: aiohttp.ClientSession, url: str, fake: FakeLiveKit
) -> None:
    sleeps = Sleeps()
    fake.respond_with(unavailable, unavailable, unavailable, unavailable)
    svc = make(session, url, sleeps, retry=STEADY)
    with pytest.raises(TwirpError) as err:
        await svc.list_dispatch("r")
    assert err.value.code is TwirpErrorCode.UNAVAILABLE
    assert err.value.status == 503
    assert len(fake.requests) == 3
    assert sleeps.calls == [0.1, 0.2]


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, '{"code":"internal","msg":"x"}'),
        (500, ""),
        (404, '{"code":"not_found","msg":"x"}'),
        (400, '{"code":"invalid_argument","msg":"x"}'),
        (408, '{"code":"deadline_exceeded","msg":"x"}'),
        (409, '{"code":"already_exists","msg":"x"}'),
        (412, '{"code":"failed_precondition","msg":"x"}'),
        (401, "invalid token"),
        (403, "forbidden"),
        (413, "too large"),
        (307, "moved"),
    ],
)
@pytest.mark.parametrize("method", ["create", "list"])
async def test_answers_that_are_not_retried(
    session: aiohttp.ClientSession, url: str, fake: FakeLiveKit, status: int, body: str, method: str
) -> None:
    sleeps = Sleeps()
    fake.respond_with(answer(status, body), answer(status, body))
    svc = make(session, url, sleeps, retry=STEADY)
    call = (
        svc.create_dispatch(CreateAgentDispatchRequest(agent_name="a", room="r"))
        if method == "create"
        else svc.list_dispatch("r")
    )
    with pytest.raises(TwirpError) as err:
        await call
    assert err.value.status == status
    assert len(fake.requests) == 1
    assert sleeps.calls == []


@pytest.mark.parametrize(
    ("status", "body", "delete_retried"),
    [
        (503, '{"code":"unavailable","msg":"x"}', True),
        (503, "<html>no healthy upstream</html>", True),
        (502, "bad gateway", False),
        (504, "gateway timeout", False),
        (429, '{"code":"resource_exhausted","msg":"x"}', True),
        (429, "slow down", True),
        (500, '{"code":"unavailable","msg":"the server says so"}', False),
    ],
)
async def test_answers_that_are_retried(
    session: aiohttp.ClientSession, url: str, fake: FakeLiveKit, status: int, body: str, delete_retried: bool
) -> None:
    # Creates and reads are retried on every such answer; a delete only on the refusals (503,
    # 429) that say nothing was done, since a second delete of one that was done is not_found.
    sleeps = Sleeps()
    svc = make(session, url, sleeps, retry=STEADY)
    fake.respond_with(answer(status, body))
    created = await svc.create_dispatch(CreateAgentDispatchRequest(agent_name="a", room="r"))
    fake.respond_with(answer(status, body))
    assert await svc.get_dispatch(created.id, "r") == created
    fake.respond_with(answer(status, body))
    if delete_retried:
        assert (await svc.delete_dispatch(created.id, "r")).id == created.id
        assert len(fake.requests) == 6
        assert sleeps.calls == [0.1, 0.1, 0.1]
    else:
        with pytest.raises(TwirpError) as err:
            await svc.delete_dispatch(created.id, "r")
        assert err.value.status == status
        assert len(fake.requests) == 5
        assert sleeps.calls == [0.1, 0.1]
        assert [d.id for d in await svc.list_dispatch("r")] == [created.id]


async def test_connection_refused_is_retried(session: aiohttp.ClientSession) -> None:
    sleeps = Sleeps()
    svc = make(session, f"http://127.0.0.1:{unused_port()}", sleeps, retry=STEADY)
    with pytest.raises(TwirpError) as err:
        await svc.create_dispatch(CreateAgentDispatchRequest(agent_name="a", room="r"))
    assert err.value.code is TwirpErrorCode.UNAVAILABLE
    assert err.value.status is None
    assert sleeps.calls == [0.1, 0.2]


async def test_a_connection_closed_before_the_answer_is_retried_except_for_deletes(
    session: aiohttp.ClientSession, url: str, fake: FakeLiveKit
) -> None:
    sleeps = Sleeps()
    svc = make(session, url, sleeps, retry=STEADY)
    fake.respond_with(drop)
    created = await svc.create_dispatch(CreateAgentDispatchRequest(agent_name="a", room="r"))
    fake.respond_with(drop)
    assert await svc.list_dispatch("r") == [created]
    assert len(fake.requests) == 4
    assert sleeps.calls == [0.1, 0.1]
    # The server may have deleted it before the connection dropped: no second delete.
    fake.respond_with(drop)
    with pytest.raises(TwirpError) as err:
        await svc.delete_dispatch(created.id, "r")
    assert (err.value.code, err.value.status) == (TwirpErrorCode.UNAVAILABLE, None)
    assert len(fake.requests) == 5
    assert sleeps.calls == [0.1, 0.1]


async def test_a_delete_is_retried_when_no_connection_could_be_made(session: aiohttp.ClientSession) -> None:
    sleeps = Sleeps()
    svc = make(session, f"http://127.0.0.1:{unused_port()}", sleeps, retry=STEADY)
    with pytest.raises(TwirpError) as err:
        await svc.delete_dispatch("AD_x", "r")
    assert (err.value.code, err.value.status) == (TwirpErrorCode.UNAVAILABLE, None)
    assert sleeps.calls == [0.1, 0.2]


async def test_an_answer_lost_midway_is_retried_only_for_reads(
    session: aiohttp.ClientSession, url: str, fake: FakeLiveKit
) -> None:
    sleeps = Sleeps()
    svc = make(session, url, sleeps, retry=STEADY)
    fake.respond_with(drop_mid_body)
    with pytest.raises(TwirpError) as err:
        await svc.create_dispatch(CreateAgentDispatchRequest(agent_name="a", room="r"))
    assert err.value.code is TwirpErrorCode.UNAVAILABLE
    assert err.value.status == 200  # the server answered: it acted, and the answer was lost
    assert len(fake.requests) == 1

    fake.respond_with(drop_mid_body)
    assert await svc.list_dispatch("r") == []
    assert len(fake.requests) == 3
    assert sleeps.calls == [0.1]


async def test_tls_failures_are_not_retried(
    session: aiohttp.ClientSession, url: str, fake: FakeLiveKit
) -> None:
    sleeps = Sleeps()
    # TLS spoken to a plain-HTTP server fails in the handshake.
    svc = make(session, url.replace("http://", "https://"), sleeps, retry=STEADY)
    with pytest.raises(TwirpError) as err:
        await svc.list_dispatch("r")
    assert err.value.code is TwirpErrorCode.UNAVAILABLE
    assert isinstance(err.value.__cause__, aiohttp.ClientSSLError)
    assert sleeps.calls == []


async def test_cancelled_while_waiting_to_retry(
    session: aiohttp.ClientSession, url: str, fake: FakeLiveKit
) -> None:
    waiting = asyncio.Event()

    async def hang(seconds: float) -> None:
        waiting.set()
        await asyncio.sleep(60)

    fake.respond_with(unavailable)
    svc = AgentDispatchService(session, url, API_KEY, API_SECRET, retry=STEADY, sleep=hang)
    task = asyncio.create_task(svc.list_dispatch("r"))
    await waiting.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(fake.requests) == 1


async def test_concurrent_retries_keep_their_own_token_and_request_id(
    session: aiohttp.ClientSession, url: str, fake: FakeLiveKit
) -> None:
    fake.respond_with(*[unavailable] * 10)

    async def yield_once(seconds: float) -> None:
        await asyncio.sleep(0)

    svc = AgentDispatchService(session, url, API_KEY, API_SECRET, retry=STEADY, sleep=yield_once)
    rooms = [f"room-{i}" for i in range(20)]
    assert await asyncio.gather(*(svc.list_dispatch(r) for r in rooms)) == [[]] * 20
    assert len(fake.requests) == 30
    ids: dict[str, set[str]] = {}
    for rec in fake.requests:
        room = orjson.loads(rec.body)["room"]
        ids.setdefault(room, set()).add(rec.headers["X-Livekit-Request-Id"])
        video = jwt.decode(
            rec.headers["Authorization"].removeprefix("Bearer "), API_SECRET, algorithms=["HS256"]
        )["video"]
        assert video["room"] == room
    assert sorted(ids) == sorted(rooms)
    assert all(len(v) == 1 for v in ids.values())
    assert len(set.union(*ids.values())) == 20
