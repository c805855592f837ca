"""The programs in examples/, each run as a user would run it, against the stand-in."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from local_helpers import KEY, SECRET, server_in_thread

from dispatch_client.testing import LocalDispatchServer

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
ROOT_INI = "[pytest]\nasyncio_mode = strict\nasyncio_default_fixture_loop_scope = function\n"


def load(name: str) -> ModuleType:
    """An example file imported as a module of its own (examples/ is not a package)."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def make_app(
    monkeypatch: pytest.MonkeyPatch, dispatch_server: LocalDispatchServer
) -> Callable[..., web.Application]:
    """The aiohttp example's make_app, its settings from the environment pointing at the stand-in."""
    monkeypatch.setenv("LIVEKIT_URL", dispatch_server.url)
    monkeypatch.setenv("LIVEKIT_API_KEY", dispatch_server.api_key)
    monkeypatch.setenv("LIVEKIT_API_SECRET", dispatch_server.api_secret)
    monkeypatch.delenv("LIVEKIT_TOKEN", raising=False)
    factory: Callable[..., web.Application] = load("aiohttp_app").make_app
    return factory


async def test_the_app_sends_one_agent_per_call(
    make_app: Callable[..., web.Application], dispatch_server: LocalDispatchServer
) -> None:
    dispatch_server.add_worker("support", delay=0.05)
    async with TestClient(TestServer(make_app())) as client:
        first = await client.post("/calls/call-42")
        assert first.status == 200
        body = await first.json()
        assert body["agent"] == "agent-" + body["job_id"]
        again = await client.post("/calls/call-42")  # a second request for the same call
        assert again.status == 200
        assert (await again.json())["dispatch_id"] == body["dispatch_id"]
    # Only the app's own dispatch besides livekit-server's default one; its session is closed.
    assert [d.agent_name for d in dispatch_server.rooms()["call-42"]] == ["", "support"]


async def test_the_app_says_when_no_agent_came(make_app: Callable[..., web.Application]) -> None:
    async with TestClient(TestServer(make_app(agent_wait=0.3))) as client:
        response = await client.post("/calls/call-7")
        assert response.status == 503
        assert (await response.json())["why"] == "no_job"


async def test_the_app_says_when_livekit_cannot_be_reached(
    make_app: Callable[..., web.Application], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIVEKIT_URL", "http://127.0.0.1:9")  # the discard port: nothing listens
    async with TestClient(TestServer(make_app())) as client:
        response = await client.post("/calls/call-8")
        assert response.status == 502
        assert (await response.json())["error"].startswith("unavailable: ")


def run_script(server: LocalDispatchServer, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEKIT_")}
    env.update(LIVEKIT_URL=server.url, LIVEKIT_API_KEY=KEY, LIVEKIT_API_SECRET=SECRET, PYTHONWARNINGS="error")
    return subprocess.run(
        [sys.executable, str(EXAMPLES / "sync_script.py"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_sync_script_waits_for_the_agent() -> None:
    with server_in_thread() as server:
        server.add_worker("support", delay=0.05)
        done = run_script(server, "call-42")
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        assert lines[0].startswith("dispatch AD_")
        assert lines[0].endswith(" of support in call-42")
        assert lines[1].startswith("agent running: job AJ_")
        assert sorted(line.split()[1] for line in lines[2:]) == ["-", "support"]


def test_the_sync_script_says_when_no_agent_came() -> None:
    with server_in_thread() as server:
        done = run_script(server, "call-9", "--agent", "sales", "--wait", "0.3")
        assert done.returncode == 1, done.stderr
        assert "no agent: no_job" in done.stdout


def test_the_pytest_example_passes(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_agent_dispatch=(EXAMPLES / "test_agent_dispatch.py").read_text())
    pytester.makeini(ROOT_INI)
    result = pytester.runpytest_subprocess("-W", "error", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)
