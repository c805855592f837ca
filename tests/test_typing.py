"""A user's file that calls every public method passes mypy --strict, with no Any in sight."""

from __future__ import annotations

import re
from pathlib import Path

from mypy import api

USER_CODE = """
from __future__ import annotations

import aiohttp

import dispatch_client
from dispatch_client import (
    AgentDispatch,
    AgentDispatchService,
    CreateAgentDispatchRequest,
    JobRestartPolicy,
    JobStatus,
    TwirpError,
    TwirpErrorCode,
)


async def main(session: aiohttp.ClientSession) -> None:
    svc = AgentDispatchService(session, "https://lk.example", "key", "secret")
    created = await svc.create_dispatch(
        CreateAgentDispatchRequest(agent_name="a", room="r", restart_policy=JobRestartPolicy.JRP_NEVER)
    )
    reveal_type(created)
    listed = await svc.list_dispatch("r")
    reveal_type(listed)
    found = await svc.get_dispatch(created.id, "r", request_id="call-42")
    reveal_type(found)
    deleted = await svc.delete_dispatch(created.id, "r", timeout=2.0)
    reveal_type(deleted)
    if deleted.state is not None and deleted.state.jobs:
        job_state = deleted.state.jobs[0].state
        if job_state is not None:
            reveal_type(job_state.status)
            ok: bool = job_state.status is JobStatus.JS_RUNNING
    reveal_type(dispatch_client.RetryPolicy.none())
    async with dispatch_client.connect(timeout=3, retry=dispatch_client.RetryPolicy(attempts=5)) as svc2:
        reveal_type(svc2)
        reveal_type(await svc2.list_dispatch("r"))
    try:
        await svc.list_dispatch("r")
    except TwirpError as e:
        reveal_type(e.code)
        reveal_type(e.meta)
        reveal_type(e.status)
        retry: bool = e.code is TwirpErrorCode.UNAVAILABLE
"""

EXPECTED = [
    "dispatch_client._generated.livekit.AgentDispatch",
    "list[dispatch_client._generated.livekit.AgentDispatch]",
    "dispatch_client._generated.livekit.AgentDispatch | None",
    "dispatch_client._generated.livekit.AgentDispatch",
    "dispatch_client._generated.livekit.JobStatus",
    "dispatch_client._transport.retry.RetryPolicy",
    "dispatch_client.service.AgentDispatchService",
    "list[dispatch_client._generated.livekit.AgentDispatch]",
    "dispatch_client.errors.TwirpErrorCode",
    "dict[str, str]",
    "int | None",
]


def test_user_code_is_strictly_typed(tmp_path: Path) -> None:
    user = tmp_path / "user_code.py"
    user.write_text(USER_CODE)
    config = tmp_path / "mypy.ini"
    # No expression of the user's own code may be Any; the library is checked by make test.
    config.write_text("[mypy]\nstrict = True\n\n[mypy-user_code]\ndisallow_any_expr = True\n")
    stdout, stderr, status = api.run(
        [
            "--config-file",
            str(config),
            "--no-incremental",
            "--cache-dir",
            str(tmp_path / "cache"),
            str(user),
        ]
    )
    revealed = re.findall(r'Revealed type is "([^"]+)"', stdout)
    errors = [line for line in stdout.splitlines() if ": error:" in line]
    assert errors == [], stdout + stderr
    assert status == 0, stdout + stderr
    assert revealed == EXPECTED, stdout
    assert not any("Any" in r for r in revealed)
