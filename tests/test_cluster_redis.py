"""Redis of a real cluster killed, paused and brought back empty (a cluster of its own, so the
session's cluster is left alone): what the nodes answer, and that the client reports it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from livekit_cluster import Cluster, start_cluster
from livekit_server import unique_room

from dispatch_client import (
    AgentDispatchService,
    CreateAgentDispatchRequest,
    RetryPolicy,
    TwirpError,
    TwirpErrorCode,
)


@pytest.fixture
def small_cluster(tmp_path: Path) -> Iterator[Cluster]:
    with start_cluster(tmp_path, size=2) as cluster:
        yield cluster


def service(cluster: Cluster, session: aiohttp.ClientSession, **options: object) -> AgentDispatchService:
    return AgentDispatchService(
        session,
        cluster.nodes[0].url,
        cluster.api_key,
        cluster.api_secret,
        timeout=10,
        **options,  # type: ignore[arg-type]
    )


async def test_redis_killed_then_back_empty(
    small_cluster: Cluster, session: aiohttp.ClientSession, summary: list[str]
) -> None:
    cluster = small_cluster
    svc = service(cluster, session)
    one = service(cluster, session, retry=RetryPolicy.none())
    room = unique_room("redis-down")
    await svc.create_dispatch(CreateAgentDispatchRequest(agent_name="r", room=room))
    cluster.redis.kill()

    started = time.monotonic()
    with pytest.raises(TwirpError) as create:
        await one.create_dispatch(CreateAgentDispatchRequest(agent_name="r", room=unique_room("redis-down")))
    took = time.monotonic() - started
    assert create.value.code is TwirpErrorCode.UNKNOWN
    assert create.value.status == 500
    assert "could not get node for room" in create.value.message
    # A 500 may follow the server's work: with the check unable to read the room, it says so.
    assert create.value.outcome_unknown

    async with session.get(cluster.nodes[0].url + "/") as resp:  # the node still says OK
        assert await resp.read() == b"OK"
    started = time.monotonic()
    with pytest.raises(TwirpError) as read:
        await svc.list_dispatch(unique_room("redis-down-new"))
    assert read.value.room_not_running
    summary.append(
        f"cluster, Redis killed: create 500 unknown in {took:.2f} s; list of a new room 503 in "
        f"{time.monotonic() - started:.1f} s"
    )

    cluster.redis.restart()
    cluster.wait_registered()
    made = await svc.create_dispatch(
        CreateAgentDispatchRequest(agent_name="r", room=unique_room("redis-back"))
    )
    assert await svc.get_dispatch(made.id, made.room) is not None


async def test_redis_paused(
    small_cluster: Cluster, session: aiohttp.ClientSession, summary: list[str]
) -> None:
    cluster = small_cluster
    one = service(cluster, session, retry=RetryPolicy.none())
    cluster.redis.pause()
    try:
        started = time.monotonic()
        with pytest.raises(TwirpError) as create:
            await one.create_dispatch(
                CreateAgentDispatchRequest(agent_name="r", room=unique_room("redis-paused"))
            )
        took = time.monotonic() - started
    finally:
        cluster.redis.resume()
    assert create.value.code is TwirpErrorCode.UNKNOWN
    assert create.value.status == 500
    assert "i/o timeout" in create.value.message
    assert create.value.outcome_unknown
    summary.append(f"cluster, Redis paused: create 500 unknown 'i/o timeout' after {took:.1f} s")
