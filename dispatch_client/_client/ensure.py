"""One dispatch of an agent in a room, however many times it is asked for.

``ensure_dispatch`` lists the room and returns the dispatch of the request's agent name and
deployment when there is one, and creates it otherwise. Calls of one service for the same
room, agent and deployment take turns, so concurrent calls in one process make one dispatch;
a create whose outcome is unknown is settled by listing again, never by creating again.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from .._generated.livekit import AgentDispatch, CreateAgentDispatchRequest, ParticipantInfo, Room
from ..errors import TwirpError, TwirpErrorCode
from ..fleet._coordinator import Coordinator, Lease
from .room_state import RoomReads, Store

__all__ = ["CONFIRM_AFTER", "CONFIRM_READS", "Turns", "ensure_dispatch", "existing"]

# Seconds after a create that started its room before it is read back: concurrent creates
# that started the same room elsewhere have placed it by then.
CONFIRM_AFTER = 0.1
CONFIRM_READS = 3

ListCall = Callable[..., Awaitable[list[AgentDispatch]]]
GetCall = Callable[..., Awaitable[AgentDispatch | None]]
CreateCall = Callable[..., Coroutine[Any, Any, AgentDispatch]]
Key = tuple[str, str, str]


class Turn:
    """A key's turn, taken; :meth:`release` (once) hands it to the next caller.

    With a coordinator, the turn also holds the key's lease across processes, handed on first.
    """

    def __init__(self, turns: Turns, key: Key, lock: asyncio.Lock) -> None:
        self._turns, self._key, self._lock, self._held = turns, key, lock, True
        self.lease: Lease | None = None

    def release(self) -> None:
        if self._held:
            self._held = False
            if self.lease is not None:
                self._turns.hand_on(self.lease)
            self._lock.release()
            self._turns.leave(self._key)


class Turns:
    """One asyncio lock per key while anyone holds or waits for it (no lock outlives its users)."""

    def __init__(self) -> None:
        self._locks: dict[Key, tuple[asyncio.Lock, int]] = {}
        self._releases: set[asyncio.Task[None]] = set()

    def hand_on(self, lease: Lease) -> None:
        """Release ``lease`` in the background (its release never raises)."""
        task = asyncio.get_running_loop().create_task(lease.release())
        self._releases.add(task)
        task.add_done_callback(self._releases.discard)

    async def take(self, key: Key) -> Turn:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            await lock.acquire()
        except BaseException:
            self.leave(key)
            raise
        return Turn(self, key, lock)

    def leave(self, key: Key) -> None:
        lock, users = self._locks[key]
        if users == 1:
            del self._locks[key]
        else:
            self._locks[key] = (lock, users - 1)


def _release_when_done(turn: Turn) -> Callable[[asyncio.Task[AgentDispatch]], None]:
    def done(task: asyncio.Task[AgentDispatch]) -> None:
        if not task.cancelled():
            task.exception()  # looked at: its caller is gone, and the outcome is in the room
        turn.release()

    return done


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
                looked = True  # the create starts the room, on another node if its own is down
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
            task.add_done_callback(_release_when_done(turn))
        else:
            turn.release()


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
