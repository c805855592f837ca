"""pytest fixtures: a running LocalDispatchServer and a client connected to it.

pytest loads this plugin by itself wherever dispatch-client is installed (its ``pytest11``
entry point, named ``dispatch_client.testing.pytest_plugin``); a ``pytest_plugins`` line naming
it, as older projects have, does no harm. ``-p no:dispatch_client.testing.pytest_plugin`` (on
the command line or in ``addopts``) turns it off.

They are async fixtures and need pytest-asyncio (in its strict or auto mode): ``pip install
"dispatch-client[testing]"``; without it the plugin still loads, and a test that asks for
one of its fixtures fails saying what to install. Each test
gets a fresh server, with empty state, on a free port of 127.0.0.1. It answers as
livekit-server v1.13.5 does, with one exception made for test speed: a call in a room that
is not running gets its ``unavailable`` answer after 0.1 s, not after livekit-server's 3 s
(:data:`FIXTURE_NOT_RUNNING_WAIT`; the code, status and message are the same).

The server has no agent worker until a test adds one: ``dispatch_server.add_worker("support",
delay=0.2)`` makes every dispatch of ``support`` created after it get a job 0.2 s later
(``JS_RUNNING``, ids ``AJ_``/``AW_``, identity ``agent-<job id>``, as a livekit-agents worker on
livekit-server v1.13.5); ``answer="reject"`` or ``"ignore"`` imitate a worker that refuses or
never answers; ``dispatch_server.remove_worker(worker)`` unregisters it. Poll
``get_dispatch`` until the job shows:

    async def test_agent_joins(dispatch_server, dispatch_service):
        dispatch_server.add_worker("support", delay=0.05)
        created = await dispatch_service.create_dispatch(
            CreateAgentDispatchRequest(agent_name="support", room="call-1"))
        ...  # get_dispatch(created.id, "call-1") until state.jobs holds the running job

``dispatch_supervisor`` is a :class:`dispatch_client.fleet.Supervisor` over ``dispatch_service``
whose waits are made short for the stand-in (a job waited for 1 s, checks every 0.05 s, an agent
that has not joined 0.5 s after its job runs counts as gone, backoff 0.02 s doubling to 0.2 s),
closed after the test.
``dispatch_server.kill_worker(worker)`` kills a simulated worker as a worker process dies: its
agent leaves the room while the job keeps showing running. A test that the supervisor keeps an
agent through that:

    async def test_kept_through_a_worker_death(dispatch_server, dispatch_supervisor):
        first = dispatch_server.add_worker("support")
        events = dispatch_supervisor.events()
        await dispatch_supervisor.keep(CreateAgentDispatchRequest(agent_name="support", room="call-1"))
        await events.wait_for(EventKind.RUNNING)
        dispatch_server.kill_worker(first)
        dispatch_server.add_worker("support")
        lost = await events.wait_for(EventKind.LOST)       # reason LossReason.AGENT_LEFT
        await events.wait_for(EventKind.RUNNING)           # a new job, of the new worker
"""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator

import pytest

from ..fleet import Supervisor
from ..service import AgentDispatchService
from ._server import LocalDispatchServer

__all__ = ["FIXTURE_NOT_RUNNING_WAIT", "dispatch_server", "dispatch_service", "dispatch_supervisor"]

FIXTURE_NOT_RUNNING_WAIT = 0.1

# The plugin loads wherever pytest runs, pytest-asyncio or not.
_HAVE_PYTEST_ASYNCIO = importlib.util.find_spec("pytest_asyncio") is not None
_MISSING = 'needs pytest-asyncio: pip install "dispatch-client[testing]"'

if _HAVE_PYTEST_ASYNCIO:
    import pytest_asyncio

    @pytest_asyncio.fixture
    async def dispatch_server() -> AsyncIterator[LocalDispatchServer]:
        """A LocalDispatchServer listening on 127.0.0.1; ``.url``, ``.api_key``, ``.api_secret``."""
        async with LocalDispatchServer(not_running_wait=FIXTURE_NOT_RUNNING_WAIT) as server:
            yield server

    @pytest_asyncio.fixture
    async def dispatch_service(dispatch_server: LocalDispatchServer) -> AsyncIterator[AgentDispatchService]:
        """An AgentDispatchService connected to ``dispatch_server``, on a session of its own."""
        async with dispatch_server.connect() as service:
            yield service

    @pytest_asyncio.fixture
    async def dispatch_supervisor(dispatch_service: AgentDispatchService) -> AsyncIterator[Supervisor]:
        """A Supervisor over ``dispatch_service`` with short waits (see the module's text); closed
        (every keeping stopped, no dispatch deleted) after the test."""
        async with Supervisor(
            dispatch_service,
            job_timeout=1.0,
            check_interval=0.05,
            join_timeout=0.5,
            leave_timeout=0.5,
            room_grace=2.0,
            call_timeout=5.0,
            backoff=0.02,
            max_backoff=0.2,
        ) as supervisor:
            yield supervisor

else:

    @pytest.fixture
    def dispatch_server() -> LocalDispatchServer:
        """Needs pytest-asyncio: fails the test saying so."""
        raise pytest.UsageError(
            'dispatch_server needs pytest-asyncio: pip install "dispatch-client[testing]"'
        )

    @pytest.fixture
    def dispatch_service() -> AgentDispatchService:
        """Needs pytest-asyncio: fails the test saying so."""
        raise pytest.UsageError(
            'dispatch_service needs pytest-asyncio: pip install "dispatch-client[testing]"'
        )

    @pytest.fixture
    def dispatch_supervisor() -> Supervisor:
        """Needs pytest-asyncio: fails the test saying so."""
        raise pytest.UsageError(
            'dispatch_supervisor needs pytest-asyncio: pip install "dispatch-client[testing]"'
        )
