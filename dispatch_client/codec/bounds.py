"""An answer decoded within the call's deadline and within a bound on what it may build.

``max_response_bytes`` bounds the bytes of an answer, not what they decode into: ``{}`` is
two bytes and becomes a message of some hundreds, so 16 MiB of empty objects in a repeated
field would build gigabytes over seconds. An answer may hold at most ``limit`` JSON objects
and arrays (counted outside strings); server-written JSON needs about 80 bytes for each, so
the default (one per 64 bytes of ``max_response_bytes``) lets through any answer of that form
that fits the size cap. Scalars are bounded by the size cap alone: a few tens of bytes each.

Small answers are decoded on the loop; larger ones in a worker thread, waited for until the
call's deadline, so that the call ends on time and the other calls on the loop go on.
"""

from __future__ import annotations

import asyncio
import re
from typing import TypeVar

import betterproto2

from .decoder import decode
from .errors import DecodeError

__all__ = [
    "BYTES_PER_CONTAINER",
    "INLINE_CONTAINERS",
    "DeadlinePassed",
    "check_containers",
    "container_limit",
    "decode_within",
]

M = TypeVar("M", bound=betterproto2.Message)

BYTES_PER_CONTAINER = 64
# At most this many objects and arrays are decoded on the loop (a few milliseconds);
# the 100-dispatch list of the benchmark has about 8,300.
INLINE_CONTAINERS = 16_384
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')


class DeadlinePassed(Exception):
    """The call's deadline passed while the answer was being decoded."""


def container_limit(max_response_bytes: int) -> int:
    """How many JSON objects and arrays an answer may hold, for a given size cap."""
    return max(INLINE_CONTAINERS, max_response_bytes // BYTES_PER_CONTAINER)


def _quick_count(data: bytes) -> int:
    """An upper bound of the objects and arrays in ``data`` (brackets in strings count too)."""
    return data.count(b"{") + data.count(b"[")


def check_containers(data: bytes, limit: int) -> None:
    """Raise DecodeError when ``data`` holds more than ``limit`` objects and arrays."""
    if _quick_count(data) <= limit:
        return
    found = _quick_count(_STRING.sub(b'""', data))
    if found > limit:
        raise DecodeError(
            f"the answer holds {found} JSON objects and arrays, more than the {limit} allowed"
            " (see max_response_bytes)"
        )


def _decode_checked(cls: type[M], data: bytes, limit: int) -> M:
    check_containers(data, limit)
    return decode(cls, data)


async def decode_within(cls: type[M], data: bytes, *, deadline: float, limit: int) -> M:
    """``data`` decoded into ``cls``; DecodeError as ``decode`` raises it, or DeadlinePassed."""
    if _quick_count(data) <= min(INLINE_CONTAINERS, limit):
        return decode(cls, data)
    task = asyncio.current_task()
    if task is None:
        raise RuntimeError("dispatch_client calls must run inside an asyncio task")
    cancels = task.cancelling()
    scope = asyncio.timeout_at(deadline)
    try:
        async with scope:
            # The thread runs on to its end when the call stops waiting: the bound above
            # keeps that to a fraction of a second.
            return await asyncio.get_running_loop().run_in_executor(None, _decode_checked, cls, data, limit)
    except asyncio.CancelledError:
        if task.cancelling() > cancels or not scope.expired():
            raise
    except TimeoutError:
        if not scope.expired():
            raise
    raise DeadlinePassed
