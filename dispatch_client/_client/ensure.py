"""One dispatch of an agent in a room, however many times it is asked for.

``ensure_dispatch`` lists the room and returns the dispatch of the request's agent name and
deployment when there is one, and creates it otherwise. Calls of one service for the same
room, agent and deployment take turns, so concurrent calls in one process make one dispatch;
a create whose outcome is unknown is settled by listing again, never by creating again.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from .._generated.livekit import AgentDispatch, CreateAgentDispatchRequest, ParticipantInfo, Room
from ..errors import TwirpError, TwirpErrorCode
from ..fleet._coordinator import Coordinator
from .room_state import RoomReads, Store
from .turns import Turns, release_when_done

__all__ = ["CONFIRM_AFTER", "CONFIRM_READS", "Turns", "ensure_dispatch", "existing"]

# Seconds after a create that started its room before it is read back: concurrent creates
# that started the same room elsewhere have placed it by then.
CONFIRM_AFTER = 0.1
CONFIRM_READS = 3
logger = logging.getLogger("dispatch_client")

ListCall = Callable[..., Awaitable[list[AgentDispatch]]]
GetCall = Callable[..., Awaitable[AgentDispatch | None]]
DeleteCall = Callable[..., Awaitable[AgentDispatch]]
CreateCall = Callable[..., Coroutine[Any, Any, AgentDispatch]]


def existing(
    req: CreateAgentDispatchRequest,
    dispatches: list[AgentDispatch],
    passed_over: frozenset[str] = frozenset(),
) -> AgentDispatch | None:
    """The oldest dispatch of ``req``'s agent name and deployment, if the room has one (those
    whose ids are in ``passed_over`` do not count)."""
    same = [
        d
        for d in dispatches
        if d.agent_name == req.agent_name and d.deployment == req.deployment and d.id not in passed_over
    ]
    return min(same, key=lambda d: (d.state.created_at if d.state else 0, d.id), default=None)


def _agent_there(
    code: TwirpErrorCode, why: str, req: CreateAgentDispatchRequest, agents: list[ParticipantInfo]
) -> TwirpError:
    names = ", ".join(a.identity for a in agents)
    return TwirpError(
        code,
        f"ensure_dispatch: room {req.room!r} {why}, and its agent {req.agent_name!r} is in the room store "
        f"({names}): no second agent was sent",
        meta={"participant_identity": agents[0].identity},
    )


async def ensure_dispatch(
    turns: Turns,
    list_dispatch: ListCall,
    create_dispatch: CreateCall,
    get_dispatch: GetCall,
    delete_dispatch: DeleteCall,
    rooms: RoomReads,
    req: CreateAgentDispatchRequest,
    timeout: float,
    *,
    coordinator: Coordinator | None,
    sleep: Callable[[float], Awaitable[None]],
    passed_over: frozenset[str] = frozenset(),
) -> AgentDispatch:
    """``passed_over``: ids of the room's dispatches that do not count as its dispatch (no agent
    came of them); an agent of the room store still keeps a second one from being made."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout

    def remaining() -> float:
        left = deadline - loop.time()
        if left <= 0:
            raise TwirpError(
                TwirpErrorCode.DEADLINE_EXCEEDED, f"ensure_dispatch: the {timeout:g} s deadline passed"
            )
        return left

    try:
        async with asyncio.timeout_at(deadline):
            turn = await turns.take((req.room, req.agent_name, req.deployment))
    except TimeoutError:
        raise TwirpError(
            TwirpErrorCode.DEADLINE_EXCEEDED,
            f"ensure_dispatch: the {timeout:g} s deadline passed waiting its turn",
        ) from None
    # A create under way keeps the turn until it ends, even when this call is cancelled or gives
    # up: the next call's list must see what it did.
    task: asyncio.Task[AgentDispatch] | None = None
    try:
        if coordinator is not None:
            # Other processes take turns through the coordinator; this call ends by its lease's end.
            turn.lease = await coordinator.acquire(
                json.dumps([req.room, req.agent_name, req.deployment]), deadline
            )
            deadline = min(deadline, turn.lease.deadline)
        # The room store answers at once where a list of a room that is not running takes 3 s.
        record = await rooms.room(req.room, remaining())
        new_room = record is Store.ABSENT
        found, looked = None, new_room  # looked: whether the store's agents are known to be none
        starts = new_room  # whether the create starts the room
        if not new_room:
            try:
                found = existing(req, await list_dispatch(req.room, timeout=remaining()), passed_over)
            except TwirpError as e:
                if not e.room_not_running:
                    raise
                # Not running. A room the store still has is on a node that went down: its
                # agent comes back with it when the room moves, and must not get a twin.
                if isinstance(record, Room):
                    agents = await rooms.agents(req.room, req.agent_name, remaining())
                    if isinstance(agents, list) and agents:
                        raise _agent_there(
                            TwirpErrorCode.UNAVAILABLE, "has no node answering for it", req, agents
                        ) from e
                # The create starts the room, on another node if its own is down.
                looked = starts = True
        if found is not None:
            return found
        if not looked:
            # A room that moved to another node keeps its agents but not its API dispatches.
            agents = await rooms.agents(req.room, req.agent_name, remaining())
            if isinstance(agents, list) and agents:
                raise _agent_there(TwirpErrorCode.ALREADY_EXISTS, "has no dispatch of it", req, agents)
        task = loop.create_task(create_dispatch(req, timeout=remaining()))
        try:
            made = await asyncio.shield(task)
        except TwirpError as e:
            if not e.outcome_unknown:
                raise
            unknown = e
        else:
            if starts and req.agent_name == "" and req.deployment == "":
                made = await _the_default(made, list_dispatch, delete_dispatch, remaining)
            if new_room:
                await _confirm(made, get_dispatch, remaining, sleep)
            return made
        # The create may have been done: the room says whether, and nothing is created again.
        try:
            found = existing(req, await list_dispatch(req.room, timeout=remaining()), passed_over)
        except TwirpError:
            raise unknown from None
        if found is None:
            unknown.outcome_unknown = False  # the room has none: the create was not done
            raise unknown
        return found
    finally:
        if task is not None and not task.done():
            task.add_done_callback(release_when_done(turn))
        else:
            turn.release()


async def _the_default(
    made: AgentDispatch, list_dispatch: ListCall, delete_dispatch: DeleteCall, remaining: Callable[[], float]
) -> AgentDispatch:
    """The room's dispatch of agent name "" after ``made`` (one of "") started the room.

    livekit-server adds its own dispatch of "" (no metadata, no deployment) to every room a
    create starts, just before the create's own: that one, the oldest, is the room's dispatch
    of "", which every later call returns, and ``made`` is deleted so that the room keeps one.
    When the room cannot be read or ``made`` cannot be deleted, ``made`` is what is known.
    """
    try:
        default = existing(
            CreateAgentDispatchRequest(agent_name="", room=made.room),
            await list_dispatch(made.room, timeout=remaining()),
        )
    except TwirpError as e:
        logger.info(
            "ensure_dispatch: room %r could not be read for its own dispatch of '' (%s)", made.room, e
        )
        return made
    if default is None or default.id == made.id:
        return made
    try:
        await delete_dispatch(made.id, made.room, timeout=remaining())
    except TwirpError as e:
        logger.warning(
            "ensure_dispatch: room %r has its own dispatch %s of agent name '', and %s, made beside it, "
            "could not be deleted (%s)",
            made.room,
            default.id,
            made.id,
            e,
        )
        return made
    return default


async def _confirm(
    made: AgentDispatch,
    get_dispatch: GetCall,
    remaining: Callable[[], float],
    sleep: Callable[[float], Awaitable[None]],
) -> None:
    """Raise unless the room still has ``made``, a dispatch that started the room.

    Creates that start one room at once through a cluster can each place it on another node:
    the room then runs twice, each copy answering for the room's name, and a read reaches
    whichever copy answers first. It is read :data:`CONFIRM_READS` times; one that finds no
    such dispatch shows a copy without it, and the call does not hand the id out.
    """
    await sleep(CONFIRM_AFTER)
    for _ in range(CONFIRM_READS):
        try:
            still = await get_dispatch(made.id, made.room, timeout=remaining())
        except TwirpError as e:
            raise TwirpError(
                TwirpErrorCode.UNAVAILABLE,
                f"ensure_dispatch: dispatch {made.id} was made, and whether room {made.room!r} kept it "
                f"cannot be told ({e})",
                outcome_unknown=True,
            ) from e
        if still is None:
            raise TwirpError(
                TwirpErrorCode.ABORTED,
                f"ensure_dispatch: dispatch {made.id} was made, but room {made.room!r} does not always "
                "have it: the room was started on two nodes at once (its agent may still come)",
                outcome_unknown=True,
            )
