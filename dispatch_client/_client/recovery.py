"""What a failed create or delete did: the checks a call makes before it is sent again.

livekit-server keeps nothing of a request id, so a create that may have been done is looked
for among the room's dispatches by its contents, and a delete by its dispatch's presence.
Each check is a read, with the call's request id and what is left of its deadline.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from .._generated.livekit import AgentDispatch, CreateAgentDispatchRequest
from .._transport.call import Find
from ..errors import TwirpError, TwirpErrorCode
from .room_state import RoomReads, Store

__all__ = ["made", "made_for", "still_there"]

ListCall = Callable[..., Awaitable[list[AgentDispatch]]]
GetCall = Callable[..., Awaitable[AgentDispatch | None]]


def _remaining(deadline: float) -> float:
    remaining = deadline - asyncio.get_running_loop().time()
    if remaining <= 0:
        raise TwirpError(TwirpErrorCode.DEADLINE_EXCEEDED, "no time left to check the room")
    return remaining


def made(req: CreateAgentDispatchRequest, list_dispatch: ListCall, rooms: RoomReads) -> Find[AgentDispatch]:
    """The check of a create: the dispatch it made, or None when the room has none like it.

    A room that is not running had no create done in it only if the room store does not
    have it either: in a cluster, the node that did the create may be the one that went down.
    """

    async def check(deadline: float, request_id: str) -> AgentDispatch | None:
        try:
            dispatches = await list_dispatch(req.room, timeout=_remaining(deadline), request_id=request_id)
        except TwirpError as e:
            if not e.room_not_running:
                raise
            record = await rooms.room(req.room, _remaining(deadline))
            if record is Store.ABSENT:
                return None  # a create that was done would have put the room in the store
            why = "cannot be read" if record is Store.UNREADABLE else "has it: its node may have gone down"
            raise TwirpError(
                TwirpErrorCode.UNAVAILABLE, f"the room is not running and the room store {why}"
            ) from e
        except ValueError as e:  # a pre-signed token that expired since the create was sent
            raise TwirpError(TwirpErrorCode.UNAUTHENTICATED, f"cannot check the room: {e}") from None
        return made_for(req, dispatches)

    return check


def still_there(dispatch_id: str, room: str, get_dispatch: GetCall) -> Find[AgentDispatch]:
    """The check of a delete: None (not done, send it again) while the dispatch is there.

    Once it is gone, the failed attempt may have removed it, but its answer (the dispatch as
    it was) is lost: that is raised, and the call's failure comes out with outcome_unknown.
    """

    async def check(deadline: float, request_id: str) -> AgentDispatch | None:
        try:
            still = await get_dispatch(dispatch_id, room, timeout=_remaining(deadline), request_id=request_id)
        except ValueError as e:  # a pre-signed token that expired since the delete was sent
            raise TwirpError(TwirpErrorCode.UNAUTHENTICATED, f"cannot check the room: {e}") from None
        if still is not None:
            return None
        raise TwirpError(TwirpErrorCode.NOT_FOUND, "the dispatch is gone")

    return check


def made_for(req: CreateAgentDispatchRequest, dispatches: list[AgentDispatch]) -> AgentDispatch | None:
    """The newest of ``dispatches`` that ``req`` could have made: every field it sets is equal.

    Of two alike, the newer is the one a create that just failed would have made.
    """
    alike = [
        d
        for d in dispatches
        if d.room == req.room
        and d.agent_name == req.agent_name
        and d.metadata == req.metadata
        and d.deployment == req.deployment
        and d.restart_policy == req.restart_policy
        and d.attributes == req.attributes
    ]
    return max(alike, key=lambda d: d.state.created_at if d.state else 0, default=None)
