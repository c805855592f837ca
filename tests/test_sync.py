"""dispatch_client.sync: the async client run on a loop of its own, for threads and scripts."""

from __future__ import annotations

import asyncio
import collections
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest
from livekit_server import RealServer, unique_room
from local_helpers import KEY, SECRET, server_in_thread

from dispatch_client import CreateAgentDispatchRequest, TwirpError, TwirpErrorCode, WaitOutcome
from dispatch_client.sync import AgentDispatchService
from dispatch_client.testing import LocalDispatchServer

THREADS = 8
CALLS = 100  # per thread


def loop_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "dispatch-client"]


@pytest.fixture(scope="module")
def stand_in() -> Iterator[LocalDispatchServer]:
    with server_in_thread() as server:
        yield server


def test_eight_threads_of_a_hundred_calls(stand_in: LocalDispatchServer, summary: list[str]) -> None:
    before = len(loop_threads())
    outcomes: collections.Counter[str] = collections.Counter()
    errors: list[BaseException] = []
    client = AgentDispatchService(stand_in.url, KEY, SECRET)

    def work(n: int) -> None:
        room = f"sync-{n}"
        try:
            for i in range(CALLS // 4):
                made = client.create_dispatch(
                    CreateAgentDispatchRequest(agent_name="a", room=room, metadata=str(i))
                )
                assert client.get_dispatch(made.id, room) == made
                assert made.id in {d.id for d in client.list_dispatch(room)}
                assert client.delete_dispatch(made.id, room).id == made.id
                outcomes["ok"] += 4
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(loop_threads()) == before + 1  # one loop thread for the client, whatever the callers
    client.close()
    summary.append(f"sync client: {THREADS} threads x {CALLS} calls: {dict(outcomes)}, errors {len(errors)}")
    assert errors == []
    assert outcomes["ok"] == THREADS * CALLS
    assert len(loop_threads()) == before  # closing joined it
    for n in range(THREADS):  # each room holds only the server's own default dispatch
        assert [d.agent_name for d in stand_in.rooms()[f"sync-{n}"]] == [""]


def test_the_same_errors_and_close(stand_in: LocalDispatchServer) -> None:
    with AgentDispatchService(stand_in.url, KEY, SECRET) as client:
        with pytest.raises(ValueError, match="room_name"):
            client.list_dispatch("")
        made = client.create_dispatch(CreateAgentDispatchRequest(agent_name="a", room="sync-errors"))
        with pytest.raises(TwirpError) as err:
            client.delete_dispatch("AD_nothere12345", "sync-errors")
        assert err.value.code is TwirpErrorCode.NOT_FOUND
        assert (
            client.ensure_dispatch(CreateAgentDispatchRequest(agent_name="a", room="sync-errors")).id
            == made.id
        )
        with pytest.raises(TwirpError) as err:
            client.wait_for_job(made.id, "sync-errors", timeout=0.2)
        assert err.value.wait_outcome is WaitOutcome.NO_JOB
    client.close()  # twice is harmless
    with pytest.raises(TwirpError) as err:
        client.list_dispatch("sync-errors")
    assert err.value.code is TwirpErrorCode.FAILED_PRECONDITION


async def test_a_call_from_a_running_event_loop_is_refused(stand_in: LocalDispatchServer) -> None:
    client = await asyncio.to_thread(AgentDispatchService, stand_in.url, KEY, SECRET)
    try:
        with pytest.raises(TwirpError) as err:
            client.list_dispatch("r")  # would block this loop: refused at once, nothing sent
        assert err.value.code is TwirpErrorCode.FAILED_PRECONDITION
        assert "event loop" in err.value.message
    finally:
        await asyncio.to_thread(client.close)


def test_close_while_a_call_waits_ends_the_call(stand_in: LocalDispatchServer) -> None:
    client = AgentDispatchService(stand_in.url, KEY, SECRET)
    got: list[BaseException] = []
    started = threading.Event()

    def wait() -> None:
        made = client.create_dispatch(CreateAgentDispatchRequest(agent_name="a", room="sync-close"))
        started.set()
        try:
            client.wait_for_job(made.id, "sync-close", timeout=30)
        except BaseException as e:
            got.append(e)

    caller = threading.Thread(target=wait)
    caller.start()
    assert started.wait(10)
    client.close()
    caller.join(10)
    assert not caller.is_alive()
    assert [type(e) for e in got] == [TwirpError]
    assert isinstance(got[0], TwirpError)
    assert got[0].code is TwirpErrorCode.FAILED_PRECONDITION


def test_a_process_that_forgets_to_close_still_exits(stand_in: LocalDispatchServer) -> None:
    script = (
        "import dispatch_client.sync as s\n"
        f"c = s.AgentDispatchService({stand_in.url!r}, {KEY!r}, {SECRET!r})\n"
        "print(len(c.list_dispatch('sync-errors')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", script], capture_output=True, text=True, timeout=30, check=False
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert int(done.stdout) >= 1


def test_against_the_real_server(livekit: RealServer) -> None:
    room = unique_room("sync")
    with AgentDispatchService(livekit.url, livekit.api_key, livekit.api_secret) as client:
        made = client.create_dispatch(CreateAgentDispatchRequest(agent_name="sync-agent", room=room))
        assert client.get_dispatch(made.id, room) == made
        assert {d.agent_name for d in client.list_dispatch(room)} == {"", "sync-agent"}
        assert (
            client.ensure_dispatch(CreateAgentDispatchRequest(agent_name="sync-agent", room=room)).id
            == made.id
        )
        assert client.delete_dispatch(made.id, room).id == made.id
        with pytest.raises(TwirpError) as err:
            client.list_dispatch(unique_room("sync-none"))
        assert err.value.room_not_running
