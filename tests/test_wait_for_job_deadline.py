"""wait_for_job against a healthy server some way off, with no worker: the wait's own deadline
cuts its last poll short, and what the polls before it showed is the outcome (``NO_JOB``)."""

from __future__ import annotations

import asyncio
import collections

import aiohttp
from fault_proxy import Fault, FaultProxy
from local_helpers import KEY, SECRET

from dispatch_client import AgentDispatchService, CreateAgentDispatchRequest, TwirpError, WaitOutcome
from dispatch_client.testing import LocalDispatchServer

LATENCY = 0.15  # seconds the proxy holds each request


def far(i: int, rpc: str) -> Fault:
    return Fault.DELAY


async def outcome(svc: AgentDispatchService, dispatch_id: str, timeout: float) -> WaitOutcome | str:
    try:
        await svc.wait_for_job(dispatch_id, "r", timeout=timeout)
    except TwirpError as e:
        return e.wait_outcome if e.wait_outcome is not None else f"{e.code.value}: {e.message}"
    return "a job"


async def test_waits_of_a_far_server_without_a_worker_all_end_as_no_job(
    session: aiohttp.ClientSession, summary: list[str]
) -> None:
    async with (
        LocalDispatchServer(KEY, SECRET) as server,
        FaultProxy(server.url, far, delay=LATENCY) as proxy,
    ):
        svc = AgentDispatchService(session, proxy.url, KEY, SECRET)
        made = await svc.create_dispatch(CreateAgentDispatchRequest(agent_name="nobody", room="r"))
        ends = await asyncio.gather(*(outcome(svc, made.id, 1.0) for _ in range(40)))
    counted = collections.Counter(e.split(":")[0] if isinstance(e, str) else e.value for e in ends)
    summary.append(
        f"wait_for_job, server {LATENCY * 1000:.0f} ms away, no worker: 40 waits of 1 s -> {dict(counted)}"
    )
    assert ends == [WaitOutcome.NO_JOB] * 40


async def test_a_poll_cut_by_the_waits_deadline_keeps_what_was_seen(session: aiohttp.ClientSession) -> None:
    # rand 0: polls at 0, 0.2, 0.45 and 0.8 s, each 0.15 s long; the fourth is cut at 0.9 s.
    async with (
        LocalDispatchServer(KEY, SECRET) as server,
        FaultProxy(server.url, far, delay=LATENCY) as proxy,
    ):
        svc = AgentDispatchService(session, proxy.url, KEY, SECRET, rand=lambda: 0.0)
        made = await svc.create_dispatch(CreateAgentDispatchRequest(agent_name="nobody", room="r"))
        assert await outcome(svc, made.id, 0.9) == WaitOutcome.NO_JOB
