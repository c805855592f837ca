"""A :class:`dispatch_client.fleet.Coordinator` over Redis: one lease key per room and agent.

A lease is a key set only if absent (``SET NX PX``) to a random token, and deleted on release
only while it still holds that token; a holder that dies leaves it to expire. The key outlives
its holder's work: its expiry is the holder's deadline plus a margin, and livekit-server gives
up a create whose ``X-Twirp-Timeout-Ms`` ran out.

A Redis that lost its keys (restarted without persistence, or flushed) may have lost leases
still held. A marker key says the keys are there: when it is missing, a lease is granted only
once Redis has been up longer than any lease lasts (``max_hold`` plus the margin), so that no
holder from before can still be at work. A flush of a Redis that stayed up is not seen.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import secrets
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, cast

from ..errors import TwirpError, TwirpErrorCode
from ._coordinator import Lease

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["RedisCoordinator"]

logger = logging.getLogger("dispatch_client.fleet")

# KEYS: lease, marker; ARGV: token, milliseconds. {1}: held now, {0, ms left}: another holds
# it, {-1}: the marker is gone (Redis lost its keys). A call sent again after a lost answer
# finds its own token and is granted, not kept waiting on itself.
_ACQUIRE = """
if redis.call('EXISTS', KEYS[2]) == 0 then return {-1, 0} end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {1, 0}
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return {1, 0} end
return {0, redis.call('PTTL', KEYS[1])}
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_POLL_FIRST, _POLL_MAX = 0.01, 0.2  # seconds between tries for a key another process holds


class _RedisLease:
    def __init__(self, owner: RedisCoordinator, name: str, token: str, deadline: float) -> None:
        self._owner, self._name, self._token, self._deadline = owner, name, token, deadline
        self._released = False

    @property
    def deadline(self) -> float:
        return self._deadline

    async def release(self) -> None:
        if not self._released:
            self._released = True
            await self._owner._release(self._name, self._token)


class RedisCoordinator:
    """Leases in a Redis every process of the fleet reaches (a LiveKit cluster's own will do).

    ``url`` is a ``redis://`` or ``rediss://`` URL; ``prefix`` names the keys (give each fleet
    its own). A lease is held at most ``max_hold`` seconds: ``ensure_dispatch`` under it ends by
    then, whatever its timeout. ``margin`` is added to each key's expiry for the time a request
    takes to reach the server. Needs the ``redis`` extra: ``pip install "dispatch-client[redis]"``.
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        prefix: str = "dispatch-client",
        max_hold: float = 30.0,
        margin: float = 1.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        try:
            import redis.asyncio
        except ImportError as e:  # pragma: no cover - the extra is installed in the tests
            raise ImportError(
                'RedisCoordinator needs the redis extra: pip install "dispatch-client[redis]"'
            ) from e
        if not isinstance(url, str) or not url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(f"url must be a redis://, rediss:// or unix:// URL, got {url!r}")
        if not isinstance(prefix, str) or not prefix:
            raise ValueError("prefix must be a non-empty string")
        for name, value in (("max_hold", max_hold), ("margin", margin)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
                raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
        self._url, self._max_hold, self._margin = url, float(max_hold), float(margin)
        self._sleep, self._rand = sleep, rand
        # A hash tag keeps every key of the prefix in one slot of a Redis Cluster.
        self._prefix = "{" + prefix + "}"
        self._marker = self._prefix + ":keys-kept"
        self._module = redis.asyncio
        # One client per event loop that uses the coordinator: connections belong to a loop.
        self._clients: dict[asyncio.AbstractEventLoop, Redis] = {}
        self._pending: set[asyncio.Task[None]] = set()

    def _redis(self) -> Redis:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            client = self._clients[loop] = self._module.Redis.from_url(self._url, socket_connect_timeout=5.0)
        return client

    async def acquire(self, key: str, deadline: float) -> Lease:
        """Wait for ``key`` (another process may hold it) and hold it until ``deadline`` at most."""
        if not isinstance(key, str) or not key:
            raise ValueError("key must be a non-empty string")
        loop = asyncio.get_running_loop()
        name, token, backoff = f"{self._prefix}:lease:{key}", secrets.token_hex(16), _POLL_FIRST
        held = "no time left to take the coordinator's lease"
        while True:
            now = loop.time()
            ends = min(deadline, now + self._max_hold)
            if ends <= now:
                raise TwirpError(TwirpErrorCode.DEADLINE_EXCEEDED, f"{held}: nothing was sent")
            ms = math.ceil((ends - now + self._margin) * 1000)
            try:
                granted, left_ms = await self._call(_ACQUIRE, [name, self._marker], [token, str(ms)], ends)
            except asyncio.CancelledError:
                self._release_later(name, token)  # the lease may have been granted as it was cancelled
                raise
            if granted == 1:
                return _RedisLease(self, name, token, ends)
            if granted == -1:
                await self._keys_lost(deadline)
                continue
            held = f"the coordinator's lease on {key} is held by another process"
            wait = min(backoff * (0.5 + self._rand() / 2), max(left_ms, 1) / 1000, deadline - loop.time())
            if wait <= 0:
                raise TwirpError(TwirpErrorCode.DEADLINE_EXCEEDED, f"{held}: nothing was sent")
            backoff = min(_POLL_MAX, backoff * 2)
            await self._sleep(wait)

    async def _call(self, script: str, keys: list[str], args: list[str], deadline: float) -> list[int]:
        """The script's answer as a list of integers (a single one becomes a list of one)."""
        try:
            async with asyncio.timeout_at(deadline):
                answer = await cast(Awaitable[object], self._redis().eval(script, len(keys), *keys, *args))
        except TimeoutError:
            raise TwirpError(
                TwirpErrorCode.DEADLINE_EXCEEDED,
                "the coordinator's Redis did not answer in time: nothing was sent",
            ) from None
        except self._module.RedisError as e:
            raise TwirpError(
                TwirpErrorCode.UNAVAILABLE, f"the coordinator's Redis cannot be used: {e}; nothing was sent"
            ) from e
        values = cast(list[int | bytes], answer if isinstance(answer, list) else [answer])
        return [int(v) for v in values]

    async def _keys_lost(self, deadline: float) -> None:
        """Redis lost its keys: wait until no lease from before can still be held, then mark it."""
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout_at(deadline):
                info = await self._redis().info("server")
        except TimeoutError:
            raise TwirpError(
                TwirpErrorCode.DEADLINE_EXCEEDED, "the coordinator's Redis did not answer in time"
            ) from None
        except self._module.RedisError as e:
            raise TwirpError(
                TwirpErrorCode.UNAVAILABLE, f"the coordinator's Redis cannot be used: {e}"
            ) from e
        up = float(info.get("uptime_in_seconds", 0))
        # Redis counts its uptime in whole seconds from a start time in whole seconds: it may
        # say 1 a moment after starting. A second more is waited for.
        wait = self._max_hold + self._margin + 1.0 - up
        if wait > 0:
            if loop.time() + wait > deadline:
                raise TwirpError(
                    TwirpErrorCode.UNAVAILABLE,
                    f"the coordinator's Redis came back without its keys {up:g} s ago: leases it lost may be "
                    f"held for {wait:.1f} s more, and no other is granted until then; nothing was sent",
                )
            logger.warning("coordinator: Redis came back without its keys; leases granted in %.1f s", wait)
            await self._sleep(wait)
        try:
            async with asyncio.timeout_at(deadline):
                await self._redis().set(self._marker, "1", nx=True)
        except TimeoutError:
            raise TwirpError(
                TwirpErrorCode.DEADLINE_EXCEEDED, "the coordinator's Redis did not answer in time"
            ) from None
        except self._module.RedisError as e:
            raise TwirpError(
                TwirpErrorCode.UNAVAILABLE, f"the coordinator's Redis cannot be used: {e}"
            ) from e

    async def _release(self, name: str, token: str) -> None:
        loop = asyncio.get_running_loop()
        try:
            await self._call(_RELEASE, [name], [token], loop.time() + 5.0)
        except TwirpError as e:
            logger.warning("coordinator: lease %s not released (%s): it expires by itself", name, e)

    def _release_later(self, name: str, token: str) -> None:
        task = asyncio.get_running_loop().create_task(self._release(name, token))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def aclose(self) -> None:
        """Wait for this event loop's releases under way and close its connections.

        It may be used again afterwards (new connections are opened). The blocking client
        calls it on its own loop when it closes.
        """
        loop = asyncio.get_running_loop()
        pending = [t for t in self._pending if t.get_loop() is loop]
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        client = self._clients.pop(loop, None)
        if client is not None:
            await client.aclose()

    async def __aenter__(self) -> RedisCoordinator:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
