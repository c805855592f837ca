"""A real livekit-agents worker (tests/agent_worker.py) registered with the session's livekit-server.

Import both fixtures into a test module (``from agent_fixtures import agent_worker,
agent_worker_process``). The worker starts once per session, is warmed up with one job (the
first job of a session shows only after about 5 s), and is stopped and reaped at the end. What
it printed during a test is shown when that test fails, beside the server's log.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from livekit_cluster import Cluster
from livekit_server import RealServer, unique_room

import dispatch_client
from dispatch_client import AgentDispatch, CreateAgentDispatchRequest

AGENT_NAME = "e2e-agent"
WORKER = Path(__file__).with_name("agent_worker.py")
_REGISTER_TIMEOUT = 30.0
_WARM_UP_TIMEOUT = 20.0


@dataclasses.dataclass
class AgentWorker:
    agent_name: str
    worker_id: str
    process: subprocess.Popen[str]
    lines: list[str]
    log_path: Path

    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for_line(self, *words: str, timeout: float = 5.0) -> str:
        """The first stdout line that starts with ``words``; AssertionError after ``timeout``."""
        prefix = " ".join(words)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if line.startswith(prefix):
                    return line
            time.sleep(0.02)
        raise AssertionError(f"the worker did not print {prefix!r} in {timeout} s:\n{self.output()}")


def _read(process: subprocess.Popen[str], lines: list[str]) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line.rstrip("\n"))


@dataclasses.dataclass
class _Started:
    worker: AgentWorker
    reader: threading.Thread


def start_worker(server: RealServer, agent_name: str, log_dir: Path) -> _Started:
    """Run tests/agent_worker.py for ``agent_name``; return once it says it is registered."""
    log_path = log_dir / f"agent-worker-{agent_name}.log"
    env = dict(os.environ, AGENT_WORKER_EXECUTOR="thread", AGENT_WORKER_IDLE="1")
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-u", str(WORKER), server.url, server.api_key, server.api_secret, agent_name],
            stdout=subprocess.PIPE,
            stderr=log,
            stdin=subprocess.DEVNULL,
            text=True,
            env=env,
        )
    lines: list[str] = []
    reader = threading.Thread(target=_read, args=(process, lines), daemon=True)
    reader.start()
    worker = AgentWorker(agent_name, "", process, lines, log_path)
    try:
        registered = worker.wait_for_line("registered", timeout=_REGISTER_TIMEOUT)
    except AssertionError:
        stop_worker(_Started(worker, reader))
        raise RuntimeError(
            f"the agent worker did not register:\n{log_path.read_text(errors='replace')}"
        ) from None
    worker.worker_id = registered.split()[1]
    return _Started(worker, reader)


def stop_worker(started: _Started) -> None:
    """SIGTERM (the worker closes its jobs and leaves), SIGKILL if it lingers; always reaped."""
    process = started.worker.process
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    started.reader.join(timeout=5)
    if process.stdout is not None:
        process.stdout.close()


async def job_of(server: RealServer, dispatch: AgentDispatch, timeout: float = 10.0) -> AgentDispatch:
    """Poll ``get_dispatch`` (bounded) until the dispatch shows a job; the dispatch then."""
    async with dispatch_client.connect(server.url, server.api_key, server.api_secret) as svc:
        deadline = time.monotonic() + timeout
        while True:
            found = await svc.get_dispatch(dispatch.id, dispatch.room)
            assert found is not None
            if found.state is not None and found.state.jobs:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"no job for {dispatch.id} in {timeout} s")
            await asyncio.sleep(0.05)


async def _warm_up(server: RealServer, agent_name: str) -> None:
    async with dispatch_client.connect(server.url, server.api_key, server.api_secret) as svc:
        room = unique_room("warm-up")
        created = await svc.create_dispatch(CreateAgentDispatchRequest(agent_name=agent_name, room=room))
        await job_of(server, created, timeout=_WARM_UP_TIMEOUT)
        await svc.delete_dispatch(created.id, room)


# The one worker of the session: each test module that imports the fixture gets a session
# fixture of its own, and all of them share this worker (two would split the jobs between them).
_shared: list[_Started] = []
_users: list[int] = [0]


@pytest.fixture(scope="session")
def agent_worker_process(
    livekit: RealServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AgentWorker]:
    """tests/agent_worker.py registered with the session's livekit-server as :data:`AGENT_NAME`."""
    if not _shared:
        started = start_worker(livekit, AGENT_NAME, tmp_path_factory.mktemp("agent-worker"))
        try:
            asyncio.run(_warm_up(livekit, AGENT_NAME))
        except BaseException:
            stop_worker(started)
            raise
        _shared.append(started)
    _users[0] += 1
    try:
        yield _shared[0].worker
    finally:
        _users[0] -= 1
        if _users[0] == 0:
            stop_worker(_shared.pop())


@pytest.fixture
def agent_worker(agent_worker_process: AgentWorker) -> Iterator[AgentWorker]:
    """The session's worker; what it printed during the test is shown when the test fails
    (pytest shows a test's captured teardown output only then)."""
    first = len(agent_worker_process.lines)
    yield agent_worker_process
    print(f"agent worker {agent_worker_process.worker_id} said during the test:")
    print("\n".join(agent_worker_process.lines[first:]))
    print(f"its log: {agent_worker_process.log_path}")


CLUSTER_AGENT = "cluster-agent"


@pytest.fixture(scope="session")
def cluster_worker_process(
    cluster: Cluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AgentWorker]:
    """tests/agent_worker.py registered as :data:`CLUSTER_AGENT` on the cluster's first node."""
    node = cluster.nodes[0]
    assert node.server is not None
    started = start_worker(node.server, CLUSTER_AGENT, tmp_path_factory.mktemp("cluster-worker"))
    try:
        asyncio.run(_warm_up(node.server, CLUSTER_AGENT))
        yield started.worker
    finally:
        stop_worker(started)


@pytest.fixture
def cluster_worker(cluster_worker_process: AgentWorker) -> Iterator[AgentWorker]:
    """The cluster's worker; what it printed during the test is shown when the test fails."""
    first = len(cluster_worker_process.lines)
    yield cluster_worker_process
    print(f"cluster worker {cluster_worker_process.worker_id} said during the test:")
    print("\n".join(cluster_worker_process.lines[first:]))
