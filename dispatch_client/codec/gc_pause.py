"""Pausing the cyclic garbage collector while a large body is decoded, from any thread."""

from __future__ import annotations

import gc
import threading

__all__ = ["pause", "resume"]

_LOCK = threading.Lock()
_pausers = 0
_resume = False  # whether the collector ran when the first pause began


def pause() -> None:
    """Turn the collector off until the matching ``resume()``. Counted, so that decodes in two
    threads (see ``bounds``) do not turn it back on under each other. Nothing is allocated
    before the collector is off: an allocation could start the very collection being avoided."""
    global _pausers, _resume
    with _LOCK:
        if _pausers == 0:
            _resume = gc.isenabled()
            gc.disable()
        _pausers += 1


def resume() -> None:
    """Back on after the last pause ends, unless it was off before the first began."""
    global _pausers
    with _LOCK:
        _pausers -= 1
        if _pausers == 0 and _resume:
            gc.enable()
