"""One deadline over all attempts, Retry-After, the request id, fresh tokens and the per-attempt log."""

from __future__ import annotations

import email.utils
import logging
import re
import uuid
from collections.abc import Awaitable, Callable

import aiohttp
import jwt
import pytest
from aiohttp import web
from fake_livekit import API_KEY, API_SECRET, FakeLiveKit, answer, late
from retrying import STEADY, Sleeps, make, unavailable

from dispatch_client import (
    AgentDispatchService,
    CreateAgentDispatchRequest,
    RetryPolicy,
    TwirpError,
    TwirpErrorCode,
)
from dispatch_client._transport.retry import retry_after

T0 = 1_900_000_000.0
EMPTY_LIST = answer(200, '{"agent_dispatches": []}', "application/json")


async def test_no_retry_past_the_deadline(
    session: aiohttp.ClientSession, url: str, fake: FakeLiveKit
) -> None:
    sleeps = Sleeps()
    fake.respond_with(unavailable, unavailable)
    svc = make(session, url, sleeps, retry=RetryPolicy(initial_backoff=5.0, max_backoff=5.0), timeout=1.0)
    with pytest.raises(TwirpError) as err:
        await svc.list_dispatch("r")
    assert err.value.code is TwirpErrorCode.UNAVAILABLE
    assert sleeps.calls == []
    assert len(fake.requests) == 1


async def test_each_attempt_gets_the_remaining_time(
    session: aiohttp.ClientSession, url: str, fake: FakeLiveKit
) -> None:
    fake.respond_with(unavailable)
    svc = AgentDispatchService(session, url, API_KEY, API_SECRET, retry=STEADY, timeout=3.0, rand=lambda: 1.0)
    await svc.list_dispatch("r")
    first, second = (int(r.headers["X-Twirp-Timeout-Ms"]) for r in fake.requests)
    assert 2000 < first <= 3000  # the whole timeout, less what passed before the first send
    assert 1000 < second <= first - 100  # a real 0.1 s wait and the first attempt came off the budget


async def test_no_retry_when_too_little_time_would_be_left(
    session: aiohttp.ClientSession, url: str, fake: FakeLiveKit
) -> None:
    # A wait of 1.8 s within a 3 s timeout: a retry is made only while the attempt before it
    # took at most 0.6 s, the time that would then be left (and more than a tenth of 3 s).
    sleeps = Sleeps()
    fake.respond_with(late(0.8, then=unavailable), unavailable)  # 0.8 s at the least, then at once
    svc = make(session, url, sleeps, retry=RetryPolicy(3, 1.8, 1.8), timeout=3.0)
    with pytest.raises(TwirpError) as err:
        await svc.list_dispatch("r")
    # The known 503 is raised, not traded for a retry that would end as deadline_exceeded.
    assert (err.value.code, err.value.status) == (TwirpErrorCode.UNAVAILABLE, 503)
    assert (len(fake.requests), sleeps.calls) == (1, [])
    await svc.list_dispatch("r")
    assert (len(fake.requests), sleeps.calls) == (3, [1.8])  # the quick failure was retried
    # A create's check of the room keeps to the same rule: none within the 1.8 s left.
    fake.respond_with(late(0.8, then=unavailable))
    with pytest.raises(TwirpError) as err:
        await svc.create_dispatch(CreateAgentDispatchRequest(agent_name="a", room="r"))
    assert (err.value.status, err.value.outcome_unknown) == (503, True)
    assert (len(fake.requests), sleeps.calls) == (4, [1.8])


async def test_a_deadline_that_runs_out_is_not_retried(
    session: aiohttp.ClientSession, url: str, fake: FakeLiveKit
) -> None:
    sleeps = Sleeps()
    fake.respond_with(late(5), late(5))
    with pytest.raises(TwirpError) as err:
        await make(session, url, sleeps, retry=STEADY, timeout=0.2).list_dispatch("r")
    assert err.value.code is TwirpErrorCode.DEADLINE_EXCEEDED
    assert err.value.status is None
    assert len(fake.requests) == 1
    assert sleeps.calls == []


async def test_a_deadline_that_runs_out_mid_body_has_no_status(
    session: aiohttp.ClientSession, url: str, fake: FakeLiveKit
) -> None:
    async def stall(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Length": "100", "Content-Type": "application/json"})
        await resp.prepare(request)
        await resp.write(b'{"agent_dispatches": ')
        await late(5)(request)
        return resp

    fake.respond_with(stall)
    with pytest.raises(TwirpError) as err:
        await make(session, url, Sleeps(), retry=STEADY, timeout=0.3).list_dispatch("r")
    assert err.value.code is TwirpErrorCode.DEADLINE_EXCEEDED
    assert err.value.status is None
    assert len(fake.requests) == 1


@pytest.mark.parametrize(
    ("header", "expected"),
    [("3", 3.0), ("0", 0.0), (" 12 ", 12.0), (email.utils.formatdate(T0 + 4.0, usegmt=True), 4.0)],
)
async def test_retry_after_is_honoured(
    session: aiohttp.ClientSession, url: str, fake: FakeLiveKit, header: str, expected: float
) -> None:
    sleeps = Sleeps()
    # Both answers are canned: the clock is far from the server's, which checks token times.
    fake.respond_with(answer(429, "slow down", **{"Retry-After": header}), EMPTY_LIST)
    svc = make(session, url, sleeps, retry=STEADY, clock=lambda: T0, timeout=30.0)
    assert await svc.list_dispatch("r") == []
    assert sleeps.calls == [expected]


async def test_a_retry_after_past_the_deadline_is_not_waited_for(
    session: aiohttp.ClientSession, url: str, fake: FakeLiveKit
) -> None:
    sleeps = Sleeps()
    quota = answer(429, '{"code":"resource_exhausted","msg":"quota"}', "application/json")
    fake.respond_with(quota, answer(503, "x", **{"Retry-After": "30"}))
    svc = make(session, url, sleeps, retry=STEADY, timeout=10.0)
    with pytest.raises(TwirpError) as err:
        await svc.create_dispatch(CreateAgentDispatchRequest(agent_name="a", room="r"))
    assert err.value.code is TwirpErrorCode.UNAVAILABLE
    assert err.value.status == 503
    assert sleeps.calls == [0.1]
    assert len(fake.requests) == 2


@pytest.mark.parametrize(
    "header",
    ["soon", "-1", "1.5", "9" * 40, "Wed, 99 Foo 2015 07:28:00 GMT", "Wed, 21 Oct 2015 07:28:00", "", "٣"],
)
def test_a_retry_after_that_is_neither_form_is_ignored(header: str) -> None:
    assert retry_after(header, T0) is None


def test_retry_after_dates() -> None:
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT", T0) == 0.0  # in the past: now
    assert retry_after(email.utils.formatdate(T0 + 90, usegmt=True), T0) == 90.0
    assert retry_after(None, T0) is None


async def test_the_callers_request_id_is_sent_on_every_attempt(
    session: aiohttp.ClientSession, url: str, fake: FakeLiveKit
) -> None:
    fake.respond_with(unavailable, unavailable)
    svc = make(session, url, Sleeps(), retry=STEADY)
    await svc.create_dispatch(CreateAgentDispatchRequest(agent_name="a", room="r"), request_id="call-42/try")
    await svc.list_dispatch("r", request_id="list-1")
    # The create, its check of the room (a list, retried once), the create again, then a list.
    paths = [r.path.rsplit("/", 1)[1][:6] for r in fake.requests]
    assert paths == ["Create", "ListDi", "ListDi", "Create", "ListDi"]
    assert [r.headers["X-Livekit-Request-Id"] for r in fake.requests] == ["call-42/try"] * 4 + ["list-1"]


async def test_a_fresh_uuid4_request_id_per_call(
    session: aiohttp.ClientSession, url: str, fake: FakeLiveKit
) -> None:
    svc = make(session, url, Sleeps(), retry=STEADY)
    for _ in range(3):
        await svc.list_dispatch("r")
    ids = [r.headers["X-Livekit-Request-Id"] for r in fake.requests]
    assert len(set(ids)) == 3
    for rid in ids:
        assert rid.startswith("REQ_")
        parsed = uuid.UUID(hex=rid.removeprefix("REQ_"))
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)
        assert rid == "REQ_" + parsed.hex


CALLS_WITH_ID: dict[str, Callable[[AgentDispatchService, object], Awaitable[object]]] = {
    "create": lambda s, rid: s.create_dispatch(
        CreateAgentDispatchRequest(agent_name="a", room="r"),
        request_id=rid,  # type: ignore[arg-type]
    ),
    "delete": lambda s, rid: s.delete_dispatch("AD_x", "r", request_id=rid),  # type: ignore[arg-type]
    "list": lambda s, rid: s.list_dispatch("r", request_id=rid),  # type: ignore[arg-type]
    "get": lambda s, rid: s.get_dispatch("AD_x", "r", request_id=rid),  # type: ignore[arg-type]
}


@pytest.mark.parametrize("bad", ["", 5, b"bytes", "has space", "new\nline", "é", "x" * 257])
@pytest.mark.parametrize("method", sorted(CALLS_WITH_ID))
async def test_bad_request_ids_are_value_errors(
    service: AgentDispatchService, fake: FakeLiveKit, bad: object, method: str
) -> None:
    with pytest.raises(ValueError, match="request_id"):
        await CALLS_WITH_ID[method](service, bad)
    assert fake.requests == []


async def test_no_attempt_sends_an_expired_token(
    session: aiohttp.ClientSession, url: str, fake: FakeLiveKit
) -> None:
    class Clock:
        now = T0

    async def sleep_long(seconds: float) -> None:
        Clock.now += 700  # the first attempt's 600 s token is now expired

    fake.respond_with(unavailable, EMPTY_LIST)
    svc = AgentDispatchService(
        session, url, API_KEY, API_SECRET, retry=STEADY, clock=lambda: Clock.now, sleep=sleep_long
    )
    assert await svc.list_dispatch("r") == []
    first, second = (
        jwt.decode(
            r.headers["Authorization"].removeprefix("Bearer "),
            API_SECRET,
            algorithms=["HS256"],
            options={"verify_exp": False, "verify_nbf": False},
        )
        for r in fake.requests
    )
    assert (first["nbf"], first["exp"]) == (T0, T0 + 600)
    assert (second["nbf"], second["exp"]) == (T0 + 700, T0 + 1300)


async def test_one_debug_line_per_attempt(
    session: aiohttp.ClientSession, url: str, fake: FakeLiveKit, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="dispatch_client")
    fake.respond_with(unavailable, answer(502, "bad gateway"))
    await make(session, url, Sleeps(), retry=STEADY).list_dispatch("r", request_id="rid-7")
    lines = [
        r.getMessage() for r in caplog.records if r.name == "dispatch_client" and r.levelno == logging.DEBUG
    ]
    assert len(lines) == 3
    for n, (line, outcome) in enumerate(
        zip(lines, ["HTTP 503 unavailable", "HTTP 502 unavailable", "HTTP 200"], strict=True), 1
    ):
        assert re.fullmatch(rf"ListDispatch attempt {n}: {outcome} in \d+\.\d{{3}} s \(request rid-7\)", line)


async def test_the_debug_line_of_an_attempt_without_an_answer(
    session: aiohttp.ClientSession, url: str, fake: FakeLiveKit, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="dispatch_client")
    fake.respond_with(late(5))
    with pytest.raises(TwirpError):
        await make(session, url, Sleeps(), timeout=0.2).list_dispatch("r")
    [line] = [r.getMessage() for r in caplog.records if r.name == "dispatch_client"]
    assert re.fullmatch(r"ListDispatch attempt 1: no answer \(deadline_exceeded\) in 0\.\d{3} s .*", line)
