"""Over a thousand calls, 100 at a time on one session, to the real livekit-server through a proxy
that loses, replaces and delays its answers on purpose.

Each flow creates a dispatch with metadata of its own, gets it, and for one in two deletes it,
so every dispatch on the server is traced to the call that made it. No create may make two
dispatches, no id a call returned may be missing, and nothing but TwirpError may come out.
The figures are printed in the run's summary under "measured".
"""

from __future__ import annotations

import asyncio
import collections
import gc
import random
import statistics
import warnings
from collections.abc import Awaitable
from typing import Any, TypeVar

import aiohttp
import pytest
from fault_proxy import Fault, FaultProxy
from livekit_server import RealServer, unique_room

from dispatch_client import AgentDispatch, AgentDispatchService, CreateAgentDispatchRequest, TwirpError

T = TypeVar("T")
FLOWS = 500  # each: a create, a get, and for one in two a delete: over 1,000 calls
IN_FLIGHT = 100
ROOMS = 20
# The share of requests each fault hits; all but the delays spoil the answer (18 %).
FAULTS = {
    Fault.DROP_AFTER: 0.06,
    Fault.DROP_BEFORE: 0.03,
    Fault.BAD_GATEWAY: 0.03,
    Fault.UNAVAILABLE: 0.03,
    Fault.REFUSED_503: 0.03,
    Fault.DELAY: 0.05,
}


def seeded_plan(seed: int) -> Any:
    rng = random.Random(seed)
    faults, weights = list(FAULTS), list(FAULTS.values())

    def plan(i: int, rpc: str) -> Fault:
        x = rng.random()
        for fault, w in zip(faults, weights, strict=True):
            if x < w:
                return fault
            x -= w
        return Fault.PASS

    return plan


class Load:
    def __init__(self, svc: AgentDispatchService, rooms: list[str]) -> None:
        self.svc = svc
        self.rooms = rooms
        self.latencies: list[float] = []
        self.outcomes: collections.Counter[str] = collections.Counter()
        self.others: list[BaseException] = []  # anything but TwirpError: must stay empty
        self.made: dict[str, AgentDispatch] = {}  # metadata -> the dispatch a create returned
        self.deleted: set[str] = set()
        self.create_failed: dict[str, bool] = {}  # metadata -> outcome_unknown
        self.delete_unknown: set[str] = set()

    async def timed(self, call: Awaitable[T]) -> T:
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            result = await call
        except TwirpError as e:
            self.outcomes[f"TwirpError {e.code}"] += 1
            raise
        except Exception as e:
            self.others.append(e)
            raise
        finally:
            self.latencies.append(loop.time() - started)
        self.outcomes["ok"] += 1
        return result

    async def flow(self, i: int) -> None:
        room, metadata = self.rooms[i % len(self.rooms)], f"call-{i}"
        req = CreateAgentDispatchRequest(agent_name="agent", room=room, metadata=metadata)
        try:
            created = await self.timed(self.svc.create_dispatch(req))
        except TwirpError as e:
            self.create_failed[metadata] = e.outcome_unknown
            return
        assert (created.agent_name, created.room, created.metadata) == ("agent", room, metadata)
        self.made[metadata] = created
        try:
            got = await self.timed(self.svc.get_dispatch(created.id, room))
            assert got is not None
            assert got.id == created.id
            if i % 2 == 0:
                await self.timed(self.svc.delete_dispatch(created.id, room))
                self.deleted.add(metadata)
        except TwirpError as e:
            if e.outcome_unknown:
                self.delete_unknown.add(metadata)

    async def run(self) -> None:
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(FLOWS):
            queue.put_nowait(i)

        async def worker() -> None:
            while not queue.empty():
                await self.flow(queue.get_nowait())

        await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))


@pytest.mark.filterwarnings("error::ResourceWarning")
async def test_load_through_faults(livekit: RealServer, summary: list[str]) -> None:
    loop = asyncio.get_running_loop()
    loop_errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _, context: loop_errors.append(context))
    tasks_before = asyncio.all_tasks()
    rooms = [unique_room("load") for _ in range(ROOMS)]
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=IN_FLIGHT)) as session:
            direct = AgentDispatchService(session, livekit.url, livekit.api_key, livekit.api_secret)
            for room in rooms:  # the rooms run before the load starts
                await direct.create_dispatch(CreateAgentDispatchRequest(agent_name="warm-up", room=room))
            async with FaultProxy(livekit.url, seeded_plan(20261202)) as proxy:
                svc = AgentDispatchService(session, proxy.url, livekit.api_key, livekit.api_secret)
                load = Load(svc, rooms)
                started = loop.time()
                await asyncio.wait_for(load.run(), timeout=300)  # a bound on the run, not a measurement
                elapsed = loop.time() - started
            listed = await asyncio.gather(*(direct.list_dispatch(r) for r in rooms))
    finally:
        loop.set_exception_handler(None)

    count = collections.Counter(d.metadata for room in listed for d in room if d.agent_name == "agent")
    ids = {d.id for room in listed for d in room}
    duplicates = sum(n - 1 for n in count.values() if n > 1)
    missing = [
        m for m, d in load.made.items() if m not in load.deleted | load.delete_unknown and d.id not in ids
    ]
    calls = sum(load.outcomes.values())
    spoiled = proxy.spoiled / sum(proxy.faults.values())
    p50, p99 = (statistics.quantiles(load.latencies, n=100)[k] * 1000 for k in (49, 98))
    summary.append(
        f"load through the fault proxy (real livekit-server): {calls} calls ({FLOWS} flows, {IN_FLIGHT} in "
        f"flight, one session) in {elapsed:.1f} s; outcomes {dict(load.outcomes)}; other exceptions "
        f"{len(load.others)}"
    )
    summary.append(
        f"  requests {sum(proxy.faults.values())} {dict(proxy.by_rpc)}; answers spoiled {proxy.spoiled} "
        f"({spoiled:.0%}), faults { ({f.name: n for f, n in proxy.faults.items() if f is not Fault.PASS}) }; "
        f"creates returned {len(load.made)}, failed {len(load.create_failed)} "
        f"({sum(load.create_failed.values())} with outcome unknown); duplicates = {duplicates}; "
        f"returned ids missing = {len(missing)}; latency p50 {p50:.0f} ms, p99 {p99:.0f} ms"
    )
    assert load.others == []
    assert calls >= 1000
    assert spoiled >= 0.10
    assert duplicates == 0
    assert missing == []
    # Each create that returned made exactly its dispatch; one that failed made none, or says
    # that it may have; a delete that succeeded left nothing behind.
    for metadata in load.made:
        assert count[metadata] == (0 if metadata in load.deleted else 1) or metadata in load.delete_unknown
    for metadata, unknown in load.create_failed.items():
        assert count[metadata] == 0 or unknown
    assert load.outcomes["ok"] > 0.9 * calls
    # Nothing left running, open or unclosed.
    for _ in range(100):
        if asyncio.all_tasks() <= tasks_before:
            break
        await asyncio.sleep(0.05)
    assert asyncio.all_tasks() <= tasks_before
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gc.collect()
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []
    assert loop_errors == []
