"""A user's file that calls every method of the sync client passes mypy --strict, each type asserted."""

from __future__ import annotations

from pathlib import Path

from mypy import api

USER_CODE = """
from __future__ import annotations

from typing import assert_type

from dispatch_client import AgentDispatch, CreateAgentDispatchRequest, Job, JobStatus, TwirpError, WaitOutcome
from dispatch_client.sync import AgentDispatchService


def main() -> None:
    with AgentDispatchService("https://lk.example", "key", "secret", timeout=5) as svc:
        req = CreateAgentDispatchRequest(agent_name="a", room="r")
        assert_type(svc, AgentDispatchService)
        assert_type(svc.create_dispatch(req, request_id="call-1"), AgentDispatch)
        assert_type(svc.list_dispatch("r", timeout=2.0), list[AgentDispatch])
        assert_type(svc.get_dispatch("AD_x", "r"), AgentDispatch | None)
        assert_type(svc.delete_dispatch("AD_x", "r"), AgentDispatch)
        assert_type(svc.ensure_dispatch(req, timeout=3), AgentDispatch)
        assert_type(svc.wait_for_job("AD_x", "r", until=JobStatus.JS_SUCCESS, timeout=9), Job)
        assert_type(svc.url, str)
        try:
            svc.list_dispatch("r")
        except TwirpError as e:
            assert_type(e.wait_outcome, WaitOutcome | None)
            assert_type(e.job, Job | None)
            assert_type(e.outcome_unknown, bool)
            assert_type(e.room_not_running, bool)
    svc.close()
"""


def test_sync_user_code_is_strictly_typed(tmp_path: Path) -> None:
    user = tmp_path / "sync_user_code.py"
    user.write_text(USER_CODE)
    config = tmp_path / "mypy.ini"
    config.write_text("[mypy]\nstrict = True\n\n[mypy-sync_user_code]\ndisallow_any_expr = True\n")
    stdout, stderr, status = api.run(
        ["--config-file", str(config), "--no-incremental", "--cache-dir", str(tmp_path / "cache"), str(user)]
    )
    assert (status, stdout.strip()) == (0, "Success: no issues found in 1 source file"), stdout + stderr
