"""Shared fixtures: a real fake LiveKit server on 127.0.0.1, a client session, a summary for numbers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp.test_utils import TestServer
from fake_livekit import API_KEY, API_SECRET, FakeLiveKit
from livekit_cluster import Cluster, start_cluster
from livekit_server import RUNNING, RealServer, start

from dispatch_client import AgentDispatch, AgentDispatchService, ListAgentDispatchResponse, RetryPolicy
from dispatch_client.codec import DecodeError, decode
from dispatch_client.codec.general import object_decoder

FIXTURES = Path(__file__).parent / "fixtures"
# Bodies written by Go's protojson as livekit-server writes them, and the class each holds.
SERVER_OUTPUT: list[tuple[str, type[Any]]] = [
    ("agent_dispatch_new", AgentDispatch),
    ("agent_dispatch_with_jobs", AgentDispatch),
    ("list_response_3", ListAgentDispatchResponse),
    ("list_response_empty", ListAgentDispatchResponse),
]


def general_decode(cls: type[Any], data: bytes) -> Any:
    """The general decoder alone, which every faster tier of decode() must agree with."""
    return object_decoder(cls).decode(orjson.loads(data))


def assert_same_decode_error(cls: type[Any], data: bytes) -> None:
    """decode() refuses ``data`` with exactly the general decoder's error."""
    with pytest.raises(DecodeError) as expected:
        general_decode(cls, data)
    with pytest.raises(DecodeError) as got:
        decode(cls, data)
    assert str(got.value) == str(expected.value)


def full_dispatch() -> AgentDispatch:
    return decode(AgentDispatch, (FIXTURES / "agent_dispatch_with_jobs.json").read_bytes())


SUMMARY = pytest.StashKey[list[str]]()

# The fixtures users get from the package (dispatch_server, dispatch_service), and pytester to
# run a user's test file.
pytest_plugins = ["pytester", "dispatch_client.testing.pytest_plugin"]


@pytest.fixture(autouse=True)
def no_livekit_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads the shell's LIVEKIT_* settings (the README has users export them); a test
    that wants one sets it."""
    for name in ("LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET", "LIVEKIT_TOKEN"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def fake() -> FakeLiveKit:
    return FakeLiveKit()


@pytest.fixture
async def server(fake: FakeLiveKit) -> AsyncIterator[TestServer]:
    srv = TestServer(fake.app(), host="127.0.0.1")
    await srv.start_server()
    yield srv
    await srv.close()


@pytest.fixture
def url(server: TestServer) -> str:
    return str(server.make_url(""))


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
def service(session: aiohttp.ClientSession, url: str) -> AgentDispatchService:
    """A service that makes one attempt per call: error mapping is seen unretried.

    tests/test_retry.py covers the default retry policy.
    """
    return AgentDispatchService(session, url, API_KEY, API_SECRET, retry=RetryPolicy(attempts=1))


@pytest.fixture
def summary(request: pytest.FixtureRequest) -> list[str]:
    """Lines a test adds here are shown at the end of every run (measurements, not assertions)."""
    return request.config.stash.setdefault(SUMMARY, [])


@pytest.fixture(scope="session")
def livekit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealServer]:
    """The real livekit-server (the pinned release), one for the whole session."""
    with start(tmp_path_factory.mktemp("livekit")) as server:
        yield server


@pytest.fixture(scope="session")
def closing_livekit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealServer]:
    """A second real livekit-server that closes an empty room 1 s after it started (300 s by default)."""
    with start(
        tmp_path_factory.mktemp("closing"), room={"empty_timeout": 1, "departure_timeout": 1}
    ) as server:
        yield server


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Two real livekit-server nodes sharing a real Redis, behind a round-robin balancer, for
    the whole session. A test that kills a node or Redis brings it back before it ends
    (:func:`cluster_healed`)."""
    with start_cluster(tmp_path_factory.mktemp("cluster"), size=2) as started:
        yield started


@pytest.fixture
def cluster_healed(cluster: Cluster) -> Iterator[Cluster]:
    """The session's cluster; whatever the test killed is running again afterwards."""
    yield cluster
    if cluster.redis.process.poll() is not None:
        cluster.redis.restart()
    cluster.redis.resume()
    cluster.restart_dead()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if report.failed:
        for server in RUNNING:
            report.sections.append((f"livekit-server log ({server.url})", server.log_tail()))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    lines = config.stash.get(SUMMARY, [])
    if lines:
        terminalreporter.section("measured")
        for line in lines:
            terminalreporter.write_line(line)
