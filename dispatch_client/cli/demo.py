"""The demo flow: every call of the API once, each step printed as it happens."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import betterproto2
import orjson

from .._generated.livekit import (
    AgentDispatch,
    CreateAgentDispatchRequest,
    JobRestartPolicy,
    ListAgentDispatchResponse,
)
from ..errors import TwirpError, TwirpErrorCode
from ..service import AgentDispatchService
from . import output as out

__all__ = ["DEMO_ROOM", "run_demo"]

DEMO_ROOM = "demo-room"


def _json(msg: betterproto2.Message) -> Any:
    return orjson.loads(out.json_text(msg))


def _with_others(text: str, listed: list[AgentDispatch], created: list[str]) -> str:
    """``text`` and a line on each listed dispatch this demo did not create (and will not delete).

    livekit-server gives every room it creates a dispatch of its own, with no agent name; a
    room may also hold dispatches from before the demo.
    """
    lines = [text]
    for d in listed:
        if d.id in created:
            continue
        if not d.agent_name:
            lines.append(f"({d.id}, with no agent name, is the server's default dispatch for a new room)")
        else:
            lines.append(f"({d.id}, agent {d.agent_name!r}, was already in the room)")
    return "\n".join(lines)


async def run_demo(service: AgentDispatchService, room: str, echo: Callable[[str], None]) -> list[Any]:
    """Create two dispatches in ``room``, list, get one, delete the other, list again, clean up.

    Each step's title and result go to ``echo``; the steps are also returned as JSON
    values (``{"step": ..., "result": ...}``) for ``--json``.
    """
    steps: list[Any] = []
    created: list[str] = []  # ids still to delete if a step fails
    try:
        return await _steps(service, room, echo, steps, created)
    except Exception:
        for dispatch_id in created:  # leave the server as it was found, as far as it lets us
            with contextlib.suppress(TwirpError):
                await service.delete_dispatch(dispatch_id, room)
        raise


async def _steps(
    service: AgentDispatchService,
    room: str,
    echo: Callable[[str], None],
    steps: list[Any],
    created: list[str],
) -> list[Any]:

    def show(title: str, step: str, text: str, msg: betterproto2.Message) -> None:
        echo(f"\n==> {len(steps) + 1}. {title}")
        echo(text)
        steps.append({"step": step, "result": _json(msg)})

    greeter = await service.create_dispatch(
        CreateAgentDispatchRequest(agent_name="greeter", room=room, metadata='{"language": "en"}')
    )
    created.append(greeter.id)
    show(f"Create a dispatch of agent 'greeter' in room {room!r}", "create", out.details(greeter), greeter)
    support = await service.create_dispatch(
        CreateAgentDispatchRequest(
            agent_name="support",
            room=room,
            attributes={"tier": "gold"},
            restart_policy=JobRestartPolicy.JRP_NEVER,
        )
    )
    created.append(support.id)
    show(f"Create a dispatch of agent 'support' in room {room!r}", "create", out.details(support), support)

    listed = await service.list_dispatch(room)
    show(
        f"List the dispatches of room {room!r}",
        "list",
        _with_others(out.table(listed), listed, created),
        ListAgentDispatchResponse(listed),
    )

    found = await service.get_dispatch(greeter.id, room)
    if found is None:
        raise TwirpError(TwirpErrorCode.NOT_FOUND, f"dispatch {greeter.id} vanished from room {room!r}")
    show(f"Get dispatch {greeter.id}", "get", out.details(found), found)

    deleted = await service.delete_dispatch(support.id, room)
    created.remove(support.id)
    show(f"Delete dispatch {support.id} (agent 'support')", "delete", out.details(deleted), deleted)

    listed = await service.list_dispatch(room)
    show(
        f"List the dispatches of room {room!r} again",
        "list",
        _with_others(out.table(listed), listed, created),
        ListAgentDispatchResponse(listed),
    )

    cleaned = await service.delete_dispatch(greeter.id, room)
    created.remove(greeter.id)
    show(f"Clean up: delete dispatch {greeter.id}", "delete", f"deleted {cleaned.id}", cleaned)
    return steps
