"""Rooms and their dispatches, kept in memory, with livekit-server v1.13.5's checks and limits."""

from __future__ import annotations

import copy
import dataclasses
import random
from collections.abc import Callable

from .._generated.livekit import (
    AgentDispatch,
    AgentDispatchState,
    CreateAgentDispatchRequest,
)
from ..errors import TwirpError, TwirpErrorCode
from ._workers import ID_ALPHABET as _WORKER_ID_ALPHABET
from ._workers import TURN_PASSWORD_ALPHABET, TURN_PASSWORD_LENGTH, RoomInfo, WorkerPool, new_id

__all__ = [
    "DEFAULT_EMPTY_TIMEOUT",
    "ID_ALPHABET",
    "MAX_ATTRIBUTES_BYTES",
    "MAX_DEPLOYMENT_BYTES",
    "MAX_METADATA_BYTES",
    "DispatchStore",
    "check_create",
    "room_error",
]

MAX_METADATA_BYTES = 512 * 1024
MAX_ATTRIBUTES_BYTES = 64 * 1024
MAX_DEPLOYMENT_BYTES = 64
DEFAULT_EMPTY_TIMEOUT = 300.0  # livekit-server's room.empty_timeout, in seconds
ID_PREFIX = "AD_"
ID_LENGTH = 12
# The shortuuid alphabet livekit-server draws ids from: no 0, 1, I, O or l.
ID_ALPHABET = _WORKER_ID_ALPHABET
# livekit-server turns every error of the room's handler (and of its own checks that are not
# Twirp errors) into a Twirp error whose message starts with the text of an "unknown" one.
ROOM_ERROR_PREFIX = "twirp error unknown: "


def room_error(code: TwirpErrorCode, message: str) -> TwirpError:
    """An error as livekit-server writes one that came from past its Twirp layer."""
    return TwirpError(code, ROOM_ERROR_PREFIX + message)


def _check_deployment(deployment: str) -> None:
    data = deployment.encode()
    if len(data) > MAX_DEPLOYMENT_BYTES:
        raise room_error(TwirpErrorCode.INVALID_ARGUMENT, f"deployment exceeds {MAX_DEPLOYMENT_BYTES} bytes")
    for position, byte in enumerate(data):  # bytes, not characters: UTF-8 beyond ASCII is allowed
        if byte == ord("_"):
            raise room_error(TwirpErrorCode.INVALID_ARGUMENT, "deployment contains reserved character '_'")
        if byte <= 0x20 or byte == 0x7F:
            raise room_error(
                TwirpErrorCode.INVALID_ARGUMENT,
                f"deployment contains whitespace or control byte at position {position}",
            )


def check_create(req: CreateAgentDispatchRequest) -> None:
    """livekit-server's checks of a create, in its order; neither ``room`` nor ``agent_name`` is checked."""
    _check_deployment(req.deployment)
    if len(req.metadata.encode()) > MAX_METADATA_BYTES:
        raise room_error(TwirpErrorCode.INVALID_ARGUMENT, "metadata size exceeds limits")
    attributes_size = sum(len(k.encode()) + len(v.encode()) for k, v in req.attributes.items())
    if attributes_size > MAX_ATTRIBUTES_BYTES:
        raise room_error(TwirpErrorCode.INVALID_ARGUMENT, "attribute size exceeds limits")


@dataclasses.dataclass
class _Room:
    info: RoomInfo
    dispatches: dict[str, AgentDispatch]

    @property
    def created_at(self) -> int:  # Unix nanoseconds
        return self.info.created_at


class DispatchStore:
    """The rooms that are running, each with its dispatches.

    As in livekit-server v1.13.5, a create starts its room when the room is not running,
    and a room starts with a default dispatch (``agent_name ""``, kept for backward
    compatibility). A room stops running ``empty_timeout`` seconds after it started (no
    participant ever joins here), or when :meth:`close_room` says so; its dispatches go
    with it. ``None`` means rooms run until closed. ``clock`` gives Unix nanoseconds.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], int],
        rng: random.Random,
        empty_timeout: float | None,
        workers: WorkerPool | None = None,
    ) -> None:
        self._clock = clock
        self._rng = rng
        self._empty_timeout = empty_timeout
        self._rooms: dict[str, _Room] = {}
        # Simulated workers: a dispatch made while one of its agent name is registered gets a job.
        self.workers = workers if workers is not None else WorkerPool(clock=clock, rng=rng)

    def running(self, room: str) -> bool:
        """Whether ``room`` is running now (a room past its empty timeout is closed here)."""
        found = self._rooms.get(room)
        if found is None:
            return False
        if self._empty_timeout is not None and self._clock() - found.created_at >= self._empty_timeout * 1e9:
            del self._rooms[room]
            self.workers.forget(set(found.dispatches))
            return False
        return True

    def close_room(self, room: str) -> bool:
        """Stop ``room`` now, as its empty timeout would; whether it was running."""
        was_running = self.running(room)
        closed = self._rooms.pop(room, None)
        if closed is not None:
            self.workers.forget(set(closed.dispatches))
        return was_running

    def _new_id(self, taken: dict[str, AgentDispatch]) -> str:
        while True:
            new = ID_PREFIX + "".join(self._rng.choice(ID_ALPHABET) for _ in range(ID_LENGTH))
            if new not in taken:
                return new

    def _add(self, room: _Room, dispatch: AgentDispatch) -> AgentDispatch:
        dispatch.id = self._new_id(room.dispatches)
        dispatch.state = AgentDispatchState(created_at=self._clock())
        room.dispatches[dispatch.id] = dispatch
        self.workers.launch(room.info, dispatch)
        return dispatch

    def create(self, req: CreateAgentDispatchRequest) -> AgentDispatch:
        """Store a new dispatch (starting its room first when it is not running); checks come first."""
        check_create(req)
        if not self.running(req.room):
            info = RoomInfo(
                name=req.room,
                sid=new_id("RM_", self._rng),
                created_at=self._clock(),
                empty_timeout=self._empty_timeout,
                turn_password=new_id("", self._rng, TURN_PASSWORD_LENGTH, TURN_PASSWORD_ALPHABET),
            )
            started = _Room(info=info, dispatches={})
            self._rooms[req.room] = started
            self._add(started, AgentDispatch(room=req.room))
        dispatch = AgentDispatch(
            agent_name=req.agent_name,
            room=req.room,
            metadata=req.metadata,
            restart_policy=req.restart_policy,
            deployment=req.deployment,
            attributes=dict(req.attributes),
        )
        return copy.deepcopy(self._add(self._rooms[req.room], dispatch))

    def find(self, room: str, dispatch_id: str = "") -> list[AgentDispatch]:
        """A running room's dispatches (in creation order; livekit-server's order is random), or
        only the one with ``dispatch_id``."""
        self.workers.settle()
        dispatches = self._rooms[room].dispatches
        if dispatch_id:
            found = dispatches.get(dispatch_id)
            return [copy.deepcopy(found)] if found is not None else []
        return [copy.deepcopy(d) for d in dispatches.values()]

    def delete(self, room: str, dispatch_id: str) -> AgentDispatch:
        """Remove a dispatch of a running room and return it as it was (``deleted_at`` stays 0)."""
        self.workers.settle()
        dispatch = self._rooms[room].dispatches.pop(dispatch_id, None)
        if dispatch is None:
            raise room_error(TwirpErrorCode.NOT_FOUND, "dispatch ID not found")
        # Its running jobs are ended on the worker's side; the answer shows them as they were.
        self.workers.forget({dispatch_id})
        return dispatch

    def rooms(self) -> dict[str, list[AgentDispatch]]:
        """Every running room, with copies of its dispatches."""
        self.workers.settle()
        return {
            name: [copy.deepcopy(d) for d in room.dispatches.values()]
            for name, room in list(self._rooms.items())
            if self.running(name)
        }
