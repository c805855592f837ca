"""dispatch_client.sync: what a call says when close() ends it, and how long a call waits at most."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import pytest
from aiohttp import web
from fake_livekit import FakeLiveKit
from local_helpers import KEY, SECRET, server_in_thread

from dispatch_client import AgentDispatch, CreateAgentDispatchRequest, TwirpError, TwirpErrorCode
from dispatch_client._client.loop_thread import MARGIN
from dispatch_client.fleet import Lease
from dispatch_client.sync import AgentDispatchService

Call = Callable[[AgentDispatchService], object]


def slow_after_work(fake: FakeLiveKit, method: str, arrived: threading.Event) -> None:
    """The next requests are served as usual, but ``method``'s answer comes 1 s after its work."""

    async def handler(request: web.Request) -> web.StreamResponse:
        answer = await fake.serve(request)
        if request.path.endswith("/" + method):
            arrived.set()
            await asyncio.sleep(1)
        return answer

    fake.respond_with(*[handler] * 10)


def closed_during(client: AgentDispatchService, call: Call, arrived: threading.Event) -> TwirpError:
    """The error ``call`` ends with when ``client`` is closed from another thread during it."""
    got: list[BaseException] = []

    def caller() -> None:
        try:
            call(client)
        except BaseException as e:
            got.append(e)

    thread = threading.Thread(target=caller)
    thread.start()
    try:
        assert arrived.wait(10), "the request did not reach the server"
        client.close()
    finally:
        thread.join(10)
    [err] = got
    assert isinstance(err, TwirpError)
    return err


def create(room: str) -> Call:
    return lambda c: c.create_dispatch(CreateAgentDispatchRequest(agent_name="a", room=room))


def ensure(room: str) -> Call:
    return lambda c: c.ensure_dispatch(CreateAgentDispatchRequest(agent_name="a", room=room))


@pytest.mark.parametrize("how", [create, ensure], ids=["create_dispatch", "ensure_dispatch"])
async def test_a_create_that_close_ends_may_have_been_done(
    fake: FakeLiveKit, url: str, how: Callable[[str], Call]
) -> None:
    """It raised failed_precondition without outcome_unknown, and the server held the dispatch:
    a retry would have sent a second agent."""
    room = f"close-{how.__name__}"
    arrived = threading.Event()
    client = await asyncio.to_thread(AgentDispatchService, url, fake.api_key, fake.api_secret)
    slow_after_work(fake, "CreateDispatch", arrived)
    err = await asyncio.to_thread(closed_during, client, how(room), arrived)
    assert err.code is TwirpErrorCode.FAILED_PRECONDITION
    assert err.outcome_unknown
    assert len(fake.rooms[room]) == 1  # it was done


async def test_a_delete_that_close_ends_may_have_been_done(fake: FakeLiveKit, url: str) -> None:
    arrived = threading.Event()
    client = await asyncio.to_thread(AgentDispatchService, url, fake.api_key, fake.api_secret)
    made = await asyncio.to_thread(create("close-delete"), client)
    assert isinstance(made, AgentDispatch)
    slow_after_work(fake, "DeleteDispatch", arrived)
    delete: Call = lambda c: c.delete_dispatch(made.id, "close-delete")  # noqa: E731
    err = await asyncio.to_thread(closed_during, client, delete, arrived)
    assert (err.code, err.outcome_unknown) == (TwirpErrorCode.FAILED_PRECONDITION, True)
    assert fake.rooms["close-delete"] == {}  # it was done


class Stuck:
    """A coordinator that blocks the event loop's thread until told to let go."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.go = threading.Event()

    async def acquire(self, key: str, deadline: float) -> Lease:
        self.entered.set()
        self.go.wait(30)  # blocks the loop thread: no call on it can end, nor say so
        raise TwirpError(TwirpErrorCode.UNAVAILABLE, "stuck")


def test_a_call_waits_no_longer_than_its_deadline_and_a_margin(summary: list[str]) -> None:
    """The wait for the loop thread's answer had no bound: a loop that does not answer (as in a
    forked child, where its thread does not exist) kept the caller forever."""
    stuck = Stuck()
    with server_in_thread() as server:
        client = AgentDispatchService(server.url, KEY, SECRET, coordinator=stuck)
        try:
            started = time.monotonic()
            with pytest.raises(TwirpError) as err:
                client.ensure_dispatch(CreateAgentDispatchRequest(agent_name="a", room="stuck"), timeout=0.5)
            waited = time.monotonic() - started
            assert stuck.entered.is_set()
            assert (err.value.code, err.value.outcome_unknown) == (TwirpErrorCode.DEADLINE_EXCEEDED, True)
            assert waited < 0.5 + MARGIN + 1
        finally:
            stuck.go.set()
            client.close()
    summary.append(f"sync client: a call of 0.5 s on a loop that does not answer ended in {waited:.2f} s")
