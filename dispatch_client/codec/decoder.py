"""``decode``: the fast path for the form servers write, the general decoder for the rest.

A body goes first to its class's msgspec decoder (``fast``). When it is not in the form servers
write, that decoder raises one of ``FALLBACK`` after at most one parse, and the body is parsed
again with orjson and read by the general decoder (``general``), whose answer, or error, is the
one ``decode`` gives. A large body is decoded with the cyclic garbage collector paused
(``gc_pause``).
"""

from __future__ import annotations

from typing import TypeVar, cast

import betterproto2

from .fast import FALLBACK, struct_decoder
from .gc_pause import pause, resume
from .general import decode_general, object_decoder
from .plan import plan_of

__all__ = ["GC_PAUSE_BYTES", "decode", "prepare"]

M = TypeVar("M", bound=betterproto2.Message)

# From this size up, the cyclic garbage collector is paused while a body is decoded.
GC_PAUSE_BYTES = 64 * 1024


def decode(cls: type[M], data: bytes | str) -> M:
    """Parse proto3 JSON into ``cls``; raise DecodeError if it is not a valid encoding.

    A large body becomes tens of thousands of objects at once, each batch starting a pass of
    the cyclic garbage collector; none can be in a cycle yet, so from GC_PAUSE_BYTES on the
    collector is paused for the call (a tenth or more of the time of a 100-dispatch list)
    and resumed afterwards if it was running.
    """
    if len(data) < GC_PAUSE_BYTES:
        return _decode(cls, data)
    pause()
    try:
        return _decode(cls, data)
    finally:
        resume()


def _decode(cls: type[M], data: bytes | str) -> M:
    fast = struct_decoder(cls)
    if fast is not None:
        try:
            return cast(M, fast(data))
        except FALLBACK:
            pass  # not in the form servers write: the general decoder gives the answer or error
    return decode_general(cls, data)


def prepare(*classes: type[betterproto2.Message]) -> None:
    """Build the plans and decoders of ``classes`` (and all they contain) now, not on first use.

    For the dispatch service's messages this takes some tens of milliseconds, once per process.
    """
    for cls in classes:
        plan_of(cls)
        object_decoder(cls)
        struct_decoder(cls)
