"""RedisCoordinator against a real redis-server: leases, holders that die, and a Redis that is
down, paused, or back without its keys."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
from livekit_cluster import Redis

from dispatch_client import TwirpError, TwirpErrorCode
from dispatch_client.fleet import RedisCoordinator


def keys_kept(server: Redis, prefix: str = "dispatch-client") -> None:
    """Mark the keys as kept, as a Redis that has been up for long has them: a Redis started a
    moment ago is otherwise taken as one that may have lost leases (the last test shows that)."""
    with server.client() as r:
        r.set("{" + prefix + "}:keys-kept", "1")


@pytest.fixture
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Redis]:
    server = Redis(tmp_path_factory.mktemp("coordinator-redis"))
    keys_kept(server)
    keys_kept(server, "capped")
    try:
        yield server
    finally:
        server.close()


def url(server: Redis) -> str:
    return f"redis://{server.address}/0"


@pytest.fixture
async def coordinators(redis_server: Redis) -> AsyncIterator[tuple[RedisCoordinator, RedisCoordinator]]:
    # Two coordinators with their own connections: two processes of a fleet.
    a, b = RedisCoordinator(url(redis_server), max_hold=5), RedisCoordinator(url(redis_server), max_hold=5)
    try:
        yield a, b
    finally:
        await a.aclose()
        await b.aclose()


def now() -> float:
    return asyncio.get_running_loop().time()


async def test_one_holder_at_a_time(coordinators: tuple[RedisCoordinator, RedisCoordinator]) -> None:
    a, b = coordinators
    lease = await a.acquire("room-1", now() + 3)
    waiting = asyncio.create_task(b.acquire("room-1", now() + 3))
    other = await b.acquire("room-2", now() + 3)  # another key is not held up
    await other.release()
    await asyncio.sleep(0.2)
    assert not waiting.done()
    await lease.release()
    second = await asyncio.wait_for(waiting, 3)
    await second.release()


async def test_a_lease_is_capped_by_max_hold_and_its_key_outlives_it(redis_server: Redis) -> None:
    async with RedisCoordinator(url(redis_server), max_hold=2, margin=0.5, prefix="capped") as c:
        lease = await c.acquire("room", now() + 60)
        assert lease.deadline - now() <= 2.0
        with redis_server.client() as r:
            ttl_ms = r.pttl("{capped}:lease:room")
        assert 2000 < ttl_ms <= 2500  # the holder's deadline plus the margin
        await lease.release()
        with redis_server.client() as r:
            assert r.exists("{capped}:lease:room") == 0


async def test_a_holder_that_never_releases_holds_up_the_next_until_its_lease_ends(
    coordinators: tuple[RedisCoordinator, RedisCoordinator], summary: list[str]
) -> None:
    a, b = coordinators
    held = await a.acquire("room", now() + 1.0)  # then "dies": never released
    started = now()
    with pytest.raises(TwirpError) as err:
        await b.acquire("room", now() + 0.5)
    assert err.value.code is TwirpErrorCode.DEADLINE_EXCEEDED
    assert "held by another process" in str(err.value)
    lease = await b.acquire("room", now() + 10)
    waited = now() - started
    assert waited >= held.deadline - started + 0.9  # the key outlived the holder's deadline by the margin
    summary.append(
        f"coordinator: a lease never released was granted again after {waited:.2f} s (deadline 1 s)"
    )
    await lease.release()


async def test_a_redis_that_is_down_or_paused_raises_and_grants_nothing(redis_server: Redis) -> None:
    async with RedisCoordinator(url(redis_server)) as c:
        await (await c.acquire("warm", now() + 3)).release()  # its connection open
        redis_server.pause()
        try:
            started = now()
            with pytest.raises(TwirpError) as err:
                await c.acquire("room", now() + 0.5)
            assert err.value.code is TwirpErrorCode.DEADLINE_EXCEEDED
            assert now() - started < 2.0
        finally:
            redis_server.resume()
        redis_server.kill()
        with pytest.raises(TwirpError) as err:
            await c.acquire("room", now() + 3)
        assert err.value.code is TwirpErrorCode.UNAVAILABLE
        assert "nothing was sent" in str(err.value)


async def test_a_redis_back_without_its_keys_grants_no_lease_until_old_ones_would_have_ended(
    redis_server: Redis,
) -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        await asyncio.sleep(seconds)

    async with (
        RedisCoordinator(url(redis_server), max_hold=1.5, margin=0.5) as a,
        RedisCoordinator(url(redis_server), max_hold=1.5, margin=0.5, sleep=sleep) as b,
    ):
        held = await a.acquire("room", now() + 1.5)
        redis_server.restart()  # empty: the lease is gone with everything else
        # Too little time left to wait out the leases it may have lost: refused, nothing granted.
        with pytest.raises(TwirpError) as err:
            await b.acquire("room", now() + 0.3)
        assert err.value.code is TwirpErrorCode.UNAVAILABLE
        assert "came back without its keys" in str(err.value)
        lease = await b.acquire("room", now() + 10)
        assert now() >= held.deadline  # never while the lost holder could still be at work
        assert waits
        assert 0 < waits[0] <= 3.0  # max_hold and margin, and a second for Redis's whole seconds
        await lease.release()


async def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="redis://"):
        RedisCoordinator("http://127.0.0.1:6379")
    with pytest.raises(ValueError, match="max_hold"):
        RedisCoordinator(max_hold=0)
    with pytest.raises(ValueError, match="prefix"):
        RedisCoordinator(prefix="")
    async with RedisCoordinator() as c:
        with pytest.raises(ValueError, match="key"):
            await c.acquire("", now() + 1)
