"""Dispatches per room, kept in memory, with livekit-server's checks and default limits."""

from __future__ import annotations

import copy
import hashlib
import random
import string
from collections.abc import Callable

from .._generated.livekit import (
    AgentDispatch,
    AgentDispatchState,
    CreateAgentDispatchRequest,
)
from ..errors import TwirpError, TwirpErrorCode

__all__ = [
    "MAX_ATTRIBUTES_BYTES",
    "MAX_DEPLOYMENT_BYTES",
    "MAX_METADATA_BYTES",
    "DispatchStore",
]

MAX_METADATA_BYTES = 512 * 1024
MAX_ATTRIBUTES_BYTES = 64 * 1024
MAX_DEPLOYMENT_BYTES = 64
ID_PREFIX = "AD_"
ID_LENGTH = 12
BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase


def _invalid(message: str) -> TwirpError:
    return TwirpError(TwirpErrorCode.INVALID_ARGUMENT, message)


def _check_deployment(deployment: str) -> None:
    if len(deployment.encode()) > MAX_DEPLOYMENT_BYTES:
        raise _invalid(f"deployment name longer than {MAX_DEPLOYMENT_BYTES} bytes")
    for ch in deployment:
        if ch == "_" or ch.isspace() or ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F:
            raise _invalid(f"deployment name must not contain {ch!r}")


def _check_create(req: CreateAgentDispatchRequest) -> None:
    if not req.room:
        raise _invalid("room is required")
    _check_deployment(req.deployment)
    if len(req.metadata.encode()) > MAX_METADATA_BYTES:
        raise _invalid("metadata size exceeds limits")
    attributes_size = sum(len(k.encode()) + len(v.encode()) for k, v in req.attributes.items())
    if attributes_size > MAX_ATTRIBUTES_BYTES:
        raise _invalid("attribute size exceeds limits")


def deterministic_id(room: str, request_id: str) -> str:
    """The dispatch id for a create that carries ``request_id``: the same for every retry."""
    digest = int.from_bytes(hashlib.sha256(f"{room}\0{request_id}".encode()).digest(), "big")
    chars = []
    for _ in range(ID_LENGTH):
        digest, rest = divmod(digest, len(BASE62))
        chars.append(BASE62[rest])
    return ID_PREFIX + "".join(chars)


class DispatchStore:
    """The dispatches of every room that has had one.

    A room comes into being with its first dispatch and stays (empty) after its last
    one is deleted. ``clock`` gives Unix nanoseconds; ``rng`` draws the ids of creates
    that carry no request id. Everything handed out is a copy.
    """

    def __init__(self, *, clock: Callable[[], int], rng: random.Random) -> None:
        self._clock = clock
        self._rng = rng
        self._rooms: dict[str, dict[str, AgentDispatch]] = {}

    def _room(self, room: str) -> dict[str, AgentDispatch]:
        found = self._rooms.get(room)
        if found is None:
            raise TwirpError(TwirpErrorCode.NOT_FOUND, "requested room does not exist")
        return found

    def _new_id(self) -> str:
        return ID_PREFIX + "".join(self._rng.choice(BASE62) for _ in range(ID_LENGTH))

    def create(self, req: CreateAgentDispatchRequest, request_id: str | None = None) -> AgentDispatch:
        """Store a new dispatch, or return the one this ``request_id`` already made in the room."""
        _check_create(req)
        dispatches = self._rooms.setdefault(req.room, {})
        if request_id:
            dispatch_id = deterministic_id(req.room, request_id)
            existing = dispatches.get(dispatch_id)
            if existing is not None:
                return copy.deepcopy(existing)
        else:
            dispatch_id = self._new_id()
            while dispatch_id in dispatches:
                dispatch_id = self._new_id()
        dispatch = AgentDispatch(
            id=dispatch_id,
            agent_name=req.agent_name,
            room=req.room,
            metadata=req.metadata,
            state=AgentDispatchState(created_at=self._clock()),
            restart_policy=req.restart_policy,
            deployment=req.deployment,
            attributes=dict(req.attributes),
        )
        dispatches[dispatch_id] = dispatch
        return copy.deepcopy(dispatch)

    def find(self, room: str, dispatch_id: str = "") -> list[AgentDispatch]:
        """The room's dispatches in creation order, or only the one with ``dispatch_id``."""
        dispatches = self._room(room)
        if dispatch_id:
            found = dispatches.get(dispatch_id)
            return [copy.deepcopy(found)] if found is not None else []
        return [copy.deepcopy(d) for d in dispatches.values()]

    def delete(self, room: str, dispatch_id: str) -> AgentDispatch:
        """Remove a dispatch and return it, ``state.deleted_at`` set."""
        dispatch = self._room(room).pop(dispatch_id, None)
        if dispatch is None:
            raise TwirpError(TwirpErrorCode.NOT_FOUND, "dispatch ID not found")
        if dispatch.state is None:
            dispatch.state = AgentDispatchState()
        dispatch.state.deleted_at = self._clock()
        return dispatch

    def rooms(self) -> dict[str, list[AgentDispatch]]:
        """Every room that exists, with copies of its dispatches."""
        return {room: [copy.deepcopy(d) for d in ds.values()] for room, ds in self._rooms.items()}
