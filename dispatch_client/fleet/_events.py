"""What a :class:`dispatch_client.fleet.Supervisor` tells: typed events, and streams of them.

Each call of ``Supervisor.events()`` opens an :class:`EventStream` that hears every event from
then on. A stream holds at most ``maxsize`` events that were not read yet; when one more comes,
the oldest is dropped and :attr:`EventStream.dropped` counts it: the supervisor never waits for
a slow reader. A stream ends (``async for`` stops) once the supervisor is closed and what it
held has been read, or when :meth:`EventStream.close` is called.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import enum

from .._generated.livekit import Job

__all__ = ["EventKind", "EventStream", "LossReason", "SupervisorEvent"]


class EventKind(str, enum.Enum):
    """What happened to a kept room; each value is the word its log line starts with."""

    DISPATCHED = "dispatched"
    """The room's first dispatch of the keeping was made, or an existing one found."""
    RUNNING = "running"
    """A worker runs the dispatch's job (``job`` is set)."""
    PRESENT = "present"
    """An agent of the name is in the room without a dispatch of it (its room came back on another
    node without its dispatch, say): it is kept as it is, watched through the room's participants,
    and no second agent is sent while it stays (``detail`` names it)."""
    LOST = "lost"
    """The agent is no longer running, or its dispatch is gone: ``reason`` says which."""
    REDISPATCHED = "redispatched"
    """A dispatch was made (or found) again after a loss."""
    RETRYING = "retrying"
    """A call failed for a reason that may pass; it is tried again after a backoff (``detail``)."""
    GAVE_UP = "gave_up"
    """The room is no longer kept: the redispatch budget is spent, or a call failed for good."""
    ROOM_CLOSED = "room_closed"
    """The room closed for good (the room store no longer has it): it is no longer kept."""
    RELEASED = "released"
    """``release`` stopped the keeping of the room."""


class LossReason(str, enum.Enum):
    """Why a kept room's agent counts as lost (``SupervisorEvent.reason`` of ``LOST``)."""

    NO_JOB = "no_job"
    """No worker took the dispatch's job in time (a dispatch made while no worker of the name was
    registered never gets one): it is deleted and made again."""
    JOB_FAILED = "job_failed"
    """The job failed, was cancelled or turned down: the dispatch is deleted and made again."""
    AGENT_LEFT = "agent_left"
    """The agent left the room (or never joined it) while its job still shows running, as a job
    whose worker died shows: the dispatch is deleted and made again."""
    DISPATCH_LOST = "dispatch_lost"
    """The dispatch vanished without a delete: its room started again on another node."""
    DISPATCH_DELETED = "dispatch_deleted"
    """Someone else deleted the dispatch: keeping means keeping, so it is made again."""
    ROOM_AWAY = "room_away"
    """No node answered for the room for the supervisor's ``room_grace``: it is dispatched to
    again (the create starts it on a node that runs), unless the room store dropped it."""


@dataclasses.dataclass(frozen=True)
class SupervisorEvent:
    """One thing that happened to a kept room (``time``: the supervisor's clock, Unix seconds)."""

    kind: EventKind
    """What happened."""
    room: str
    """The kept room."""
    agent_name: str
    """The agent name it is kept with."""
    time: float
    """When, in Unix seconds (the supervisor's ``clock``)."""
    dispatch_id: str | None = None
    """The dispatch the event is about, if any."""
    job: Job | None = None
    """The job the event is about, if any (``RUNNING``, and ``LOST`` when one was seen)."""
    reason: LossReason | None = None
    """Why the agent counts as lost (``LOST`` only)."""
    detail: str = ""
    """More, in words: the error of ``RETRYING`` or ``GAVE_UP``, the agent of ``PRESENT``."""
    redispatches: int = 0
    """How many redispatches the room had counted against its budget when the event was made."""


class EventStream:
    """The events of one supervisor from the moment it was opened, as an async iterator."""

    def __init__(self, maxsize: int) -> None:
        self._events: collections.deque[SupervisorEvent] = collections.deque()
        self._maxsize = maxsize
        self._ready = asyncio.Event()
        self._closed = False
        self.dropped = 0
        """Events dropped because the stream already held ``maxsize`` unread ones (oldest first)."""

    def _put(self, event: SupervisorEvent) -> None:
        if self._closed:
            return
        if len(self._events) >= self._maxsize:
            self._events.popleft()
            self.dropped += 1
        self._events.append(event)
        self._ready.set()

    def close(self) -> None:
        """Stop hearing events; what the stream still holds can be read, then it ends."""
        self._closed = True
        self._ready.set()

    @property
    def closed(self) -> bool:
        """Whether the stream hears no more events (closed, or its supervisor was)."""
        return self._closed

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> SupervisorEvent:
        while not self._events:
            if self._closed:
                raise StopAsyncIteration
            self._ready.clear()
            await self._ready.wait()
        return self._events.popleft()

    async def wait_for(
        self, *kinds: EventKind, room: str | None = None, timeout: float = 30.0
    ) -> SupervisorEvent:
        """The next event of one of ``kinds`` (any kind when none is given), of ``room`` if given;
        the events before it are read and passed over. TimeoutError after ``timeout`` seconds,
        LookupError when the stream ends first."""
        async with asyncio.timeout(timeout):
            async for event in self:
                if (not kinds or event.kind in kinds) and (room is None or event.room == room):
                    return event
        raise LookupError(f"the event stream ended before an event of {[k.value for k in kinds]}")
