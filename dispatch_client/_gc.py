"""Pausing the cyclic garbage collector while a large body is decoded, from any thread."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["paused"]

_LOCK = threading.Lock()
_pausers = 0
_resume = False  # whether the collector ran when the first pause began


@contextmanager
def paused() -> Iterator[None]:
    """The collector off for the block; back on after the last pause ends,
    unless it was off before the first began. Counted, so that decodes in two threads (see
    ``_bounded``) do not turn it back on under each other."""
    global _pausers, _resume
    with _LOCK:
        if _pausers == 0:
            _resume = gc.isenabled()
            gc.disable()
        _pausers += 1
    try:
        yield
    finally:
        with _LOCK:
            _pausers -= 1
            if _pausers == 0 and _resume:
                gc.enable()
