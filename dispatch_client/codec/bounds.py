"""An answer decoded within the call's deadline and within a bound on what it may build.

``max_response_bytes`` bounds the bytes of an answer, not what they decode into: ``{}`` is
two bytes and becomes a message of some hundreds, so 16 MiB of empty objects in a repeated
field would build gigabytes over seconds. An answer may hold at most ``limit`` JSON objects
and arrays (counted outside strings); server-written JSON needs about 80 bytes for each, so
the default (one per 64 bytes of ``max_response_bytes``) lets through any answer of that form
that fits the size cap. The values (every element of an array and every member of an object,
map entries too) are bounded likewise: at most one per :data:`BYTES_PER_VALUE` bytes of the
cap, where server-written JSON spends about 18 bytes on each; ``"k":"v",`` is eight bytes and
two strings, so 16 MiB of map entries would otherwise build 1.5 million pairs in one go.

Small answers (few objects and arrays, and few values) are decoded on the loop; larger ones in a
worker thread, waited for until the call's deadline, so that the call ends on time and the
other calls on the loop go on.
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
    "BYTES_PER_VALUE",
    "INLINE_CONTAINERS",
    "INLINE_VALUES",
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
# At most this many values are decoded on the loop (the 100-dispatch list has about 36,500:
# some 2 ms); a map of many entries is few containers and many values.
INLINE_VALUES = 65_536
BYTES_PER_VALUE = 12
_STRING = re.compile(rb'"[^"]*"')  # a string, once its escapes are blanked out
# Bytes recounted per step: each step is one short C call, so that a thread doing it lets
# the loop's thread run between steps.
_STEP = 1 << 18


class DeadlinePassed(Exception):
    """The call's deadline passed while the answer was being decoded."""


def container_limit(max_response_bytes: int) -> int:
    """How many JSON objects and arrays an answer may hold, for a given size cap."""
    return max(INLINE_CONTAINERS, max_response_bytes // BYTES_PER_CONTAINER)


def _quick_count(data: bytes) -> int:
    """An upper bound of the objects and arrays in ``data`` (brackets in strings count too)."""
    return data.count(b"{") + data.count(b"[")


def _quick_values(data: bytes, containers: int) -> int:
    """An upper bound of the values in ``data``: each but the first of a container follows a
    comma, and each container has at most one first (commas in strings count too)."""
    return containers + data.count(b",")


def _outside_strings(data: bytes) -> tuple[int, int]:
    """The objects and arrays, and the commas, of ``data`` outside its strings.

    The escapes that matter here (an escaped backslash, an escaped quote) are blanked out first,
    at the same offsets, so that every quote left opens or closes a string; the body is then
    recounted in steps that start and end outside strings.
    """
    # A run of backslashes pairs off from its left, as a parser reads it; a lone one left
    # before a quote escapes that quote. (bytes.replace: fast, where a regex took 0.4 s.)
    clean = data.replace(b"\\\\", b"__").replace(b'\\"', b"__") if b"\\" in data else data
    containers = commas = 0
    start = 0
    while start < len(clean):
        end = min(start + _STEP, len(clean))
        if clean.count(b'"', start, end) % 2:  # the step ends inside a string: up to its end
            close = clean.find(b'"', end)
            end = len(clean) if close < 0 else close + 1
        bare = _STRING.sub(b"", clean[start:end])
        containers += _quick_count(bare)
        commas += bare.count(b",")
        start = end
    return containers, commas


def _value_limit(limit: int) -> int:
    """The values allowed beside ``limit`` objects and arrays (both scale with the size cap)."""
    return max(INLINE_VALUES, limit * BYTES_PER_CONTAINER // BYTES_PER_VALUE)


def check_containers(data: bytes, limit: int) -> None:
    """Raise DecodeError when ``data`` holds more than ``limit`` objects and arrays, or more
    values (members and elements, map entries included) than go with that many."""
    containers = _quick_count(data)
    values = _value_limit(limit)
    if containers <= limit and _quick_values(data, containers) <= values:
        return
    found, commas = _outside_strings(data)
    if found > limit:
        raise DecodeError(
            f"the answer holds {found} JSON objects and arrays, more than the {limit} allowed"
            " (see max_response_bytes)"
        )
    counted = found + commas
    if counted > values:
        raise DecodeError(
            f"the answer holds {counted} JSON values (map entries included), more than the {values}"
            " allowed (see max_response_bytes)"
        )


def _decode_checked(cls: type[M], data: bytes, limit: int) -> M:
    check_containers(data, limit)
    return decode(cls, data)


async def decode_within(cls: type[M], data: bytes, *, deadline: float, limit: int) -> M:
    """``data`` decoded into ``cls``; DecodeError as ``decode`` raises it, or DeadlinePassed."""
    containers = _quick_count(data)
    if containers <= min(INLINE_CONTAINERS, limit) and _quick_values(data, containers) <= INLINE_VALUES:
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
