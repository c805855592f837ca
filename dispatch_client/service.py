"""AgentDispatchService: create, list, get and delete agent dispatches in a LiveKit room."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping, Sequence

from ._auth.signer import TokenSigner
from ._checks import require_seconds, require_text
from ._client.base import (
    DEFAULT_JOB_WAIT,
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_RETRY,
    DEFAULT_TIMEOUT,
    ServiceBase,
)
from ._client.ensure import ensure_dispatch
from ._client.jobs import DEFAULT_GRACE, wait_for_job
from ._client.join import join_token
from ._client.recovery import made, still_there
from ._client.room_state import RoomReads
from ._client.rooms import list_participants, list_rooms
from ._generated.livekit import (
    AgentDispatch,
    CreateAgentDispatchRequest,
    DeleteAgentDispatchRequest,
    Job,
    JobStatus,
    ListAgentDispatchRequest,
    ListAgentDispatchResponse,
    ParticipantInfo,
    Room,
    RoomAgentDispatch,
)
from ._transport.request import encoded
from .fleet._bulk import DEFAULT_ATTEMPTS, DEFAULT_CONCURRENCY, BulkPlan, DispatchResult, dispatch_many
from .telemetry._about import about
from .telemetry._names import AGENT_NAME, DISPATCH_ID, JOB_ID
from .telemetry._otel import dispatch_latency, traced
from .tokens import DEFAULT_JOIN_TTL

__all__ = [
    "DEFAULT_GRACE",
    "DEFAULT_JOB_WAIT",
    "DEFAULT_JOIN_TTL",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_RETRY",
    "DEFAULT_TIMEOUT",
    "AgentDispatchService",
]


class AgentDispatchService(ServiceBase):
    """Client for LiveKit's ``livekit.AgentDispatchService``, speaking Twirp JSON.

    Made with :func:`dispatch_client.connect` (for one ``async with`` block), :meth:`open` (for
    an application's lifetime; both read what is left out from the ``LIVEKIT_*`` environment)
    or the constructor, on an aiohttp session of yours. Every option is described with the
    constructor. A call's failure is a :class:`dispatch_client.TwirpError`; bad arguments raise
    ValueError, before anything is sent.
    """

    async def create_dispatch(
        self, req: CreateAgentDispatchRequest, *, timeout: float | None = None, request_id: str | None = None
    ) -> AgentDispatch:
        """Dispatch ``req.agent_name`` to ``req.room``; returns the new dispatch.

        Never sent again blindly: after a failure that may follow the server's work, the room
        is listed for the dispatch the failed attempt made (docs/retries.md); when that
        cannot be checked, the error has ``outcome_unknown`` set.
        """
        if not isinstance(req, CreateAgentDispatchRequest):
            raise ValueError(f"req must be a CreateAgentDispatchRequest, got {type(req).__name__}")
        require_text("req.room", req.room)
        return await self._transport.call(
            "CreateDispatch",
            req.room,
            req,
            AgentDispatch,
            timeout,
            request_id,
            find=made(req, self.list_dispatch, self._room_reads()),
        )

    def _room_reads(self) -> RoomReads:
        """The room store's reads (livekit.RoomService), bounded by the caller's time."""

        async def rooms(names: list[str], timeout: float) -> list[Room]:
            return await list_rooms(self._transport, names, timeout=timeout)

        async def participants(room: str, timeout: float) -> list[ParticipantInfo]:
            return await list_participants(self._transport, room, timeout=timeout)

        return RoomReads(rooms, participants)

    async def ensure_dispatch(
        self, req: CreateAgentDispatchRequest, *, timeout: float | None = None
    ) -> AgentDispatch:
        """The room's dispatch of ``req.agent_name`` (same deployment), made if there is none.

        Calls of one service for the same room, agent and deployment take turns, so they
        leave one such dispatch (the oldest is returned if there are several); without a
        ``coordinator``, another process can still make its own at the same time; with one,
        every process sharing it takes turns too, and the call ends by its lease's end
        (docs/fleets.md). The room store
        (``RoomService``) is read first: a new room is created into without the 3 s wait of a
        list, and a room whose agent is still in it after its dispatch was lost (its node
        went down, docs/cluster.md) gets no second one: ``already_exists``, or ``unavailable``
        while no node answers for it. ``timeout``: the whole call.
        """
        if not isinstance(req, CreateAgentDispatchRequest):
            raise ValueError(f"req must be a CreateAgentDispatchRequest, got {type(req).__name__}")
        require_text("req.room", req.room)
        encoded(req)  # every field checked before the first read: ValueError, nothing sent
        work = self._ensure(req, self._limit(timeout), frozenset())
        agent = {AGENT_NAME: req.agent_name}
        return await traced(self._transport.telemetry, "ensure_dispatch", req.room, agent, work, about)

    def _limit(self, timeout: float | None) -> float:
        return self._transport.timeout if timeout is None else require_seconds("timeout", timeout)

    async def _ensure(
        self, req: CreateAgentDispatchRequest, limit: float, passed_over: frozenset[str]
    ) -> AgentDispatch:
        return await ensure_dispatch(
            self._turns,
            self.list_dispatch,
            self.create_dispatch,
            self.get_dispatch,
            self.delete_dispatch,
            self._room_reads(),
            req,
            limit,
            coordinator=self._coordinator,
            sleep=self._sleep,
            passed_over=passed_over,
        )

    async def dispatch_many(
        self,
        reqs: Iterable[CreateAgentDispatchRequest],
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        rate: float | None = None,
        wait: float | None = None,
        attempts: int = DEFAULT_ATTEMPTS,
        timeout: float | None = None,
        on_result: Callable[[DispatchResult], None] | None = None,
    ) -> list[DispatchResult]:
        """An agent for each of many rooms: a :class:`dispatch_client.fleet.DispatchResult` each, in order.

        Each request goes through :meth:`ensure_dispatch` (``timeout``: each call's), so a room
        that has the agent's dispatch keeps it and a lost create is settled, not repeated.
        At most ``concurrency`` rooms are under way at once (a room's create, and its wait);
        with ``rate``, creates start at most ``rate`` per second, spread evenly. With
        ``wait`` (seconds), each room's job is waited for (:meth:`wait_for_job`); a room no
        agent is coming to is sent its agent again, up to ``attempts`` dispatches in all:
        after ``DISPATCH_LOST``, ``JOB_FAILED`` of a job that never had an agent, or ``NO_JOB``
        when ``wait`` is at least ``JOB_OFFER_WINDOW`` (10 s; a shorter wait may miss a job
        yet to come). The dispatch no agent came of stays and is passed over, and none is
        made while the room store lists the agent in the room.

        A room's failure is in its result and stops no other; ``on_result`` hears of each
        room as it ends (for progress). Bad arguments (a request that is not a
        ``CreateAgentDispatchRequest``, an empty room, a room and agent given twice,
        ``concurrency`` or ``attempts`` under 1, ``rate`` <= 0) raise ValueError before
        anything is sent. Cancelling stops the starts and the rooms under way.
        """
        plan = BulkPlan.check(reqs, concurrency, rate, wait, attempts)
        limit = self._limit(timeout)
        return await dispatch_many(
            plan,
            lambda req, passed_over: self._ensure(req, limit, passed_over),
            lambda made, seconds: self.wait_for_job(made.id, made.room, timeout=seconds),
            sleep=self._sleep,
            clock=asyncio.get_running_loop().time,
            on_result=on_result,
        )

    async def join_token(
        self,
        identity: str,
        room: str,
        *,
        agents: Sequence[RoomAgentDispatch] = (),
        name: str | None = None,
        metadata: str | None = None,
        attributes: Mapping[str, str] | None = None,
        ttl: float = DEFAULT_JOIN_TTL,
        timeout: float | None = None,
    ) -> str:
        """A join token (:func:`dispatch_client.tokens.participant_token`, this service's key and
        secret) whose ``agents`` come whether or not ``room`` is already running.

        A running room ignores a token's agents, so when the room store has the room (or cannot
        be read) each agent is made sure of first, by :meth:`ensure_dispatch`'s rules, and the
        token is returned once they are (docs/tokens.md). ``timeout``: the whole call. A service
        given a pre-signed ``token`` cannot sign one: ValueError.
        """
        if not isinstance(self._signer, TokenSigner):
            raise ValueError(
                "join_token signs with the API key and secret; this service has a pre-signed token"
            )
        token = self._signer.participant_token(
            identity=identity,
            room=room,
            agents=agents,
            name=name,
            metadata=metadata,
            attributes=attributes,
            ttl=ttl,
        )
        limit = self._transport.timeout if timeout is None else require_seconds("timeout", timeout)

        async def ensure(req: CreateAgentDispatchRequest, left: float) -> AgentDispatch:
            return await self.ensure_dispatch(req, timeout=left)

        return await join_token(token, room, list(agents), self._room_reads(), ensure, limit)

    async def wait_for_job(
        self,
        dispatch_id: str,
        room_name: str,
        *,
        until: JobStatus = JobStatus.JS_RUNNING,
        timeout: float = DEFAULT_JOB_WAIT,
        grace: float = DEFAULT_GRACE,
    ) -> Job:
        """The dispatch's first job that reached ``until`` (or a later state), polled for.

        Any other ending within ``timeout`` is a TwirpError with ``wait_outcome`` (a
        :class:`WaitOutcome`) and ``job`` (the job last seen) set; a poll that fails for a
        passing reason is tried again and never counts as "no agent" (docs/jobs.md). Once
        the dispatch has been seen, a room that stops answering while the room store still
        has it is polled for ``grace`` more seconds (0: not at all) before the wait ends with
        ``ROOM_NOT_RUNNING``: in a cluster, a room whose node went down comes back on another
        (docs/cluster.md). A room the store does not have closed: the wait ends at once.
        """
        telemetry = self._transport.telemetry
        work = wait_for_job(
            self.get_dispatch,
            self.list_dispatch,
            dispatch_id,
            room_name,
            until,
            timeout,
            rooms=self._room_reads(),
            grace=grace,
            sleep=self._sleep,
            rand=self._rand,
            running=dispatch_latency(telemetry),
        )
        ids = {DISPATCH_ID: dispatch_id}
        return await traced(telemetry, "wait_for_job", room_name, ids, work, lambda job: {JOB_ID: job.id})

    async def delete_dispatch(
        self,
        dispatch_id: str,
        room_name: str,
        *,
        timeout: float | None = None,
        request_id: str | None = None,
    ) -> AgentDispatch:
        """Delete one dispatch; returns it as it was. Unknown ids raise ``not_found``.

        After a failure that may follow the server's work it is sent again only while a get
        still shows the dispatch; once it is gone, the failure has ``outcome_unknown`` set.
        """
        require_text("dispatch_id", dispatch_id)
        require_text("room_name", room_name)
        req = DeleteAgentDispatchRequest(dispatch_id=dispatch_id, room=room_name)
        return await self._transport.call(
            "DeleteDispatch",
            room_name,
            req,
            AgentDispatch,
            timeout,
            request_id,
            find=still_there(dispatch_id, room_name, self.get_dispatch),
        )

    async def list_dispatch(
        self, room_name: str, *, timeout: float | None = None, request_id: str | None = None
    ) -> list[AgentDispatch]:
        """All dispatches of a room, or an empty list.

        livekit-server adds a dispatch of its own (``agent_name ""``) to a room that a create
        started, and lists in no particular order. In a room that is not running it answers
        ``unavailable`` after 3 s, with :attr:`TwirpError.room_not_running` set.
        """
        require_text("room_name", room_name)
        req = ListAgentDispatchRequest(room=room_name)
        resp = await self._transport.call(
            "ListDispatch", room_name, req, ListAgentDispatchResponse, timeout, request_id
        )
        return resp.agent_dispatches

    async def get_dispatch(
        self,
        dispatch_id: str,
        room_name: str,
        *,
        timeout: float | None = None,
        request_id: str | None = None,
    ) -> AgentDispatch | None:
        """One dispatch by id, or ``None`` when the room has no dispatch with that id.

        A room that is not running is an error, as for :meth:`list_dispatch`.
        """
        require_text("dispatch_id", dispatch_id)
        require_text("room_name", room_name)
        req = ListAgentDispatchRequest(dispatch_id=dispatch_id, room=room_name)
        resp = await self._transport.call(
            "ListDispatch", room_name, req, ListAgentDispatchResponse, timeout, request_id
        )
        return resp.agent_dispatches[0] if resp.agent_dispatches else None
