"""Every request field and argument is checked before anything is sent, in every call: a wrong
type is a ValueError, and the server (behind a counting proxy) sees no request at all."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from fault_proxy import Fault, FaultProxy
from local_helpers import KEY, SECRET

from dispatch_client import AgentDispatchService, CreateAgentDispatchRequest, JobStatus
from dispatch_client.testing import LocalDispatchServer

Call = Callable[[AgentDispatchService], Awaitable[object]]


def spoiled(**fields: Any) -> CreateAgentDispatchRequest:
    req = CreateAgentDispatchRequest(agent_name="a", room="r")
    for name, value in fields.items():
        setattr(req, name, value)
    return req


BAD_REQUESTS = [
    spoiled(metadata=5),
    spoiled(agent_name=b"a"),
    spoiled(deployment=3),
    spoiled(attributes={"a": 1}),
    spoiled(attributes=[("a", "b")]),
    spoiled(restart_policy="never"),
    spoiled(metadata="\ud800"),
]
CALLS: list[tuple[str, Call]] = [
    *((f"create {r!r}", lambda s, r=r: s.create_dispatch(r)) for r in BAD_REQUESTS),
    *((f"ensure {r!r}", lambda s, r=r: s.ensure_dispatch(r)) for r in BAD_REQUESTS),
    ("create, timeout", lambda s: s.create_dispatch(spoiled(), timeout="1")),  # type: ignore[arg-type]
    ("create, request_id", lambda s: s.create_dispatch(spoiled(), request_id=5)),  # type: ignore[arg-type]
    ("ensure, timeout", lambda s: s.ensure_dispatch(spoiled(), timeout=0)),
    ("list, room", lambda s: s.list_dispatch(5)),  # type: ignore[arg-type]
    ("list, timeout", lambda s: s.list_dispatch("r", timeout=-1)),
    ("list, request_id", lambda s: s.list_dispatch("r", request_id="a b")),
    ("get, id", lambda s: s.get_dispatch(5, "r")),  # type: ignore[arg-type]
    ("get, room", lambda s: s.get_dispatch("d", None)),  # type: ignore[arg-type]
    ("get, timeout", lambda s: s.get_dispatch("d", "r", timeout=True)),
    ("delete, id", lambda s: s.delete_dispatch(b"d", "r")),  # type: ignore[arg-type]
    ("delete, request_id", lambda s: s.delete_dispatch("d", "r", request_id="")),
    ("wait, id", lambda s: s.wait_for_job(5, "r")),  # type: ignore[arg-type]
    ("wait, until", lambda s: s.wait_for_job("d", "r", until="running")),  # type: ignore[arg-type]
    ("wait, timeout", lambda s: s.wait_for_job("d", "r", timeout="1")),  # type: ignore[arg-type]
    ("wait, grace", lambda s: s.wait_for_job("d", "r", until=JobStatus.JS_RUNNING, grace=-1)),
]


@pytest.mark.parametrize("call", [c for _, c in CALLS], ids=[name for name, _ in CALLS])
async def test_a_wrong_argument_is_refused_before_anything_is_sent(
    session: aiohttp.ClientSession, call: Call
) -> None:
    async with (
        LocalDispatchServer(KEY, SECRET) as server,
        FaultProxy(server.url, lambda i, rpc: Fault.PASS) as proxy,
    ):
        svc = AgentDispatchService(session, proxy.url, KEY, SECRET)
        with pytest.raises(ValueError, match=r"must be|cannot encode"):
            await call(svc)
    assert dict(proxy.by_rpc) == {}
