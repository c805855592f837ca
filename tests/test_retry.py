"""Which failures are tried again, for which methods, and how long the client waits."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import jwt
import orjson
import pytest
from aiohttp import web
from fake_livekit import API_KEY, API_SECRET, FakeLiveKit, after_work, answer, unused_port
from retrying import STEADY, Sleeps, make, unavailable

from dispatch_client import (
    AgentDispatchService,
    CreateAgentDispatchRequest,
    RetryPolicy,
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
    assert await svc.list_dispatch("r") == []
    assert sleeps.calls == [0.05, 0.1]  # half of 0.1 s, then half of 0.2 s
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.INFO] == [
        "ListDispatch failed (unavailable: node draining (HTTP 503)); attempt 2 of 3 in 0.05 s",
        "ListDispatch failed (unavailable: HTTP 503 from a non-Twirp responder: "
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
    ("status", "body", "checked"),
    [
        (500, '{"code":"internal","msg":"x"}', True),
        (500, "", True),
        (404, '{"code":"not_found","msg":"x"}', False),
        (400, '{"code":"invalid_argument","msg":"x"}', False),
        (408, '{"code":"deadline_exceeded","msg":"x"}', True),
        (409, '{"code":"already_exists","msg":"x"}', False),
        (412, '{"code":"failed_precondition","msg":"x"}', False),
        (401, "invalid token", False),
        (403, "forbidden", False),
        (413, "too large", False),
        (307, "moved", False),
    ],
)
@pytest.mark.parametrize("method", ["create", "list"])
async def test_answers_that_are_not_retried(
    session: aiohttp.ClientSession,
    url: str,
    fake: FakeLiveKit,
    status: int,
    body: str,
    checked: bool,
    method: str,
) -> None:
    # A create's failure that may follow the server's work is checked by listing the room
    # (the fake has nothing there), then raised: it is not one worth sending again.
    sleeps = Sleeps()
    checks = 1 if checked and method == "create" else 0
    # The same answer again for a retry, if one were made; the check gets the fake's own.
    fake.respond_with(*[answer(status, body)] * (2 - checks))
    svc = make(session, url, sleeps, retry=STEADY)
    call = (
        svc.create_dispatch(CreateAgentDispatchRequest(agent_name="a", room="r"))
        if method == "create"
        else svc.list_dispatch("r")
    )
    with pytest.raises(TwirpError) as err:
        await call
    assert err.value.status == status
    assert not err.value.outcome_unknown
    assert [r.path.rsplit("/", 1)[1] for r in fake.requests[1:]] == ["ListDispatch"] * checks
    assert sleeps.calls == [0.1] * checks


@pytest.mark.parametrize(
    ("status", "body", "checked"),
    [
        (503, '{"code":"unavailable","msg":"x"}', True),
        (503, "<html>no healthy upstream</html>", True),
        (502, "bad gateway", True),
        (504, "gateway timeout", True),
        (429, '{"code":"resource_exhausted","msg":"x"}', False),
        (429, "slow down", False),
        (500, '{"code":"unavailable","msg":"the server says so"}', True),
    ],
)
async def test_answers_that_are_retried(
    session: aiohttp.ClientSession, url: str, fake: FakeLiveKit, status: int, body: str, checked: bool
) -> None:
    # Reads are retried on every such answer. A delete is sent again at once only after a 429,
    # which says nothing was done; after the others it is sent again once a get shows the
    # dispatch still there. (Creates: tests/test_create_recovery.py.)
    sleeps = Sleeps()
    svc = make(session, url, sleeps, retry=STEADY)
    created = await svc.create_dispatch(CreateAgentDispatchRequest(agent_name="a", room="r"))
    fake.respond_with(answer(status, body))
    assert await svc.get_dispatch(created.id, "r") == created
    fake.respond_with(answer(status, body))
    assert (await svc.delete_dispatch(created.id, "r")).id == created.id
    rpcs = [r.path.rsplit("/", 1)[1] for r in fake.requests[3:]]
    assert rpcs == ["DeleteDispatch", "ListDispatch", "DeleteDispatch"] if checked else ["DeleteDispatch"] * 2
    assert sleeps.calls == [0.1, 0.1]


async def test_a_delete_whose_answer_is_lost_after_the_work_is_an_unknown_outcome(
    session: aiohttp.ClientSession, url: str, fake: FakeLiveKit
) -> None:
    sleeps = Sleeps()
    svc = make(session, url, sleeps, retry=STEADY)
    created = await svc.create_dispatch(CreateAgentDispatchRequest(agent_name="a", room="r"))
    fake.respond_with(after_work(fake, answer(502, "bad gateway")))
    with pytest.raises(TwirpError) as err:
        await svc.delete_dispatch(created.id, "r")
    # Gone, so not sent again (it would be not_found); but the answer, the dispatch, is lost.
    assert (err.value.status, err.value.outcome_unknown) == (502, True)
    assert [r.path.rsplit("/", 1)[1] for r in fake.requests[1:]] == ["DeleteDispatch", "ListDispatch"]
    assert await svc.list_dispatch("r") == []


async def test_connection_refused_is_retried(session: aiohttp.ClientSession) -> None:
    sleeps = Sleeps()
    svc = make(session, f"http://127.0.0.1:{unused_port()}", sleeps, retry=STEADY)
    with pytest.raises(TwirpError) as err:
        await svc.create_dispatch(CreateAgentDispatchRequest(agent_name="a", room="r"))
    assert err.value.code is TwirpErrorCode.UNAVAILABLE
    assert err.value.status is None
    assert sleeps.calls == [0.1, 0.2]


async def test_a_connection_closed_before_the_answer_is_checked_then_retried(
    session: aiohttp.ClientSession, url: str, fake: FakeLiveKit
) -> None:
    sleeps = Sleeps()
    svc = make(session, url, sleeps, retry=STEADY)
    fake.respond_with(drop)
    # The create is sent again only after a list shows it was not done.
    created = await svc.create_dispatch(CreateAgentDispatchRequest(agent_name="a", room="r"))
    assert [r.path.rsplit("/", 1)[1] for r in fake.requests] == [
        "CreateDispatch",
        "ListDispatch",
        "CreateDispatch",
    ]
    fake.respond_with(drop)
    assert await svc.list_dispatch("r") == [created]
    assert len(fake.requests) == 5
    assert sleeps.calls == [0.1, 0.1]
    # A delete too is sent again only once a get shows the dispatch still there.
    fake.respond_with(drop)
    assert (await svc.delete_dispatch(created.id, "r")).id == created.id
    assert [r.path.rsplit("/", 1)[1] for r in fake.requests[5:]] == [
        "DeleteDispatch",
        "ListDispatch",
        "DeleteDispatch",
    ]


async def test_a_delete_is_retried_when_no_connection_could_be_made(session: aiohttp.ClientSession) -> None:
    sleeps = Sleeps()
    svc = make(session, f"http://127.0.0.1:{unused_port()}", sleeps, retry=STEADY)
    with pytest.raises(TwirpError) as err:
        await svc.delete_dispatch("AD_x", "r")
    assert (err.value.code, err.value.status) == (TwirpErrorCode.UNAVAILABLE, None)
    assert sleeps.calls == [0.1, 0.2]


async def test_an_answer_lost_midway_is_retried_for_reads_and_checked_for_creates(
    session: aiohttp.ClientSession, url: str, fake: FakeLiveKit
) -> None:
    sleeps = Sleeps()
    svc = make(session, url, sleeps, retry=STEADY, max_response_bytes=1000)
    fake.respond_with(drop_mid_body)
    assert await svc.list_dispatch("r") == []
    assert len(fake.requests) == 2
    assert sleeps.calls == [0.1]

    # Without retries a create cannot check, and says that it may have been done.
    single = make(session, url, sleeps, retry=RetryPolicy.none())
    fake.respond_with(drop_mid_body)
    with pytest.raises(TwirpError) as err:
        await single.create_dispatch(CreateAgentDispatchRequest(agent_name="a", room="r"))
    assert err.value.code is TwirpErrorCode.UNAVAILABLE
    assert err.value.status == 200  # the server answered: it acted, and the answer was lost
    assert err.value.outcome_unknown
    assert len(fake.requests) == 3


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
