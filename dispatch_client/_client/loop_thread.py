"""The blocking client's engine: an event loop in a daemon thread, and the async service on it."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from .. import service as _async
from ..errors import TwirpError, TwirpErrorCode

__all__ = ["LoopThread"]

T = TypeVar("T")


class LoopThread:
    """An event loop running in a daemon thread, and the async service that lives on it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="dispatch-client", daemon=True)
        self.thread.start()
        self.service: _async.AgentDispatchService | None = None
        self.closed = False
        self.lock = threading.Lock()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        # Checked and scheduled under the lock that close() takes: a call either runs before the
        # shutdown (which cancels it) or is refused, never left on a stopped loop.
        with self.lock:
            if self.closed:
                coro.close()
                raise TwirpError(TwirpErrorCode.FAILED_PRECONDITION, "the client is closed")
            future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result()
        except concurrent.futures.CancelledError:
            # Only close() cancels a call on this loop.
            raise TwirpError(
                TwirpErrorCode.FAILED_PRECONDITION, "the client was closed during the call"
            ) from None
        except BaseException:
            future.cancel()  # interrupted while waiting (KeyboardInterrupt): stop the call too
            raise

    async def _shutdown(self) -> None:
        calls = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for call in calls:
            call.cancel()
        await asyncio.gather(*calls, return_exceptions=True)
        if self.service is not None:
            await self.service.aclose()
            # A coordinator's connections on this loop end with it (the coordinator stays usable).
            closing = getattr(self.service._coordinator, "aclose", None)
            if closing is not None:
                await closing()

    def stop(self) -> None:
        """Cancel the calls in flight, close the session, stop the loop and join its thread."""
        with self.lock:
            if self.closed:
                return
            self.closed = True
        if threading.current_thread() is self.thread:  # from the loop itself: it cannot wait for itself
            self.loop.create_task(self._shutdown()).add_done_callback(lambda _: self.loop.stop())
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), self.loop).result()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()
