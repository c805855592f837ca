"""The blocking client with a RedisCoordinator: threads of one process and two processes take
turns through it (real redis-server, the stand-in server)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from livekit_cluster import Redis
from local_helpers import KEY, SECRET, server_in_thread

from dispatch_client import CreateAgentDispatchRequest
from dispatch_client.fleet import RedisCoordinator
from dispatch_client.sync import AgentDispatchService
from dispatch_client.testing import LocalDispatchServer


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    server = Redis(tmp_path)
    with server.client() as r:
        r.set("{dispatch-client}:keys-kept", "1")  # as a Redis up for long has it
    try:
        yield f"redis://{server.address}/0"
    finally:
        server.close()


@pytest.fixture
def stand_in() -> Iterator[LocalDispatchServer]:
    with server_in_thread() as server:
        yield server


def test_two_blocking_clients_with_one_redis_make_one_dispatch(
    stand_in: LocalDispatchServer, redis_url: str
) -> None:
    clients = [
        AgentDispatchService(stand_in.url, KEY, SECRET, coordinator=RedisCoordinator(redis_url))
        for _ in range(2)
    ]
    ids: list[str] = []
    req = CreateAgentDispatchRequest(agent_name="a", room="sync-fleet")

    def work(client: AgentDispatchService) -> None:
        for _ in range(5):
            ids.append(client.ensure_dispatch(req).id)

    threads = [threading.Thread(target=work, args=(c,)) for c in clients for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert len(ids) == 40
        assert len(set(ids)) == 1
        assert [d.id for d in clients[0].list_dispatch("sync-fleet") if d.agent_name == "a"] == ids[:1]
    finally:
        for c in clients:
            c.close()
