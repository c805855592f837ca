"""The Twirp methods the stand-in serves, checked and answered as livekit-server v1.13.5 does.

``AgentDispatchService``: a token with ``roomAdmin`` for the request's room, then the room's
node answers (or, when no node runs the room, nothing answers: ``unavailable`` after the
not-running wait). ``RoomService``'s two reads of the room store: ``ListRooms`` wants the
``roomList`` grant, ``ListParticipants`` ``roomAdmin`` for the room; both answer at once,
and neither heeds an ``X-Twirp-Timeout-Ms`` that has already run out. A missing grant is
``unauthenticated`` "permissions denied", never ``permission_denied``.
"""

from __future__ import annotations

import asyncio
from typing import NoReturn

import betterproto2
from aiohttp import web

from .._generated.livekit import (
    AgentDispatch,
    CreateAgentDispatchRequest,
    DeleteAgentDispatchRequest,
    ListAgentDispatchRequest,
    ListAgentDispatchResponse,
    ListParticipantsRequest,
    ListParticipantsResponse,
    ListRoomsRequest,
    ListRoomsResponse,
)
from ..errors import TwirpError, TwirpErrorCode
from . import _twirp
from ._limits import check_create, room_error
from ._state import DispatchStore
from ._tokens import Grant

__all__ = ["TIMEOUT_HEADER", "TwirpMethods"]

TIMEOUT_HEADER = "X-Twirp-Timeout-Ms"
_DISPATCH_REQUESTS = (CreateAgentDispatchRequest, DeleteAgentDispatchRequest, ListAgentDispatchRequest)
_REQUEST_TYPES: dict[str, type[betterproto2.Message]] = {
    "CreateDispatch": CreateAgentDispatchRequest,
    "DeleteDispatch": DeleteAgentDispatchRequest,
    "ListDispatch": ListAgentDispatchRequest,
    "ListRooms": ListRoomsRequest,
    "ListParticipants": ListParticipantsRequest,
}


def _denied() -> TwirpError:
    return TwirpError(TwirpErrorCode.UNAUTHENTICATED, "permissions denied")


class TwirpMethods:
    """Answers the Twirp requests of one server from ``store``."""

    def __init__(self, store: DispatchStore, *, not_running_wait: float, max_body: int | None) -> None:
        self._store = store
        self._not_running_wait = not_running_wait
        self._max_body = max_body

    async def answer(self, request: web.Request, path: str, grant: Grant | None) -> web.Response:
        """The answer to a request on a Twirp path (TwirpError for a Twirp error)."""
        method = _twirp.method_of(request.method, path)
        encoding = _twirp.encoding_of(request.headers.get("Content-Type", ""), request.method, path)
        body = await _twirp.read_body(request, self._max_body)
        req = _twirp.decode_request(_REQUEST_TYPES[method], body, encoding)
        result: betterproto2.Message
        if isinstance(req, ListRoomsRequest):
            if grant is None or not grant.room_list:
                raise _denied()
            result = ListRoomsResponse(rooms=self._store.list_rooms(req.names))
        elif isinstance(req, ListParticipantsRequest):
            if grant is None or not grant.admin_of(req.room):
                raise _denied()
            result = ListParticipantsResponse(participants=self._store.participants(req.room))
        elif isinstance(req, _DISPATCH_REQUESTS):
            result = await self._dispatch(req, grant, _twirp.timeout_of(request.headers.get(TIMEOUT_HEADER)))
        else:
            raise TypeError(f"unexpected request {type(req).__name__}")
        return _twirp.response(result, encoding)

    async def _dispatch(
        self,
        req: CreateAgentDispatchRequest | DeleteAgentDispatchRequest | ListAgentDispatchRequest,
        grant: Grant | None,
        deadline: float | None,
    ) -> AgentDispatch | ListAgentDispatchResponse:
        if grant is None or not grant.admin_of(req.room):
            raise _denied()
        if isinstance(req, CreateAgentDispatchRequest):
            check_create(req)
        if deadline is not None and deadline <= 0:
            raise room_error(TwirpErrorCode.CANCELED, "request canceled")
        if isinstance(req, CreateAgentDispatchRequest):
            created = self._store.create(req)
            if created is None:  # the room's node was killed and still counts as alive
                await self._no_answer(deadline)
            return created
        if not self._store.running(req.room):
            await self._no_answer(deadline)
        if isinstance(req, DeleteAgentDispatchRequest):
            return self._store.delete(req.room, req.dispatch_id)
        return ListAgentDispatchResponse(agent_dispatches=self._store.find(req.room, req.dispatch_id))

    async def _no_answer(self, deadline: float | None) -> NoReturn:
        """Nothing answers for the room: livekit-server's RPC waits, then gives up."""
        if deadline is not None and deadline < self._not_running_wait:
            await asyncio.sleep(deadline)
            raise room_error(TwirpErrorCode.CANCELED, "request canceled")
        await asyncio.sleep(self._not_running_wait)
        raise room_error(TwirpErrorCode.UNAVAILABLE, "no response from servers")
