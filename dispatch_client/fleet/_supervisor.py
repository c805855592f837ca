"""Supervisor: one running agent kept in each room it is given, through worker and node deaths."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import TYPE_CHECKING

from .._checks import require_text
from .._generated.livekit import CreateAgentDispatchRequest, Job
from ..errors import TwirpError, TwirpErrorCode
from ._events import EventKind, EventStream, LossReason, SupervisorEvent
from ._keeping import Keeper
from ._pacing import Emit, Stop
from ._settings import Settings
from ._tracing import trace_event

if TYPE_CHECKING:
    from ..service import AgentDispatchService

__all__ = ["Supervisor"]

logger = logging.getLogger("dispatch_client.fleet")

_LEVELS = {
    EventKind.LOST: logging.WARNING,
    EventKind.RETRYING: logging.WARNING,
    EventKind.GAVE_UP: logging.ERROR,
}

Key = tuple[str, str]


class Supervisor:
    """Keeps one running agent in each room it is given (see docs/fleets.md):

        async with Supervisor(service) as sup:
            events = sup.events()
            await sup.keep(CreateAgentDispatchRequest(agent_name="support", room="call-42"))
            async for event in events:
                print(event.kind, event.room, event.reason)

    For each kept room it dispatches through ``service.ensure_dispatch`` (never a second agent
    while one of the name is in the room), waits ``job_timeout`` seconds for a worker to run
    the job, then checks the dispatch and the room's participants every ``check_interval``
    seconds (jittered). It dispatches again when no worker took the job, the job failed, the
    agent left the room or never joined it within ``join_timeout`` (its job still showing
    running, as a dead worker's does), the dispatch was deleted or lost with its node, or no
    node answered for the room for ``room_grace`` seconds; after a delete it waits up to
    ``leave_timeout`` seconds for the old agent to leave. Redispatches wait a capped, jittered
    backoff (``backoff`` doubling to ``max_backoff``), and at most ``max_redispatches`` are made
    per ``window`` seconds (``None``: in all); then the room is given up (``GAVE_UP``). A room
    the room store no longer has closed for good: it is no longer kept (``ROOM_CLOSED``).
    ``call_timeout`` bounds each call; ``event_buffer`` is the size of each event stream.
    ``clock`` (Unix seconds) stamps the events; ``sleep`` and ``rand`` default to the service's.
    Closing (the end of ``async with``) stops every keeping, and deletes nothing.
    """

    def __init__(
        self,
        service: AgentDispatchService,
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
        sleep: Callable[[float], Awaitable[None]] | None = None,
        rand: Callable[[], float] | None = None,
    ) -> None:
        if not callable(getattr(service, "ensure_dispatch", None)) or not hasattr(service, "_room_reads"):
            raise ValueError(f"service must be an AgentDispatchService, got {type(service).__name__}")
        self._settings = Settings(
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
        )
        self._service = service
        self._clock = clock
        self._sleep = sleep if sleep is not None else service._sleep
        self._rand = rand if rand is not None else service._rand
        self._keepers: dict[Key, tuple[Keeper, asyncio.Task[None]]] = {}
        self._streams: list[EventStream] = []
        self._closed = False

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` was called."""
        return self._closed

    def kept(self) -> list[tuple[str, str]]:
        """The (room, agent name) pairs being kept now, in the order they were given."""
        return list(self._keepers)

    def events(self, *, maxsize: int | None = None) -> EventStream:
        """A new stream of the events from now on (``maxsize``: ``event_buffer`` unless given;
        when full, the oldest unread event is dropped and counted in ``dropped``)."""
        size = self._settings.event_buffer if maxsize is None else maxsize
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"maxsize must be an int of 1 or more, got {size!r}")
        stream = EventStream(size)
        if self._closed:
            stream.close()
        else:
            self._streams.append(stream)
        return stream

    async def keep(self, req: CreateAgentDispatchRequest) -> bool:
        """Start keeping an agent of ``req.agent_name`` in ``req.room`` (the request is what each
        dispatch is made with); returns at once. False when that pair is kept already (the
        request is then not changed). TwirpError ``failed_precondition`` once closed."""
        if not isinstance(req, CreateAgentDispatchRequest):
            raise ValueError(f"req must be a CreateAgentDispatchRequest, got {type(req).__name__}")
        require_text("req.room", req.room)
        require_text("req.agent_name", req.agent_name)
        if self._closed:
            raise TwirpError(TwirpErrorCode.FAILED_PRECONDITION, "the supervisor is closed")
        key = (req.room, req.agent_name)
        if key in self._keepers:
            return False
        keeper = Keeper(
            self._service,
            req,
            self._settings,
            Emit(lambda kind, **fields: self._report(keeper, kind, **fields)),
            sleep=self._sleep,
            rand=self._rand,
        )
        task = asyncio.get_running_loop().create_task(self._run(key, keeper), name=f"keep {key[0]}/{key[1]}")
        self._keepers[key] = (keeper, task)
        return True

    async def release(self, room: str, agent_name: str, *, delete: bool = False) -> bool:
        """Stop keeping ``agent_name`` in ``room`` (``RELEASED``); with ``delete``, the room's
        dispatches of that agent (and the request's deployment) are deleted too, and their agents
        leave. False when that pair was not kept."""
        require_text("room", room)
        require_text("agent_name", agent_name)
        found = self._keepers.pop((room, agent_name), None)
        if found is None:
            return False
        keeper, task = found
        await _cancelled(task)
        made = keeper.dispatch
        if delete:
            await keeper.delete_all()
        self._report(keeper, EventKind.RELEASED, dispatch_id=made.id if made else None)
        return True

    async def aclose(self) -> None:
        """Stop every keeping (its tasks cancelled and awaited) and end the event streams; the
        dispatches stay. Closing twice is harmless."""
        self._closed = True
        keepers, self._keepers = list(self._keepers.values()), {}
        for _, task in keepers:
            task.cancel()
        for _, task in keepers:
            await _cancelled(task)
        for stream in self._streams:
            stream.close()
        self._streams = []

    async def __aenter__(self) -> Supervisor:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"Supervisor(kept={len(self._keepers)}, closed={self._closed})"

    async def _run(self, key: Key, keeper: Keeper) -> None:
        try:
            await keeper.run()
        except Stop as stop:
            self._report(keeper, stop.kind, detail=stop.detail)
        except ValueError as e:  # a pre-signed token that expired: nothing will get through
            self._report(keeper, EventKind.GAVE_UP, detail=f"a call failed for good: {e}")
        except Exception as e:  # a bug of ours: said once, and the room is no longer kept
            logger.exception("room %s: the keeping of %s failed", key[0], key[1])
            self._report(keeper, EventKind.GAVE_UP, detail=f"internal error: {e!r}")
        if self._keepers.get(key, (None,))[0] is keeper:
            del self._keepers[key]

    def _report(
        self,
        keeper: Keeper,
        kind: EventKind,
        *,
        dispatch_id: str | None = None,
        job: Job | None = None,
        reason: LossReason | None = None,
        detail: str = "",
    ) -> None:
        req = keeper.req
        event = SupervisorEvent(
            kind,
            req.room,
            req.agent_name,
            self._clock(),
            dispatch_id=dispatch_id,
            job=job,
            reason=reason,
            detail=detail,
            redispatches=keeper.pacing.redispatches,
        )
        logger.log(
            _LEVELS.get(kind, logging.INFO),
            "%s: room %s, agent %s%s%s%s",
            kind.value,
            req.room,
            req.agent_name,
            f", dispatch {dispatch_id}" if dispatch_id else "",
            f", {reason.value}" if reason else "",
            f": {detail}" if detail else "",
        )
        trace_event(self._service._transport.telemetry, event)
        self._streams = [s for s in self._streams if not s.closed]
        for stream in self._streams:
            stream._put(event)


async def _cancelled(task: asyncio.Task[None]) -> None:
    """Cancel ``task`` and wait until it has ended (a cancellation of the caller still comes)."""
    task.cancel()
    await asyncio.wait([task])
