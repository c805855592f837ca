"""Thousands of calls, 200 at a time on one session, against a server that fails on purpose.

Every call returns a correct result or raises TwirpError with a code the faults explain; no
create makes two dispatches; nothing is left open or running afterwards. The numbers
(calls, faults, retries, latency) are printed in the run's summary under "measured".
"""

from __future__ import annotations

import asyncio
import collections
import gc
import logging
import statistics
import warnings
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from fake_livekit import API_KEY, API_SECRET
from faulty_livekit import NO_FAULTS, FaultyLiveKit

from dispatch_client import AgentDispatch, AgentDispatchService, CreateAgentDispatchRequest, TwirpError
from dispatch_client import TwirpErrorCode as Code

FLOWS = 1000  # each: create, then get, and for one in four a delete: over 2,000 calls
IN_FLIGHT = 200
ROOMS = 40
EXPECTED_FAILURES = (Code.UNAVAILABLE, Code.RESOURCE_EXHAUSTED)  # what the faults can cause


class AttemptCounter(logging.Handler):
    """Counts the client's per-attempt debug lines: attempts, and retries among them."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.attempts = 0
        self.retries = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno == logging.DEBUG and " attempt " in record.msg:
            self.attempts += 1
            self.retries += record.args[1] > 1  # type: ignore[index, operator]


class Load:
    """Runs the flows with IN_FLIGHT workers and keeps what each call did."""

    def __init__(self, svc: AgentDispatchService) -> None:
        self.svc = svc
        self.latencies: list[float] = []
        self.outcomes: collections.Counter[str] = collections.Counter()
        self.unsure: set[str] = set()  # metadata of dispatches a failed call may or may not have changed
        self.alive: dict[str, AgentDispatch] = {}
        self.in_flight = self.peak = 0

    async def timed(self, call: Any) -> Any:
        loop = asyncio.get_running_loop()
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        started = loop.time()
        try:
            result = await call
        except TwirpError as e:
            self.outcomes[f"TwirpError {e.code}"] += 1
            raise
        finally:
            self.in_flight -= 1
            self.latencies.append(loop.time() - started)
        self.outcomes["ok"] += 1
        return result

    async def flow(self, i: int) -> None:
        room, metadata = f"room-{i % ROOMS}", f"call-{i}"
        req = CreateAgentDispatchRequest(agent_name="agent", room=room, metadata=metadata)
        try:
            created = await self.timed(self.svc.create_dispatch(req))
        except TwirpError:
            self.unsure.add(metadata)
            return
        assert (created.agent_name, created.room, created.metadata) == ("agent", room, metadata)
        self.alive[created.id] = created
        try:
            assert await self.timed(self.svc.get_dispatch(created.id, room)) == created
            if i % 4 == 0:
                deleted = await self.timed(self.svc.delete_dispatch(created.id, room))
                assert deleted.id == created.id
                del self.alive[created.id]
        except TwirpError:
            self.alive.pop(created.id)
            self.unsure.add(metadata)

    async def run(self) -> None:
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(FLOWS):
            queue.put_nowait(i)

        async def worker() -> None:
            while not queue.empty():
                await self.flow(queue.get_nowait())

        await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))


async def settle(condition: Any, what: str) -> None:
    """Let the loop run until ``condition()`` holds; fail after many rounds."""
    for _ in range(200):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never settled: {what}")


@pytest.mark.filterwarnings("error::ResourceWarning")
async def test_load_with_faults(summary: list[str]) -> None:
    loop = asyncio.get_running_loop()
    loop_errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _, context: loop_errors.append(context))
    tasks_before = asyncio.all_tasks()
    counter = AttemptCounter()
    client_log = logging.getLogger("dispatch_client")
    client_log.addHandler(counter)
    client_log.setLevel(logging.DEBUG)
    faulty = FaultyLiveKit(seed=20240604)
    server = TestServer(faulty.app(), host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=IN_FLIGHT)) as session:
            svc = AgentDispatchService(session, str(server.make_url("")), API_KEY, API_SECRET)
            load = Load(svc)
            started = loop.time()
            await asyncio.wait_for(load.run(), timeout=180)  # a bound on the run, not a measurement
            elapsed = loop.time() - started
            faulty.faults = NO_FAULTS
            listed = await asyncio.gather(*(svc.list_dispatch(f"room-{r}") for r in range(ROOMS)))
            # No more connections than the session may open.
            await settle(lambda: len(server.runner.server.connections) <= IN_FLIGHT, "connections")  # type: ignore[union-attr]
        await settle(lambda: not server.runner.server.connections, "connections after close")  # type: ignore[union-attr]
    finally:
        loop.set_exception_handler(None)
        client_log.removeHandler(counter)
        client_log.setLevel(logging.NOTSET)
        await server.close()

    calls = sum(load.outcomes.values())
    assert calls >= 2000
    assert load.peak == IN_FLIGHT
    assert load.outcomes["ok"] > 0.9 * calls
    assert set(load.outcomes) <= {"ok", *(f"TwirpError {code}" for code in EXPECTED_FAILURES)}
    assert set(faulty.injected) == {"unavailable", "throttled", "closed_before", "closed_after", "delayed"}
    assert counter.retries > 0
    # One dispatch per create, however many of its attempts reached the server.
    assert max(faulty.created.values()) == 1
    assert max(faulty.created_per_metadata.values()) == 1
    duplicates = sum(n - 1 for n in faulty.created_per_metadata.values())
    assert faulty.replayed > 0  # some creates were done, lost, and asked again
    # The server holds what the client was told it holds, and else only what failed calls touched.
    on_server = {d.id: d for room in listed for d in room}
    assert {i: on_server.get(i) for i in load.alive} == load.alive
    assert {d.metadata for i, d in on_server.items() if i not in load.alive} <= load.unsure
    # Nothing left running, open or unclosed.
    await settle(lambda: asyncio.all_tasks() <= tasks_before, "tasks")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gc.collect()
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []
    assert loop_errors == []

    p50, p99 = (statistics.quantiles(load.latencies, n=100)[k] * 1000 for k in (49, 98))
    summary.append(
        f"load with faults: {calls} calls ({FLOWS} flows, {IN_FLIGHT} in flight, one session)"
        f" in {elapsed:.1f} s; outcomes {dict(load.outcomes)}"
    )
    summary.append(
        f"  faults injected {sum(faulty.injected.values())} {dict(faulty.injected)};"
        f" attempts {counter.attempts} ({sum(faulty.requests.values())} reached the server),"
        f" retries {counter.retries}; answers replayed by request id"
        f" {faulty.replayed}; duplicates = {duplicates}; latency p50 {p50:.0f} ms, p99 {p99:.0f} ms"
    )
