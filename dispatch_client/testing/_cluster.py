"""LocalCluster: livekit-server nodes sharing one Redis, in memory, any of which a test can kill.

Each node listens on a port of its own and serves what :class:`LocalDispatchServer` serves;
all of them share one room store, as nodes sharing Redis do: a call for a room goes through
any node, and a new room lands on a node drawn at random. A node killed stops at once (its
port refuses connections, connections open to it drop) and its rooms stay in the store,
listed by ``ListRooms`` with their agents, while nothing answers for their dispatches.
"""

from __future__ import annotations

import random
import secrets
import time
from collections.abc import Callable
from types import TracebackType

from .._checks import require_seconds, require_text
from .._generated.livekit import AgentDispatch
from ._listening import Listening, base_url, listen, non_negative
from ._nodes import NODE_LIVENESS, NodeTable
from ._server import DEFAULT_API_KEY, NOT_RUNNING_WAIT, LocalDispatchServer
from ._state import AGENT_RETURN, DEFAULT_EMPTY_TIMEOUT, DispatchStore
from ._workers import SimulatedWorker, WorkerAnswer

__all__ = ["AGENT_RETURN", "NODE_LIVENESS", "LocalCluster", "LocalNode"]

_NO_GRACE = 0.001  # seconds a killed node's requests in progress get


class LocalNode:
    """One node of a :class:`LocalCluster`. Its URL stays the same across a kill and a start;
    its :attr:`node_id` does not (a node started again is a new node, with nothing of the old)."""

    def __init__(self, index: int, server: LocalDispatchServer, store: DispatchStore, host: str) -> None:
        """Made by :class:`LocalCluster`, one per node, not by hand. @private"""
        self.index = index
        self._server = server
        self._store = store
        self._host = host
        self._port = 0
        self._node_id = store.nodes.add()
        self._listening: Listening | None = None

    @property
    def url(self) -> str:
        """``http://host:port`` of the node (it keeps its port when killed and started again)."""
        if not self._port:
            raise RuntimeError("the cluster is not running: use `async with` or await start()")
        return base_url(self._host, self._port)

    @property
    def node_id(self) -> str:
        """The id of the node's current run (``ND_`` and 12 base57 characters)."""
        return self._node_id

    @property
    def alive(self) -> bool:
        """Whether the node runs (it listens and answers)."""
        return self._listening is not None

    async def kill(self) -> None:
        """Stop the node as a SIGKILL would: at once, telling nobody. Its rooms stay on it."""
        if self._listening is None:
            raise RuntimeError(f"node {self.index} is not running")
        self._store.kill_node(self._node_id)
        listening, self._listening = self._listening, None
        await listening.stop()

    async def start(self) -> None:
        """Start the node again, on the same port, as a new node (OSError if the port was taken)."""
        if self._listening is not None:
            raise RuntimeError(f"node {self.index} is already running")
        if not self._store.nodes.alive(self._node_id):
            self._node_id = self._store.nodes.add()
        # No grace for requests in progress when it stops: a killed node answers nothing more.
        # (aiohttp takes a timeout of 0 for none at all: the smallest it honours instead.)
        self._listening = await listen(self._server.app(), self._host, self._port, shutdown_timeout=_NO_GRACE)
        self._port = self._listening.port

    async def _stop(self) -> None:
        listening, self._listening = self._listening, None
        if listening is not None:
            await listening.stop()

    def __repr__(self) -> str:
        return f"LocalNode(index={self.index}, node_id={self._node_id!r}, alive={self.alive})"


class LocalCluster:
    """``size`` nodes of a local livekit-server cluster, one room store shared by all.

        async with LocalCluster(2, api_key="devkey", api_secret=secret, node_liveness=0.5) as cluster:
            cluster.url                      # the first node's http://127.0.0.1:port
            node = cluster.node_of("call-1") # the node that runs a room (None: none running does)
            await node.kill()                # its rooms answer 503, their agents stay listed
            await node.start()               # the same port, a new node

    A killed node's rooms answer list, get and delete with the 503 "no response from
    servers" after ``not_running_wait`` seconds, as a room that is not running. A create into
    one gets that same answer until ``node_liveness`` seconds after the kill (the others
    still count the node as alive, and new rooms can still land on it); after that it starts
    the room on a node that runs, with the room's sid and agents but none of its dispatches:
    a new default dispatch and the created one. A room with agents of simulated workers in
    it comes back by itself ``agent_return`` seconds after the kill (no sooner than
    ``node_liveness``), its agents in it (each with a new participant sid) and a new default
    dispatch only. Simulated workers serve the whole cluster; a kill does not touch them.
    The other settings are :class:`LocalDispatchServer`'s, shared by every node.
    """

    def __init__(
        self,
        size: int = 2,
        api_key: str = DEFAULT_API_KEY,
        api_secret: str | None = None,
        *,
        host: str = "127.0.0.1",
        clock: Callable[[], int] = time.time_ns,
        rng: random.Random | None = None,
        empty_timeout: float | None = DEFAULT_EMPTY_TIMEOUT,
        not_running_wait: float = NOT_RUNNING_WAIT,
        node_liveness: float = NODE_LIVENESS,
        agent_return: float = AGENT_RETURN,
    ) -> None:
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"size must be an int of 1 or more, got {size!r}")
        self._host = require_text("host", host)
        rng = rng if rng is not None else random.Random()
        if empty_timeout is not None:
            empty_timeout = require_seconds("empty_timeout", empty_timeout)
        nodes = NodeTable(clock=clock, rng=rng, liveness=non_negative("node_liveness", node_liveness))
        self._store = DispatchStore(
            clock=clock,
            rng=rng,
            empty_timeout=empty_timeout,
            nodes=nodes,
            agent_return=non_negative("agent_return", agent_return),
        )
        secret = api_secret if api_secret is not None else secrets.token_urlsafe(32)
        self._first = LocalDispatchServer(
            api_key, secret, host=host, clock=clock, not_running_wait=not_running_wait
        )._share(self._store)
        self._nodes = [LocalNode(i, self._first, self._store, host) for i in range(size)]
        self._running = False

    @property
    def api_key(self) -> str:
        return self._first.api_key

    @property
    def api_secret(self) -> str:
        return self._first.api_secret

    @property
    def nodes(self) -> list[LocalNode]:
        """The nodes, in order (a killed one stays in the list)."""
        return list(self._nodes)

    @property
    def url(self) -> str:
        """The first node's URL."""
        return self._nodes[0].url

    @property
    def urls(self) -> list[str]:
        """Every node's URL, in order."""
        return [node.url for node in self._nodes]

    def node_of(self, room: str) -> LocalNode | None:
        """The running node that runs ``room`` now; None when none does (never started, closed,
        or on a killed node)."""
        node_id = self._store.nodes.node_of(room)
        return next((n for n in self._nodes if n.alive and n.node_id == node_id), None)

    def rooms(self) -> dict[str, list[AgentDispatch]]:
        """A copy of the state: every room a running node answers for, with its dispatches."""
        return self._first.rooms()

    def close_room(self, room: str) -> bool:
        """End ``room`` on every node (see LocalDispatchServer.close_room); whether it ran."""
        return self._first.close_room(room)

    def add_worker(
        self, agent_name: str, *, delay: float = 0.0, answer: WorkerAnswer | str = WorkerAnswer.ACCEPT
    ) -> SimulatedWorker:
        """A simulated worker for the whole cluster (see LocalDispatchServer.add_worker)."""
        return self._first.add_worker(agent_name, delay=delay, answer=answer)

    def remove_worker(self, worker: SimulatedWorker) -> bool:
        """Unregister a worker of the cluster; False when it was not registered."""
        return self._first.remove_worker(worker)

    def kill_worker(self, worker: SimulatedWorker) -> bool:
        """A worker of the cluster dies (see LocalDispatchServer.kill_worker): its agents leave
        their rooms, on whatever node, and a room whose node was killed does not come back
        with them; whether it was registered."""
        return self._first.kill_worker(worker)

    def workers(self) -> list[SimulatedWorker]:
        """The simulated workers registered now."""
        return self._first.workers()

    async def start(self) -> str:
        """Every node listens (on a free port each the first time); returns :attr:`url`."""
        if self._running:
            raise RuntimeError("the cluster is already running")
        try:
            for node in self._nodes:
                if not node.alive:
                    await node.start()
        except BaseException:
            await self.close()
            raise
        self._running = True
        return self.url

    async def close(self) -> None:
        """Every node stops listening, cutting requests in progress; the state is kept, and each
        node keeps its port and node id for the next start()."""
        self._running = False
        for node in self._nodes:
            await node._stop()

    async def __aenter__(self) -> LocalCluster:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"LocalCluster(nodes={self._nodes!r}, api_key={self.api_key!r})"
