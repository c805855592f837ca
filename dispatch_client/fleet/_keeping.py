"""The keeping of one room's agent: dispatch, wait for the job, watch, and dispatch again.

One :class:`Keeper` runs per kept room and agent name, as a task of its supervisor. Every
dispatch goes through ``ensure_dispatch``, which returns the room's dispatch of the agent when
there is one and refuses (``already_exists``) while an agent of that name is in the room
without one: going back to it is always safe. A dispatch that can no longer bring an agent (no
worker took its job, the job failed, its agent left) is deleted first, so that it is not
returned again; its id is remembered until it is gone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from .._client.room_state import Store
from .._generated.livekit import AgentDispatch, CreateAgentDispatchRequest, Job, JobStatus
from ..errors import TwirpError, TwirpErrorCode, WaitOutcome
from ._events import EventKind, LossReason
from ._pacing import Emit, Pacing, Stop, fatal
from ._settings import Settings

if TYPE_CHECKING:
    from ..service import AgentDispatchService

__all__ = ["Keeper"]

logger = logging.getLogger("dispatch_client.fleet")

_BY_OUTCOME = {
    WaitOutcome.NO_JOB: LossReason.NO_JOB,
    WaitOutcome.JOB_PENDING: LossReason.NO_JOB,
    WaitOutcome.JOB_FAILED: LossReason.JOB_FAILED,
    WaitOutcome.DISPATCH_DELETED: LossReason.DISPATCH_DELETED,
    WaitOutcome.DISPATCH_LOST: LossReason.DISPATCH_LOST,
}
# Losses whose dispatch is still in the room and can bring no agent: deleted before the next.
_DEAD = frozenset({LossReason.NO_JOB, LossReason.JOB_FAILED, LossReason.AGENT_LEFT})
_ENDED = frozenset({JobStatus.JS_FAILED, JobStatus.JS_CANCELLED})


class Keeper:
    """Keeps one running agent of ``req.agent_name`` in ``req.room`` until cancelled or stopped."""

    def __init__(
        self,
        service: AgentDispatchService,
        req: CreateAgentDispatchRequest,
        settings: Settings,
        emit: Emit,
        *,
        sleep: Callable[[float], Awaitable[None]],
        rand: Callable[[], float],
    ) -> None:
        self._svc, self.req, self._s, self._emit = service, req, settings, emit
        self._sleep = sleep
        self._reads = service._room_reads()
        self.dispatch: AgentDispatch | None = None  # the dispatch last made or found
        self._announced: str | None = None
        self._condemned: set[str] = set()  # dispatches deleted (or to be) that ensure must not return
        self.pacing = Pacing(settings, rand)

    async def run(self) -> None:
        """Keep the agent until cancelled; raises :class:`Stop` when the keeping ends by itself."""
        after_loss, wait = False, 0.0
        while True:
            if wait > 0:
                await self._sleep(wait)
            wait = 0.0
            if after_loss:
                self.pacing.check_budget()
                await self._still_open()
            try:
                made = await self._svc.ensure_dispatch(self.req, timeout=self._s.call_timeout)
            except TwirpError as e:
                identity = e.meta.get("participant_identity")
                if identity and e.code is TwirpErrorCode.ALREADY_EXISTS:
                    self._emit(EventKind.PRESENT, detail=identity)
                    self.pacing.ran()
                    await self._until_gone(identity)
                    self._emit(EventKind.LOST, reason=LossReason.AGENT_LEFT, detail=identity)
                    after_loss, wait = True, self.pacing.backoff()
                else:  # no node answers for the room while its agent is listed: it comes back
                    wait = self._retry(e, self._s.check_interval if identity else None)
                continue
            if made.id in self._condemned:  # a dead dispatch whose delete did not get through
                await self._delete(made)
                wait = self.pacing.backoff()
                continue
            self.dispatch = made
            if made.id != self._announced:
                self._announced = made.id
                if after_loss:
                    self.pacing.spend()
                kind = EventKind.REDISPATCHED if after_loss else EventKind.DISPATCHED
                self._emit(kind, dispatch_id=made.id)
            after_loss = False
            reason, job = await self._until_running(made)
            if reason is None:
                if job is None:  # the wait's polls failed: the same dispatch is waited for again
                    wait = self.pacing.backoff()
                    continue
                self._emit(EventKind.RUNNING, dispatch_id=made.id, job=job)
                self.pacing.ran()
                reason = await self._watch(made, job)
            self._emit(EventKind.LOST, dispatch_id=made.id, job=job, reason=reason)
            if reason in _DEAD:
                self._condemned.add(made.id)
                await self._delete(made)
            elif reason is LossReason.DISPATCH_DELETED and job is not None and job.state is not None:
                await self._until_gone(job.state.participant_identity, self._s.leave_timeout)
            after_loss, wait = True, self.pacing.backoff()

    def _retry(self, e: TwirpError, wait: float | None = None) -> float:
        """The wait before trying again after ``e``; :class:`Stop` when it will not pass."""
        if fatal(e):
            raise Stop(EventKind.GAVE_UP, f"a call failed for good: {e}")
        self._emit(EventKind.RETRYING, detail=str(e))
        return wait if wait is not None else self.pacing.backoff()

    async def _still_open(self, *, away: bool = False) -> None:
        """:class:`Stop` when the room store no longer has the room: it closed for good. For a
        room that has not answered through ``room_grace`` (``away``), a store that cannot be
        read counts as closed too: a closed room is never started again on a guess."""
        record = await self._reads.room(self.req.room, self._s.call_timeout)
        if record is Store.ABSENT or (away and record is Store.UNREADABLE):
            why = "no longer has" if record is Store.ABSENT else "cannot be read for"
            raise Stop(EventKind.ROOM_CLOSED, f"the room store {why} room {self.req.room!r}")

    async def _until_running(self, made: AgentDispatch) -> tuple[LossReason | None, Job | None]:
        """(None, the job) once it runs; (why not, the job last seen); (None, None) when the
        polls failed and the same dispatch is to be waited for again."""
        try:
            job = await self._svc.wait_for_job(
                made.id, made.room, timeout=self._s.job_timeout, grace=self._s.room_grace
            )
        except TwirpError as e:
            if e.wait_outcome is WaitOutcome.ROOM_NOT_RUNNING:
                await self._still_open(away=True)
                return LossReason.ROOM_AWAY, e.job
            if e.wait_outcome is None:
                self._retry(e)
                return None, None
            return _BY_OUTCOME[e.wait_outcome], e.job
        return None, job

    async def _watch(self, made: AgentDispatch, job: Job) -> LossReason:
        """Poll the dispatch and the room's participants until the agent counts as lost."""
        loop = asyncio.get_running_loop()
        identity = job.state.participant_identity if job.state is not None else ""
        running_since, seen, away_since = loop.time(), False, None
        while True:
            await self._sleep(self.pacing.interval())
            try:
                now = await self._svc.get_dispatch(made.id, made.room, timeout=self._s.call_timeout)
            except TwirpError as e:
                if not e.room_not_running:
                    self._retry(e, 0.0)
                else:  # its node is down: the room comes back on another, with the agents listed
                    away_since = loop.time() if away_since is None else away_since
                    await self._still_open()
                    if loop.time() - away_since >= self._s.room_grace:
                        await self._still_open(away=True)
                        return LossReason.ROOM_AWAY
            else:
                away_since = None
                if now is None:
                    return await self._gone(made)
                mine = [j for j in (now.state.jobs if now.state is not None else []) if j.id == job.id]
                if mine and mine[0].state is not None and mine[0].state.status in _ENDED:
                    return LossReason.JOB_FAILED
            agents = await self._reads.agents(made.room, made.agent_name, self._s.call_timeout)
            if isinstance(agents, list):  # else the store cannot be read: the dispatch is all there is
                if any(a.identity == identity for a in agents):
                    seen = True
                elif seen or loop.time() - running_since >= self._s.join_timeout:
                    left = await self._left(made)
                    if left is not None:
                        return left

    async def _left(self, made: AgentDispatch) -> LossReason | None:
        """The agent is no longer in the room: its dispatch is read once more, since an agent
        also leaves when its dispatch is deleted or its room closes. None: nothing can be told
        yet (no node answers for the room, and the room store cannot be read)."""
        record = await self._reads.room(made.room, self._s.call_timeout)
        if record is Store.ABSENT:
            raise Stop(EventKind.ROOM_CLOSED, f"the room store no longer has room {made.room!r}")
        try:
            now = await self._svc.get_dispatch(made.id, made.room, timeout=self._s.call_timeout)
        except TwirpError as e:
            return None if e.room_not_running and record is Store.UNREADABLE else LossReason.AGENT_LEFT
        return await self._gone(made) if now is None else LossReason.AGENT_LEFT

    async def _gone(self, made: AgentDispatch) -> LossReason:
        """A dispatch no longer in its room: lost when the room started again since it was made
        (a new default dispatch), deleted otherwise."""
        created = made.state.created_at if made.state is not None else 0
        try:
            now = await self._svc.list_dispatch(made.room, timeout=self._s.call_timeout)
        except TwirpError:
            now = []
        restarted = any(
            d.agent_name == "" and d.state is not None and d.state.created_at > created for d in now
        )
        return LossReason.DISPATCH_LOST if restarted else LossReason.DISPATCH_DELETED

    async def _until_gone(self, identity: str, limit: float | None = None) -> None:
        """Until the room's participants no longer list the agent ``identity`` (at most ``limit``
        seconds when given); :class:`Stop` if the room closes meanwhile."""
        loop = asyncio.get_running_loop()
        end = None if limit is None else loop.time() + limit
        while end is None or loop.time() < end:
            agents = await self._reads.agents(self.req.room, self.req.agent_name, self._s.call_timeout)
            if isinstance(agents, list) and all(a.identity != identity for a in agents):
                return
            pause = self.pacing.interval() if end is None else min(self.pacing.interval(), 0.2)
            await self._sleep(pause)

    async def delete_all(self) -> None:
        """Delete the room's dispatches of the agent and deployment (the one last made, when the
        room cannot be listed); failures are logged, not raised."""
        req, limit = self.req, self._s.call_timeout
        try:
            listed = await self._svc.list_dispatch(req.room, timeout=limit)
            doomed = [d for d in listed if d.agent_name == req.agent_name and d.deployment == req.deployment]
        except TwirpError:
            doomed = [self.dispatch] if self.dispatch is not None else []
        for dispatch in doomed:
            try:
                await self._svc.delete_dispatch(dispatch.id, dispatch.room, timeout=limit)
            except TwirpError as e:
                logger.warning("room %s: dispatch %s was not deleted: %s", req.room, dispatch.id, e)

    async def _delete(self, made: AgentDispatch) -> None:
        """Delete a dispatch that can bring no agent; one already gone is forgotten."""
        try:
            await self._svc.delete_dispatch(made.id, made.room, timeout=self._s.call_timeout)
        except TwirpError as e:
            if e.code is TwirpErrorCode.NOT_FOUND or e.room_not_running:
                self._condemned.discard(made.id)
            else:
                logger.info("room %s: dispatch %s could not be deleted yet: %s", made.room, made.id, e)
            return
        self._condemned.discard(made.id)
