"""Rooms with their dispatches and participants, kept in memory as livekit-server v1.13.5 keeps them.

The room store (Redis, in a cluster) holds every room a node started, with its agents; the
dispatches live on the node that runs the room. A room whose node is killed stays in the
store, and nothing answers for its dispatches until a node starts it again: a create once
the killed node no longer counts as alive, or its agents coming back after
``agent_return`` seconds. It then keeps its sid and its agents, but none of its dispatches:
it gets a new default dispatch only.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable

from .._generated.livekit import (
    AgentDispatch,
    AgentDispatchState,
    CreateAgentDispatchRequest,
    ParticipantInfo,
    Room,
    RoomConfiguration,
)
from ..errors import TwirpErrorCode
from ._join import JoinRequest, participant_of, startable
from ._limits import check_create, room_error
from ._nodes import NODE_LIVENESS, NodeTable
from ._rooms import RoomRecord
from ._workers import ID_ALPHABET as _WORKER_ID_ALPHABET
from ._workers import SimulatedWorker, WorkerPool, new_id, room_snapshot

__all__ = [
    "AGENT_RETURN",
    "DEFAULT_EMPTY_TIMEOUT",
    "ID_ALPHABET",
    "DispatchStore",
]

DEFAULT_EMPTY_TIMEOUT = 300.0  # livekit-server's room.empty_timeout, in seconds
AGENT_RETURN = 10.0  # seconds from a node's death until its rooms' agents are back (7 to 13 measured)
ID_PREFIX = "AD_"
ID_LENGTH = 12
# The shortuuid alphabet livekit-server draws ids from: no 0, 1, I, O or l.
ID_ALPHABET = _WORKER_ID_ALPHABET


class DispatchStore:
    """The rooms, each with its dispatches and its agents, on the nodes of ``nodes``.

    As in livekit-server v1.13.5, a create starts its room when no node runs it, and a room
    starts with a default dispatch (``agent_name ""``, kept for backward compatibility). A
    room nobody joined stops ``empty_timeout`` seconds after it started (``None``: never);
    one whose participants all left stops ``DEPARTURE_TIMEOUT`` seconds after the last left;
    its dispatches go with it. ``clock`` gives Unix nanoseconds. Without ``nodes``, one node
    that never dies runs every room.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], int],
        rng: random.Random,
        empty_timeout: float | None,
        workers: WorkerPool | None = None,
        nodes: NodeTable | None = None,
        agent_return: float = AGENT_RETURN,
    ) -> None:
        self._clock = clock
        self._rng = rng
        self._empty_timeout = None if empty_timeout is None else round(empty_timeout * 1e9)
        self._agent_return = round(agent_return * 1e9)
        self._rooms: dict[str, RoomRecord] = {}
        self._returning: set[str] = set()  # rooms whose agents come back (their node was killed)
        if nodes is None:
            nodes = NodeTable(clock=clock, rng=rng, liveness=NODE_LIVENESS)
            nodes.add()
        self.nodes = nodes
        # Simulated workers: a dispatch made while one of its agent name is registered gets a job.
        self.workers = workers if workers is not None else WorkerPool(clock=clock, rng=rng)
        self.workers.on_join = self._joined

    def _tick(self) -> None:
        """Bring the state up to now: answers of workers, agents back on another node."""
        self.workers.settle()
        now = self._clock()
        for name in sorted(self._returning):
            room = self._rooms[name]
            if room.returns_at is not None and room.returns_at <= now:
                self._agents_back(name, room, room.returns_at)

    def _serving(self, name: str) -> RoomRecord | None:
        """The room, when a node that runs answers for it."""
        node = self.nodes.node_of(name)
        if node is None or not self.nodes.alive(node):
            return None
        return self._rooms.get(name)

    def _live(self, name: str) -> RoomRecord | None:
        """The room, when a node that runs answers for it and it is not past its timeouts (it
        is closed here when it is)."""
        room = self._serving(name)
        if room is not None and room.past_timeout(self._clock(), self._empty_timeout):
            self._close(name)
            return None
        return room

    def _close(self, name: str) -> None:
        closed = self._rooms.pop(name, None)
        self._returning.discard(name)
        self.nodes.unplace(name)
        if closed is not None:
            self.workers.forget(set(closed.dispatches))

    def _open(self, name: str) -> bool:
        """Whether the store still holds the room (one past its timeouts is closed here)."""
        return self._live(name) is not None or name in self._rooms

    def running(self, room: str) -> bool:
        """Whether a node that runs answers for ``room`` now."""
        self._tick()
        return self._live(room) is not None

    def close_room(self, room: str) -> bool:
        """Stop ``room`` now, as its empty timeout would; whether it was running."""
        was_running = self.running(room)
        self._close(room)
        return was_running

    def kill_node(self, node_id: str) -> None:
        """The node dies: its rooms stay in the store, with their agents, and nothing answers
        for them; the agents come back (on another node) ``agent_return`` seconds later,
        no sooner than the node stops counting as alive."""
        self._tick()
        self.nodes.kill(node_id)
        back = self._clock() + max(self.nodes.liveness, self._agent_return)
        for name in self.nodes.rooms_on(node_id):
            room = self._rooms.get(name)
            if room is not None:
                self.workers.forget(set(room.dispatches))  # offers in flight die with the node
                if room.participants:
                    room.returns_at = back
                    self._returning.add(name)

    def kill_worker(self, worker: SimulatedWorker) -> bool:
        """A simulated worker dies: unregistered, its agents leave their rooms, and their jobs keep
        showing ``JS_RUNNING``, as livekit-server v1.13.5 shows them; whether it was registered."""
        self._tick()
        sent = self.workers.kill(worker)
        if sent is None:
            return False
        now = self._clock()
        for name, identity in sent:
            room = self._rooms.get(name)
            if room is not None:
                room.agent_leaves(identity, now)
                if room.returns_at is None:
                    self._returning.discard(name)
        return True

    def _agents_back(self, name: str, room: RoomRecord, at: int) -> None:
        if self._serving(name) is not None or self._start(name, at) is not None:
            room.agents_reconnect(at, self._rng)
            self._returning.discard(name)
        # else no node to go to: they try again on the next look

    def _start(
        self, name: str, at: int | None = None, config: RoomConfiguration | None = None
    ) -> RoomRecord | None:
        """Start ``name`` on a node, or None when the node it is on does not answer (killed, and
        still counted alive). A room the store still holds keeps its sid and its agents."""
        node = self.nodes.node_of(name)
        if node is None or not self.nodes.counted(node, at):
            node = self.nodes.place(name, at)
        if node is None or not self.nodes.alive(node):
            return None
        now = self._clock() if at is None else at
        room = self._rooms.get(name)
        if room is None:
            room = self._rooms[name] = RoomRecord.new(name, now, self._rng, self._empty_timeout)
        else:
            self.workers.forget(room.restart(now))
        chosen = startable(config)
        if chosen is None:
            self._add(room, AgentDispatch(room=name), now)
        for agent in [config.agents[i] for i in chosen or []] if config is not None else []:
            made = AgentDispatch(
                agent_name=agent.agent_name,
                room=name,
                metadata=agent.metadata,
                restart_policy=agent.restart_policy,
                deployment=agent.deployment,
                attributes=dict(agent.attributes),
            )
            self._add(room, made, now)
        return room

    def join(self, request: JoinRequest) -> list[AgentDispatch] | None:
        """A participant joins: a room no node runs is started with the token's configuration
        (its agents dispatched); a running one ignores it. The room's dispatches after the join,
        or None when the room's node does not answer (killed, still counted alive)."""
        self._tick()
        room = self._live(request.room) or self._start(request.room, config=request.config)
        if room is None:
            return None
        now = self._clock()
        room.participants[request.identity] = participant_of(request, new_id("PA_", self._rng), now)
        room.left_at = None
        return [copy.deepcopy(d) for d in room.dispatches.values()]

    def leave(self, room: str, identity: str) -> bool:
        """``identity`` leaves ``room`` (then the departure timeout runs if nobody is left)."""
        self._tick()
        found = self._rooms.get(room)
        if found is None or found.participants.pop(identity, None) is None:
            return False
        if not found.participants:
            found.left_at = self._clock()
        return True

    def _joined(self, dispatch: AgentDispatch, participant: ParticipantInfo) -> None:
        room = self._rooms.get(dispatch.room)
        if room is not None:
            room.join(dispatch, participant)

    def _new_id(self, taken: dict[str, AgentDispatch]) -> str:
        while True:
            new = new_id(ID_PREFIX, self._rng, ID_LENGTH, ID_ALPHABET)
            if new not in taken:
                return new

    def _add(self, room: RoomRecord, dispatch: AgentDispatch, at: int | None = None) -> AgentDispatch:
        dispatch.id = self._new_id(room.dispatches)
        dispatch.state = AgentDispatchState(created_at=self._clock() if at is None else at)
        room.dispatches[dispatch.id] = dispatch
        self.workers.launch(room.info, dispatch)
        return dispatch

    def create(self, req: CreateAgentDispatchRequest) -> AgentDispatch | None:
        """Store a new dispatch, starting its room first when no node runs it; checks come first.

        None when the room is on a node that was killed but still counts as alive: nothing is done.
        """
        check_create(req)
        self._tick()
        room = self._live(req.room) or self._start(req.room)
        if room is None:
            return None
        dispatch = AgentDispatch(
            agent_name=req.agent_name,
            room=req.room,
            metadata=req.metadata,
            restart_policy=req.restart_policy,
            deployment=req.deployment,
            attributes=dict(req.attributes),
        )
        return copy.deepcopy(self._add(room, dispatch))

    def find(self, room: str, dispatch_id: str = "") -> list[AgentDispatch]:
        """A running room's dispatches (in creation order; livekit-server's order is random), or
        only the one with ``dispatch_id``."""
        self._tick()
        dispatches = self._rooms[room].dispatches
        if dispatch_id:
            found = dispatches.get(dispatch_id)
            return [copy.deepcopy(found)] if found is not None else []
        return [copy.deepcopy(d) for d in dispatches.values()]

    def delete(self, room: str, dispatch_id: str) -> AgentDispatch:
        """Remove a dispatch of a running room and return it as it was (``deleted_at`` stays 0);
        the agents its jobs sent leave the room."""
        self._tick()
        found = self._rooms[room]
        dispatch = found.dispatches.pop(dispatch_id, None)
        if dispatch is None:
            raise room_error(TwirpErrorCode.NOT_FOUND, "dispatch ID not found")
        self.workers.forget({dispatch_id})
        found.agents_of_leave(dispatch, self._clock())
        return dispatch

    def list_rooms(self, names: list[str]) -> list[Room]:
        """RoomService's ListRooms: the rooms of the store named in ``names`` (all when empty),
        whether a node answers for them or not."""
        self._tick()
        wanted = set(names)
        found = [name for name in self._rooms if not wanted or name in wanted]
        return [room_snapshot(self._rooms[name].info) for name in found if self._open(name)]

    def participants(self, room: str) -> list[ParticipantInfo]:
        """RoomService's ListParticipants: the room's participants in the store (none when unknown)."""
        self._tick()
        found = self._rooms.get(room)
        return [copy.deepcopy(p) for p in found.participants.values()] if found is not None else []

    def rooms(self) -> dict[str, list[AgentDispatch]]:
        """Every room a node answers for, with copies of its dispatches."""
        self._tick()
        live = [(name, self._live(name)) for name in list(self._rooms)]
        return {name: [copy.deepcopy(d) for d in room.dispatches.values()] for name, room in live if room}
