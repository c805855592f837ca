"""The event loop of a blocking client: a daemon thread of its own, every wait on it bounded.

A loop belongs to the process that made it: after ``fork`` the child has no thread running it,
and its selector and sockets are the parent's. A child never runs, stops or closes a loop of its
parent (the blocking client gives it a new one, see ``dispatch_client.sync``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
from collections.abc import Callable, Coroutine
from typing import Any, Generic, TypeVar

from ..errors import TwirpError, TwirpErrorCode
from .base import ServiceBase

__all__ = ["MARGIN", "LoopThread"]

T = TypeVar("T")
S = TypeVar("S", bound=ServiceBase)

# How much longer than a call's own deadline its caller waits for the loop thread's answer: the
# call ends by its deadline on the loop; the margin is for a loop that is late to say so.
MARGIN = 2.0
# close(): how long the calls still in flight are given to end once cancelled, and the thread to stop.
_STOP_WAIT = 5.0


class LoopThread(Generic[S]):
    """An event loop running in a daemon thread, and the async service that lives on it."""

    def __init__(self, make: Callable[[], S], wait: float) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="dispatch-client", daemon=True)
        self.closed = False
        self.lock = threading.Lock()
        self.thread.start()

        async def start() -> S:
            return make()

        try:
            self.service = self.run(start(), wait, acts=False)
        except BaseException:
            self.closed = True
            self._end()
            raise

    def run(self, coro: Coroutine[Any, Any, T], wait: float | None, *, acts: bool) -> T:
        """``coro``'s result, waited for ``wait`` seconds at most (None: work made of calls
        that each have their deadline); ``acts``: a create or delete.

        A call that close() cancels, or whose answer does not come in time, raises
        ``failed_precondition`` or ``deadline_exceeded``; for a call that acts, with
        ``outcome_unknown`` set: it may have been done.
        """
        # Checked and scheduled under the lock that stop() takes: a call either runs before the
        # shutdown (which cancels it) or is refused, never left on a stopped loop.
        with self.lock:
            if self.closed:
                coro.close()
                raise TwirpError(TwirpErrorCode.FAILED_PRECONDITION, "the client is closed")
            future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        done = ", and it may have been done" if acts else ""
        try:
            return future.result(timeout=wait)
        except concurrent.futures.CancelledError:
            # Only stop() cancels a call on this loop.
            raise TwirpError(
                TwirpErrorCode.FAILED_PRECONDITION,
                f"the client was closed during the call{done}",
                outcome_unknown=acts,
            ) from None
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TwirpError(
                TwirpErrorCode.DEADLINE_EXCEEDED,
                f"the client's event loop gave no answer within {wait:g} s{done}",
                outcome_unknown=acts,
            ) from None
        except BaseException:
            future.cancel()  # interrupted while waiting (KeyboardInterrupt): stop the call too
            raise

    async def _shutdown(self) -> None:
        calls = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for call in calls:
            call.cancel()
        await asyncio.gather(*calls, return_exceptions=True)
        await self.service.aclose()
        # A coordinator's connections on this loop end with it (the coordinator stays usable).
        closing = getattr(self.service._coordinator, "aclose", None)
        if closing is not None:
            await closing()

    def stop(self) -> None:
        """Cancel the calls in flight, close the session, stop the loop and join its thread.

        In a forked child the loop is the parent's: it is left alone.
        """
        if os.getpid() != self.pid:
            return
        with self.lock:
            if self.closed:
                return
            self.closed = True
        if threading.current_thread() is self.thread:  # from the loop itself: it cannot wait for itself
            self.loop.create_task(self._shutdown()).add_done_callback(lambda _: self.loop.stop())
            return
        try:
            asyncio.run_coroutine_threadsafe(self._shutdown(), self.loop).result(timeout=_STOP_WAIT)
        except concurrent.futures.TimeoutError:
            return  # a loop that does not answer is left to its daemon thread
        self._end()

    def _end(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(_STOP_WAIT)
        if not self.thread.is_alive():
            self.loop.close()
