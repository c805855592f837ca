"""The blocking supervisor (``dispatch_client.sync.Supervisor``): the async one on a blocking client's loop.

Its keeping runs in the client's thread between calls; every method runs the async
:class:`dispatch_client.fleet.Supervisor`'s there, so there is one implementation.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from . import fleet as _fleet
from ._client.loop_thread import MARGIN
from ._generated.livekit import CreateAgentDispatchRequest
from .errors import TwirpError, TwirpErrorCode

if TYPE_CHECKING:
    from . import service as _async
    from ._client.loop_thread import LoopThread
    from .sync import AgentDispatchService

    _Loop = LoopThread[_async.AgentDispatchService]

__all__ = ["EventStream", "Supervisor"]

T = TypeVar("T")


class EventStream:
    """The blocking twin of :class:`dispatch_client.fleet.EventStream`: ``for event in stream``
    blocks for each event and ends once the supervisor is closed and the stream read, or once
    the client is closed (``wait_for`` then raises LookupError)."""

    def __init__(self, runner: _Loop, stream: _fleet.EventStream) -> None:
        """Made by :meth:`Supervisor.events`, not by hand. @private"""
        # Waits for events have no bound: they last as long as the caller wants to hear.
        self._runner, self._stream = runner, stream

    def _next(self, coro: Coroutine[Any, Any, T]) -> T:
        try:
            return self._runner.run(coro, None, acts=False)
        except TwirpError as e:
            if e.code is TwirpErrorCode.FAILED_PRECONDITION and self._runner.closed:
                raise LookupError("the event stream ended: the client was closed") from None
            raise

    @property
    def dropped(self) -> int:
        """Events dropped because the stream was full (the oldest first)."""
        return self._stream.dropped

    def wait_for(
        self, *kinds: _fleet.EventKind, room: str | None = None, timeout: float = 30.0
    ) -> _fleet.SupervisorEvent:
        """See :meth:`dispatch_client.fleet.EventStream.wait_for`."""
        return self._next(self._stream.wait_for(*kinds, room=room, timeout=timeout))

    def close(self) -> None:
        """Stop hearing events (see :meth:`dispatch_client.fleet.EventStream.close`)."""
        with contextlib.suppress(RuntimeError):  # the client's loop is closed: the stream ended
            self._runner.loop.call_soon_threadsafe(self._stream.close)

    def __iter__(self) -> EventStream:
        return self

    def __next__(self) -> _fleet.SupervisorEvent:
        try:
            return self._next(self._stream.__anext__())
        except (StopAsyncIteration, LookupError):
            raise StopIteration from None


class Supervisor:
    """The blocking twin of :class:`dispatch_client.fleet.Supervisor`, on ``client``'s loop.

    The settings are the async supervisor's (its ``sleep`` and ``rand`` are the client's own).
    Its keeping goes on in the client's thread between calls; :meth:`close` (or the end of
    ``with``) stops it, and so does closing the client.
    """

    def __init__(
        self,
        client: AgentDispatchService,
        *,
        job_timeout: float = 15.0,
        check_interval: float = 2.0,
        join_timeout: float = 10.0,
        leave_timeout: float = 5.0,
        room_grace: float = 30.0,
        call_timeout: float = 10.0,
        max_redispatches: int = 10,
        window: float | None = 600.0,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        event_buffer: int = 1000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not callable(getattr(client, "_ready", None)):
            raise ValueError(f"client must be a sync.AgentDispatchService, got {type(client).__name__}")
        self._runner: _Loop = client._ready()
        # Its own methods end at once, or after one call of the service (a delete).
        self._wait = client._timeout + MARGIN
        service = self._runner.service

        async def make() -> _fleet.Supervisor:
            return _fleet.Supervisor(
                service,
                job_timeout=job_timeout,
                check_interval=check_interval,
                join_timeout=join_timeout,
                leave_timeout=leave_timeout,
                room_grace=room_grace,
                call_timeout=call_timeout,
                max_redispatches=max_redispatches,
                window=window,
                backoff=backoff,
                max_backoff=max_backoff,
                event_buffer=event_buffer,
                clock=clock,
            )

        self._supervisor = self._runner.run(make(), self._wait, acts=False)

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self._runner.run(coro, self._wait, acts=False)

    def keep(self, req: CreateAgentDispatchRequest) -> bool:
        """See :meth:`dispatch_client.fleet.Supervisor.keep`."""
        return self._run(self._supervisor.keep(req))

    def release(self, room: str, agent_name: str, *, delete: bool = False) -> bool:
        """See :meth:`dispatch_client.fleet.Supervisor.release`."""
        return self._run(self._supervisor.release(room, agent_name, delete=delete))

    def kept(self) -> list[tuple[str, str]]:
        """See :meth:`dispatch_client.fleet.Supervisor.kept`."""

        async def kept() -> list[tuple[str, str]]:
            return self._supervisor.kept()

        return self._run(kept())

    def events(self, *, maxsize: int | None = None) -> EventStream:
        """See :meth:`dispatch_client.fleet.Supervisor.events`."""

        async def events() -> _fleet.EventStream:
            return self._supervisor.events(maxsize=maxsize)

        return EventStream(self._runner, self._run(events()))

    def close(self) -> None:
        """Stop every keeping (see :meth:`dispatch_client.fleet.Supervisor.aclose`); harmless
        once the client is closed."""
        if not self._runner.closed:
            self._run(self._supervisor.aclose())

    def __enter__(self) -> Supervisor:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
