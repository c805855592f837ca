"""Which failures are tried again, how long the client waits, and that one deadline covers all."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import jwt
import orjson
import pytest
from aiohttp import web
from fake_livekit import API_KEY, API_SECRET, FakeLiveKit, answer, late, twirp_error, unused_port

from dispatch_client import (
    AgentDispatchService,
    CreateAgentDispatchRequest,
    RetryPolicy,
    TwirpError,
    TwirpErrorCode,
)

STEADY = RetryPolicy(attempts=3, initial_backoff=0.1, max_backoff=2.0, jitter=0.0)


class Sleeps:
    """Records the waits instead of waiting."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def make(session: aiohttp.ClientSession, url: str, sleeps: Sleeps, **kw: object) -> AgentDispatchService:
    return AgentDispatchService(session, url, API_KEY, API_SECRET, sleep=sleeps, **kw)  # type: ignore[arg-type]


async def _unavailable(request: web.Request) -> web.Response:
    return twirp_error("unavailable", "node draining", 503)


async def test_unavailable_then_success(
    session: aiohttp.ClientSession, url: str, fake: FakeLiveKit, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="dispatch_client")
    sleeps = Sleeps()
    fake.respond_with(_unavailable, answer(503, "<html>no healthy upstream</html>", "text/html"))
    svc = make(session, url, sleeps, retry=STEADY)
    created = await svc.create_dispatch(CreateAgentDispatchRequest(agent_name="a", room="r"))
    assert created.room == "r"
    assert sleeps.calls == [0.1, 0.2]
    assert [r.getMessage() for r in caplog.records] == [
        "CreateDispatch failed (unavailable: node draining (HTTP 503)); attempt 2 of 3 in 0.10 s",
        "CreateDispatch failed (unavailable: HTTP 503 from a non-Twirp responder: "
        "<html>no healthy upstream</html> (HTTP 503)); attempt 3 of 3 in 0.20 s",
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
    fake.respond_with(_unavailable, _unavailable, _unavailable, _unavailable)
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
        (404, '{"code":"not_found","msg":"x"}'),
        (429, '{"code":"resource_exhausted","msg":"x"}'),
        (429, "slow down"),
        (401, "invalid token"),
        (502, "bad gateway"),
        (504, "gateway timeout"),
    ],
)
async def test_answers_that_are_not_retried(
    session: aiohttp.ClientSession, url: str, fake: FakeLiveKit, status: int, body: str
) -> None:
    sleeps = Sleeps()
    fake.respond_with(answer(status, body), answer(status, body))
    with pytest.raises(TwirpError) as err:
        await make(session, url, sleeps, retry=STEADY).create_dispatch(
            CreateAgentDispatchRequest(agent_name="a", room="r")
        )
    assert err.value.status == status
    assert len(fake.requests) == 1
    assert sleeps.calls == []


async def test_a_504_is_retried_for_reads(
    session: aiohttp.ClientSession, url: str, fake: FakeLiveKit
) -> None:
    sleeps = Sleeps()
    fake.respond_with(answer(504, "gateway timeout"))
    assert await make(session, url, sleeps, retry=STEADY).list_dispatch("r") == []
    assert len(fake.requests) == 2


async def test_connection_refused_is_retried(session: aiohttp.ClientSession) -> None:
    sleeps = Sleeps()
    svc = make(session, f"http://127.0.0.1:{unused_port()}", sleeps, retry=STEADY)
    with pytest.raises(TwirpError) as err:
        await svc.create_dispatch(CreateAgentDispatchRequest(agent_name="a", room="r"))
    assert err.value.code is TwirpErrorCode.UNAVAILABLE
    assert sleeps.calls == [0.1, 0.2]


async def drop(request: web.Request) -> web.StreamResponse:
    assert request.transport is not None
    request.transport.close()
    return web.Response()


async def test_a_lost_answer_is_retried_only_for_reads(
    session: aiohttp.ClientSession, url: str, fake: FakeLiveKit
) -> None:
    sleeps = Sleeps()
    svc = make(session, url, sleeps, retry=STEADY)
    fake.respond_with(drop)
    with pytest.raises(TwirpError) as err:
        await svc.create_dispatch(CreateAgentDispatchRequest(agent_name="a", room="r"))
    assert err.value.code is TwirpErrorCode.UNAVAILABLE
    assert len(fake.requests) == 1  # the server may have created it: not sent again

    fake.respond_with(drop)
    assert await svc.list_dispatch("r") == []
    assert len(fake.requests) == 3
    assert len(sleeps.calls) == 1


async def test_no_retry_past_the_deadline(
    session: aiohttp.ClientSession, url: str, fake: FakeLiveKit
) -> None:
    sleeps = Sleeps()
    fake.respond_with(_unavailable, _unavailable)
    svc = make(session, url, sleeps, retry=RetryPolicy(initial_backoff=5.0, jitter=0.0), timeout=1.0)
    with pytest.raises(TwirpError) as err:
        await svc.list_dispatch("r")
    assert err.value.code is TwirpErrorCode.UNAVAILABLE
    assert sleeps.calls == []
    assert len(fake.requests) == 1


async def test_each_attempt_gets_the_remaining_time(
    session: aiohttp.ClientSession, url: str, fake: FakeLiveKit
) -> None:
    fake.respond_with(_unavailable)
    svc = AgentDispatchService(session, url, API_KEY, API_SECRET, retry=STEADY, timeout=3.0)
    await svc.list_dispatch("r")
    first, second = (int(r.headers["X-Twirp-Timeout-Ms"]) for r in fake.requests)
    assert first == 3000
    assert 2000 < second <= 2900  # a real 0.1 s wait and the first attempt came off the budget


def test_backoff_and_jitter() -> None:
    p = RetryPolicy(attempts=6, initial_backoff=0.1, max_backoff=1.0, jitter=0.2)
    assert [p.backoff(n, 0.5) for n in range(1, 6)] == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0])
    assert p.backoff(1, 0.0) == pytest.approx(0.08)
    assert p.backoff(5, 0.999999) == pytest.approx(1.2, rel=1e-5)


@pytest.mark.parametrize(
    "kw",
    [{"attempts": 0}, {"initial_backoff": -1.0}, {"max_backoff": float("inf")}, {"jitter": 1.5}],
)
def test_bad_policies(kw: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(kw))):
        RetryPolicy(**kw)  # type: ignore[arg-type]


async def test_no_retry_when_too_little_time_would_be_left(
    session: aiohttp.ClientSession, url: str, fake: FakeLiveKit
) -> None:
    fake.respond_with(late(0.15, then=_unavailable))
    svc = AgentDispatchService(session, url, API_KEY, API_SECRET, timeout=0.3, retry=STEADY)
    with pytest.raises(TwirpError) as err:
        await svc.create_dispatch(CreateAgentDispatchRequest(agent_name="a", room="r"))
    # The known 503 is raised, not traded for a retry that would end as deadline_exceeded.
    assert err.value.code is TwirpErrorCode.UNAVAILABLE
    assert err.value.status == 503
    assert len(fake.requests) == 1


async def test_cancelled_while_waiting_to_retry(
    session: aiohttp.ClientSession, url: str, fake: FakeLiveKit
) -> None:
    waiting = asyncio.Event()

    async def hang(seconds: float) -> None:
        waiting.set()
        await asyncio.sleep(60)

    fake.respond_with(_unavailable)
    svc = AgentDispatchService(session, url, API_KEY, API_SECRET, retry=STEADY, sleep=hang)
    task = asyncio.create_task(svc.list_dispatch("r"))
    await waiting.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(fake.requests) == 1


async def test_a_lost_answer_to_a_delete_is_not_retried(
    session: aiohttp.ClientSession, url: str, fake: FakeLiveKit
) -> None:
    sleeps = Sleeps()
    fake.respond_with(drop)
    with pytest.raises(TwirpError) as err:
        await make(session, url, sleeps, retry=STEADY).delete_dispatch("AD_1", "r")
    assert err.value.code is TwirpErrorCode.UNAVAILABLE
    assert len(fake.requests) == 1


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


async def test_concurrent_retries_keep_their_own_token_and_request_id(
    session: aiohttp.ClientSession, url: str, fake: FakeLiveKit
) -> None:
    fake.respond_with(*[_unavailable] * 10)

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
