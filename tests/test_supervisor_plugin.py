"""A user's test of "the agent is kept through a worker death", with the pytest plugin and no LiveKit."""

from __future__ import annotations

from pathlib import Path

import pytest
from mypy import api

USER_TEST = """
from __future__ import annotations

import pytest

from dispatch_client import AgentDispatchService, CreateAgentDispatchRequest
from dispatch_client.fleet import EventKind, LossReason, Supervisor
from dispatch_client.testing import LocalDispatchServer

pytest_plugins = ["dispatch_client.testing.pytest_plugin"]


@pytest.mark.asyncio
async def test_the_agent_is_kept_through_a_worker_death(
    dispatch_server: LocalDispatchServer,
    dispatch_service: AgentDispatchService,
    dispatch_supervisor: Supervisor,
) -> None:
    first = dispatch_server.add_worker("support")
    events = dispatch_supervisor.events()
    await dispatch_supervisor.keep(CreateAgentDispatchRequest(agent_name="support", room="call-1"))
    running = await events.wait_for(EventKind.RUNNING, timeout=10)
    assert running.job is not None
    assert running.job.state is not None
    assert running.job.state.worker_id == first.worker_id

    dispatch_server.kill_worker(first)  # its agent leaves; the job still shows running
    second = dispatch_server.add_worker("support")
    lost = await events.wait_for(EventKind.LOST, timeout=10)
    assert lost.reason is LossReason.AGENT_LEFT
    again = await events.wait_for(EventKind.RUNNING, timeout=10)
    assert again.job is not None
    assert again.job.state is not None
    assert again.job.state.worker_id == second.worker_id
    listed = await dispatch_service.list_dispatch("call-1")
    assert [d.id for d in listed if d.agent_name] == [again.dispatch_id]  # the dead one deleted
"""


def test_a_user_test_keeps_an_agent_through_a_simulated_worker_death(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user_supervisor=USER_TEST)
    pytester.makeini("[pytest]\nasyncio_mode = strict\nasyncio_default_fixture_loop_scope = function\n")
    result = pytester.runpytest_subprocess("-W", "error", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_that_user_test_passes_mypy_strict(tmp_path: Path) -> None:
    # Not under pytester: it drops the modules imported during its test, mypy's among them.
    path = tmp_path / "test_user_supervisor.py"
    path.write_text(USER_TEST)
    stdout, stderr, status = api.run(
        ["--strict", "--no-incremental", "--cache-dir", str(tmp_path / "cache"), str(path)]
    )
    assert status == 0, stdout + stderr
    assert "Success: no issues found in 1 source file" in stdout
