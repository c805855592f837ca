"""The pytest fixtures shipped for users: in this suite, and in a user's project in strict mode."""

from __future__ import annotations

from pathlib import Path

import pytest
from mypy import api

from dispatch_client import AgentDispatchService, CreateAgentDispatchRequest, TwirpError, TwirpErrorCode
from dispatch_client.testing import LocalDispatchServer


async def test_fixtures_give_a_server_and_a_connected_client(
    dispatch_server: LocalDispatchServer, dispatch_service: AgentDispatchService
) -> None:
    assert dispatch_service.url == dispatch_server.url
    created = await dispatch_service.create_dispatch(CreateAgentDispatchRequest(agent_name="a", room="r"))
    # The room the create started holds livekit-server's default dispatch too.
    assert [(d.agent_name, d.id) for d in dispatch_server.rooms()["r"]][1:] == [("a", created.id)]
    assert [d.agent_name for d in dispatch_server.rooms()["r"]] == ["", "a"]


async def test_each_test_gets_an_empty_server(dispatch_service: AgentDispatchService) -> None:
    with pytest.raises(TwirpError) as err:
        await dispatch_service.list_dispatch("r")  # the test above made room r on its own server
    assert (err.value.code, err.value.status) == (TwirpErrorCode.UNAVAILABLE, 503)


USER_TEST = """
import pytest
from dispatch_client import CreateAgentDispatchRequest

pytest_plugins = ["dispatch_client.testing.pytest_plugin"]


@pytest.mark.asyncio
async def test_my_dispatch_logic(dispatch_service, dispatch_server):
    req = CreateAgentDispatchRequest(agent_name="bot", room="lobby")
    created = await dispatch_service.create_dispatch(req)
    listed = await dispatch_service.list_dispatch("lobby")
    assert [d.agent_name for d in listed] == ["", "bot"]  # livekit-server's default dispatch first
    assert listed[1] == created
    assert dispatch_server.api_key == "devkey"


@pytest.mark.asyncio
async def test_fresh_state(dispatch_server):
    assert dispatch_server.rooms() == {}
"""


def test_a_user_project_in_strict_mode(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=USER_TEST)
    pytester.makeini("[pytest]\nasyncio_mode = strict\nasyncio_default_fixture_loop_scope = function\n")
    result = pytester.runpytest_subprocess("-W", "error", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


USER_JOB_TEST = """
from __future__ import annotations

import pytest

from dispatch_client import AgentDispatchService, JobStatus, TwirpError, WaitOutcome
from dispatch_client import CreateAgentDispatchRequest as Create
from dispatch_client.testing import LocalDispatchServer

pytest_plugins = ["dispatch_client.testing.pytest_plugin"]


@pytest.mark.asyncio
async def test_the_agent_joins(
    dispatch_server: LocalDispatchServer, dispatch_service: AgentDispatchService
) -> None:
    worker = dispatch_server.add_worker("support", delay=0.05)
    created = await dispatch_service.create_dispatch(Create(agent_name="support", room="call-1"))
    job = await dispatch_service.wait_for_job(created.id, "call-1", timeout=5)
    assert job.state is not None
    assert job.state.status is JobStatus.JS_RUNNING
    assert job.state.worker_id == worker.worker_id
    assert job.state.participant_identity == "agent-" + job.id


@pytest.mark.asyncio
async def test_no_agent_for_an_unknown_name(dispatch_service: AgentDispatchService) -> None:
    created = await dispatch_service.create_dispatch(Create(agent_name="sales", room="call-2"))
    with pytest.raises(TwirpError) as err:
        await dispatch_service.wait_for_job(created.id, "call-2", timeout=0.3)
    assert err.value.wait_outcome is WaitOutcome.NO_JOB
"""


def test_a_user_test_waits_for_a_simulated_job(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user_jobs=USER_JOB_TEST)
    pytester.makeini("[pytest]\nasyncio_mode = strict\nasyncio_default_fixture_loop_scope = function\n")
    result = pytester.runpytest_subprocess("-W", "error", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_that_user_test_passes_mypy_strict(tmp_path: Path) -> None:
    # Not under pytester: it drops the modules imported during its test, mypy's among them.
    path = tmp_path / "test_user_jobs.py"
    path.write_text(USER_JOB_TEST)
    stdout, stderr, status = api.run(
        ["--strict", "--no-incremental", "--cache-dir", str(tmp_path / "cache"), str(path)]
    )
    assert status == 0, stdout + stderr
    assert "Success: no issues found in 1 source file" in stdout


PLAIN_USER_TEST = """
import pytest


@pytest.mark.asyncio
async def test_the_fixtures_are_there(dispatch_server, dispatch_service):
    assert dispatch_service.url == dispatch_server.url
"""
INI = "[pytest]\nasyncio_mode = strict\nasyncio_default_fixture_loop_scope = function\n"


def test_the_plugin_loads_by_itself_through_its_entry_point(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plain=PLAIN_USER_TEST)
    pytester.makeini(INI)
    result = pytester.runpytest_subprocess("-W", "error", "-p", "no:cacheprovider", "--trace-config")
    result.assert_outcomes(passed=1)
    # Registered under the module's own name, so a pytest_plugins line naming it finds it loaded.
    result.stdout.fnmatch_lines(["*dispatch_client.testing.pytest_plugin*"])


def test_a_pytest_plugins_line_beside_the_entry_point_registers_it_once(pytester: pytest.Pytester) -> None:
    pytester.makeconftest('pytest_plugins = ["dispatch_client.testing.pytest_plugin"]\n')
    pytester.makepyfile(test_plain=PLAIN_USER_TEST)
    pytester.makeini(INI)
    result = pytester.runpytest_subprocess("-W", "error", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_p_no_turns_the_plugin_off(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plain=PLAIN_USER_TEST)
    pytester.makeini(INI)
    result = pytester.runpytest_subprocess(
        "-W", "error", "-p", "no:cacheprovider", "-p", "no:dispatch_client.testing.pytest_plugin"
    )
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'dispatch_server' not found*"])
