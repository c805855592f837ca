"""LiveKit's ``lk.*`` attributes of a request or an answer: the agent name, the dispatch's id."""

from __future__ import annotations

import betterproto2

from .._generated.livekit import (
    AgentDispatch,
    CreateAgentDispatchRequest,
    DeleteAgentDispatchRequest,
    ListAgentDispatchRequest,
)
from . import _names as n

__all__ = ["about"]


def about(message: betterproto2.Message) -> dict[str, str]:
    """The ``lk.*`` attributes ``message`` names (none for the other messages)."""
    if isinstance(message, CreateAgentDispatchRequest):
        return {n.AGENT_NAME: message.agent_name}
    if isinstance(message, AgentDispatch):
        return {n.DISPATCH_ID: message.id, n.AGENT_NAME: message.agent_name}
    if isinstance(message, (DeleteAgentDispatchRequest, ListAgentDispatchRequest)) and message.dispatch_id:
        return {n.DISPATCH_ID: message.dispatch_id}
    return {}
