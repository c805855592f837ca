"""A user's file with join tokens and the newer fields passes mypy --strict, with no Any in sight."""

from __future__ import annotations

import re
from pathlib import Path

from mypy import api

USER_CODE = """
from __future__ import annotations

import dispatch_client
import dispatch_client.sync
from dispatch_client import (
    AgentDispatchTrigger,
    JobRestartPolicy,
    JobStateReason,
    RoomAgentDispatch,
    RoomConfiguration,
)
from dispatch_client.tokens import participant_token


async def main() -> None:
    agent = RoomAgentDispatch(agent_name="support", metadata="m", restart_policy=JobRestartPolicy.JRP_NEVER,
                              attributes={"k": "v"}, thread_id="AT_1")
    token = participant_token("key", "secret", identity="u", room="r", agents=[agent], name="U",
                              metadata="m", attributes={"a": "b"}, ttl=600)
    reveal_type(token)
    reveal_type(RoomConfiguration(agents=[agent]).agents)
    async with dispatch_client.connect() as svc:
        guarded = await svc.join_token("u", "r", agents=[agent], ttl=60, timeout=5)
        reveal_type(guarded)
        for d in await svc.list_dispatch("r"):
            reveal_type(d.thread_id)
            if d.state is not None:
                reveal_type(d.state.trigger)
                joined: bool = d.state.trigger is AgentDispatchTrigger.ADT_JOIN
                for job in d.state.jobs:
                    reveal_type(job.created_at)
                    if job.state is not None:
                        reveal_type(job.state.attempts)
                        reveal_type(job.state.workers_asked)
                        reveal_type(job.state.first_started_at)
                        reveal_type(job.state.agent_failed_attempts_ns)
                        retrying: bool = job.state.reason is JobStateReason.JSR_RETRYING
    with dispatch_client.sync.AgentDispatchService() as blocking:
        reveal_type(blocking.join_token("u", "r", agents=(agent,)))
"""

EXPECTED = [
    "str",
    "list[dispatch_client._generated.livekit.RoomAgentDispatch]",
    "str",
    "str",
    "dispatch_client._generated.livekit.AgentDispatchTrigger",
    "int",
    "int",
    "int",
    "int",
    "int",
    "str",
]


def test_user_code_with_tokens_is_strictly_typed(tmp_path: Path) -> None:
    user = tmp_path / "user_code.py"
    user.write_text(USER_CODE)
    config = tmp_path / "mypy.ini"
    config.write_text("[mypy]\nstrict = True\n\n[mypy-user_code]\ndisallow_any_expr = True\n")
    stdout, stderr, status = api.run(
        ["--config-file", str(config), "--no-incremental", "--cache-dir", str(tmp_path / "cache"), str(user)]
    )
    revealed = re.findall(r'Revealed type is "([^"]+)"', stdout)
    errors = [line for line in stdout.splitlines() if ": error:" in line]
    assert errors == [], stdout + stderr
    assert status == 0, stdout + stderr
    assert revealed == EXPECTED, stdout
    assert not any("Any" in r for r in revealed)
