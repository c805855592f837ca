"""Job lifecycle, real against stand-in: the same steps with tests/agent_worker.py on livekit-server
v1.13.5 and with a simulated worker give jobs of the same shape (ids, times and secrets masked)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator

import pytest
from agent_fixtures import AGENT_NAME, AgentWorker, agent_worker, agent_worker_process, job_of
from livekit_server import API_KEY, API_SECRET, RealServer, unique_room

import dispatch_client
from dispatch_client import AgentDispatch, AgentDispatchService, CreateAgentDispatchRequest
from dispatch_client.codec import encode
from dispatch_client.testing import LocalDispatchServer

__all__ = ["agent_worker", "agent_worker_process"]  # the fixtures, imported for pytest

PATTERNS = {
    "AD_": re.compile("AD_[2-9A-HJ-NP-Za-km-z]{12}"),
    "AJ_": re.compile("AJ_[2-9A-HJ-NP-Za-km-z]{12}"),
    "AW_": re.compile("AW_[2-9A-HJ-NP-Za-km-z]{12}"),
    "RM_": re.compile("RM_[2-9A-HJ-NP-Za-km-z]{12}"),
}
TIMES = {"created_at", "started_at", "ended_at", "updated_at", "creation_time", "creation_time_ms"}


def _mask(obj: object, key: str = "") -> object:
    if isinstance(obj, dict):
        return {k: _mask(v, k) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_mask(v) for v in obj]
    if isinstance(obj, str):
        for prefix, pattern in PATTERNS.items():
            obj = pattern.sub(prefix + "<12 base57>", obj)
        if key in TIMES and obj != "0":
            return f"<{len(obj)}-digit time>"
        if key == "turn_password":
            # 43 or 44 characters on the real server (a random number in base 62)
            return "<alphanumerics>" if re.fullmatch("[0-9A-Za-z]{40,}", obj) else obj
        if key in {"room", "name"}:
            return "<room>"
    return obj


def _shape(dispatch: AgentDispatch) -> object:
    return _mask(json.loads(encode(dispatch, emit_unpopulated=True)))


@pytest.fixture
async def local() -> AsyncIterator[LocalDispatchServer]:
    async with LocalDispatchServer(API_KEY, API_SECRET) as server:
        yield server


async def _run(svc: AgentDispatchService, server: RealServer | None, metadata: str) -> AgentDispatch:
    room = unique_room("diff-jobs")
    created = await svc.create_dispatch(
        CreateAgentDispatchRequest(agent_name=AGENT_NAME, room=room, metadata=metadata)
    )
    if server is not None:
        return await job_of(server, created)
    for _ in range(200):
        found = await svc.get_dispatch(created.id, room)
        assert found is not None
        if found.state is not None and found.state.jobs:
            return found
        await asyncio.sleep(0.01)
    raise AssertionError("no job on the stand-in")


@pytest.mark.parametrize(("mode", "answer"), [("stay", "accept"), ("finish", "accept"), ("reject", "reject")])
async def test_a_job_has_the_same_shape(
    mode: str, answer: str, livekit: RealServer, agent_worker: AgentWorker, local: LocalDispatchServer
) -> None:
    local.add_worker(AGENT_NAME, delay=0.05, answer=answer)
    async with dispatch_client.connect(livekit.url, API_KEY, API_SECRET) as real_svc:
        real = await _run(real_svc, livekit, mode)
    async with local.connect() as local_svc:
        stand_in = await _run(local_svc, None, mode)
    assert (
        json.dumps(_shape(stand_in), indent=1).splitlines() == json.dumps(_shape(real), indent=1).splitlines()
    )
