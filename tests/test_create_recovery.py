"""A create is never sent twice blindly: after a failure that may follow the server's work the
room is listed, and the dispatch found there is returned; what cannot be checked says so.

The same rule against the real livekit-server, through a proxy that loses its answers:
tests/test_e2e_create_safety.py and tests/test_load.py.
"""

from __future__ import annotations

import asyncio
import pickle

import aiohttp
import pytest
from aiohttp import web
from fake_livekit import FakeLiveKit, after_work, answer, late, unused_port
from retrying import STEADY, Sleeps, make

from dispatch_client import (
    AgentDispatch,
    AgentDispatchState,
    CreateAgentDispatchRequest,
    JobRestartPolicy,
    RetryPolicy,
    TwirpError,
    TwirpErrorCode,
)
from dispatch_client._client.recovery import made_for

REQ = CreateAgentDispatchRequest(
    agent_name="a", room="r", metadata="m", deployment="d", attributes={"k": "v"}
)


async def drop(request: web.Request) -> web.StreamResponse:
    assert request.transport is not None
    request.transport.close()
    return web.Response()


def rpcs(fake: FakeLiveKit) -> list[str]:
    return [r.path.rsplit("/", 1)[1] for r in fake.requests]


@pytest.mark.parametrize(
    "lost",
    [drop, answer(502, "bad gateway"), answer(503, "busy"), answer(200, '{"id": "AD_'), answer(504, "")],
)
async def test_the_dispatch_a_lost_answer_was_for_is_returned(
    session: aiohttp.ClientSession, url: str, fake: FakeLiveKit, lost: object
) -> None:
    fake.respond_with(after_work(fake, lost))  # type: ignore[arg-type]
    created = await make(session, url, Sleeps(), retry=STEADY).create_dispatch(REQ)
    assert rpcs(fake) == ["CreateDispatch", "ListDispatch"]
    assert list(fake.rooms["r"]) == [created.id]
    assert (created.agent_name, created.metadata, created.attributes) == ("a", "m", {"k": "v"})
    # The check carried the call's request id.
    assert len({r.headers["X-Livekit-Request-Id"] for r in fake.requests}) == 1


async def test_when_the_check_fails_the_outcome_is_unknown(
    session: aiohttp.ClientSession, url: str, fake: FakeLiveKit
) -> None:
    fake.respond_with(after_work(fake, answer(502, "bad gateway")), *[answer(503, "busy")] * 3)
    with pytest.raises(TwirpError) as err:
        await make(session, url, Sleeps(), retry=STEADY).create_dispatch(REQ)
    # The create's own failure is raised, marked: the room holds its dispatch, unseen.
    assert (err.value.status, err.value.code, err.value.outcome_unknown) == (
        502,
        TwirpErrorCode.UNAVAILABLE,
        True,
    )
    assert rpcs(fake) == ["CreateDispatch", "ListDispatch", "ListDispatch", "ListDispatch"]
    assert len(fake.rooms["r"]) == 1


async def test_a_deadline_that_runs_out_in_a_create_is_an_unknown_outcome(
    session: aiohttp.ClientSession, url: str, fake: FakeLiveKit
) -> None:
    fake.respond_with(late(1.0))
    svc = make(session, url, Sleeps(), retry=STEADY, timeout=0.3)
    with pytest.raises(TwirpError) as err:
        await svc.create_dispatch(REQ)
    assert (err.value.code, err.value.outcome_unknown) == (TwirpErrorCode.DEADLINE_EXCEEDED, True)
    assert rpcs(fake) == ["CreateDispatch"]


@pytest.mark.parametrize(
    ("status", "body"),
    [(400, '{"code":"invalid_argument","msg":"x"}'), (401, "invalid token"), (404, "not here")],
)
async def test_a_refused_create_is_neither_checked_nor_unknown(
    session: aiohttp.ClientSession, url: str, fake: FakeLiveKit, status: int, body: str
) -> None:
    fake.respond_with(answer(status, body))
    with pytest.raises(TwirpError) as err:
        await make(session, url, Sleeps(), retry=STEADY).create_dispatch(REQ)
    assert (err.value.status, err.value.outcome_unknown) == (status, False)
    assert rpcs(fake) == ["CreateDispatch"]


async def test_no_connection_means_nothing_was_done(session: aiohttp.ClientSession) -> None:
    sleeps = Sleeps()
    svc = make(session, f"http://127.0.0.1:{unused_port()}", sleeps, retry=STEADY)
    with pytest.raises(TwirpError) as err:
        await svc.create_dispatch(REQ)
    assert (err.value.status, err.value.outcome_unknown) == (None, False)
    assert sleeps.calls == [0.1, 0.2]  # sent again without a check: it never left


async def test_without_retries_nothing_is_checked(
    session: aiohttp.ClientSession, url: str, fake: FakeLiveKit
) -> None:
    fake.respond_with(after_work(fake, drop))
    svc = make(session, url, Sleeps(), retry=RetryPolicy.none())
    with pytest.raises(TwirpError) as err:
        await svc.create_dispatch(REQ)
    assert err.value.outcome_unknown
    assert rpcs(fake) == ["CreateDispatch"]


async def test_a_cancel_during_the_check_is_the_callers(
    session: aiohttp.ClientSession, url: str, fake: FakeLiveKit
) -> None:
    checking = asyncio.Event()
    fake.respond_with(answer(502, "bad gateway"), late(30, started=checking))
    task = asyncio.create_task(make(session, url, Sleeps(), retry=STEADY).create_dispatch(REQ))
    await checking.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def dispatch(created_at: int, **fields: object) -> AgentDispatch:
    values: dict[str, object] = {
        "id": f"AD_{created_at}",
        "agent_name": "a",
        "room": "r",
        "metadata": "m",
        "deployment": "d",
        "attributes": {"k": "v"},
        "restart_policy": JobRestartPolicy.JRP_ON_FAILURE,
    }
    values.update(fields)
    return AgentDispatch(state=AgentDispatchState(created_at=created_at), **values)  # type: ignore[arg-type]


def test_made_for_takes_the_newest_alike_and_nothing_else() -> None:
    assert made_for(REQ, [dispatch(1), dispatch(3), dispatch(2)]) == dispatch(3)
    assert made_for(REQ, []) is None
    for other in (
        {"agent_name": ""},
        {"room": "r2"},
        {"metadata": "m2"},
        {"deployment": ""},
        {"attributes": {"k": "w"}},
        {"restart_policy": JobRestartPolicy.JRP_NEVER},
    ):
        assert made_for(REQ, [dispatch(5, **other)]) is None, other
        assert made_for(REQ, [dispatch(5, **other), dispatch(1)]) == dispatch(1)


def test_outcome_unknown_is_kept_by_pickle_and_shown() -> None:
    err = TwirpError(TwirpErrorCode.UNAVAILABLE, "lost", status=502, outcome_unknown=True)
    back = pickle.loads(pickle.dumps(err))
    assert back.outcome_unknown
    assert "outcome_unknown=True" in repr(err)
    assert "outcome_unknown" not in repr(TwirpError(TwirpErrorCode.UNAVAILABLE, "lost"))
