"""dispatch_many against the real livekit-server: 500 new rooms at 50 creates per second.

What the server lists afterwards is the judge: one dispatch of the agent in every room, none
twice; the pace is measured from the first room's start to the last one's. The figures are
printed in the run's summary under "measured".
"""

from __future__ import annotations

import asyncio
import collections
import statistics

import aiohttp
from livekit_server import RealServer, unique_room

from dispatch_client import AgentDispatchService, CreateAgentDispatchRequest
from dispatch_client.fleet import DEFAULT_CONCURRENCY, DispatchOutcome

ROOMS = 500
RATE = 50.0
AGENT = "campaign"


async def test_five_hundred_rooms_at_fifty_a_second(livekit: RealServer, summary: list[str]) -> None:
    prefix = unique_room("bulk")
    asked = [CreateAgentDispatchRequest(agent_name=AGENT, room=f"{prefix}-{i}") for i in range(ROOMS)]
    loop = asyncio.get_running_loop()
    async with aiohttp.ClientSession() as session:
        service = AgentDispatchService(session, livekit.url, livekit.api_key, livekit.api_secret)
        began = loop.time()
        results = await asyncio.wait_for(service.dispatch_many(asked, rate=RATE), timeout=60)
        elapsed = loop.time() - began
        listed = await asyncio.gather(*(service.list_dispatch(r.room) for r in asked))

    outcomes = collections.Counter(r.outcome.value for r in results)
    per_room = [sum(d.agent_name == AGENT for d in room) for room in listed]
    duplicates = sum(n - 1 for n in per_room if n > 1)
    listed_ids = {d.id for room in listed for d in room}
    returned = [r.dispatch.id for r in results if r.dispatch is not None]
    starts = sorted(r.started for r in results)
    span = starts[-1] - starts[0]
    achieved = (ROOMS - 1) / span
    busiest = max(collections.Counter(int((s - starts[0]) // 1) for s in starts).values())
    took = [r.finished - r.started for r in results]
    p50, p99 = (statistics.quantiles(took, n=100)[k] * 1000 for k in (49, 98))
    summary.append(
        f"dispatch_many (real livekit-server): {ROOMS} new rooms at rate={RATE:g}, concurrency="
        f"{DEFAULT_CONCURRENCY}: outcomes {dict(outcomes)}; dispatches listed {sum(per_room)} "
        f"(rooms with one: {per_room.count(1)}), duplicates = {duplicates}; first to last start "
        f"{span:.2f} s = {achieved:.2f} creates/s ({achieved / RATE - 1:+.1%} of the limit), at most "
        f"{busiest} starts in one second; whole run {elapsed:.2f} s; per room p50 {p50:.0f} ms, "
        f"p99 {p99:.0f} ms"
    )
    assert [r.request for r in results] == asked
    assert outcomes == {DispatchOutcome.DISPATCHED.value: ROOMS}
    assert per_room == [1] * ROOMS
    assert duplicates == 0
    assert set(returned) <= listed_ids
    assert len(set(returned)) == ROOMS
    assert abs(achieved / RATE - 1) <= 0.10
    assert busiest <= RATE + 2  # the pacer's bound: rate * T + 2 over any T seconds
