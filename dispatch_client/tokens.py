"""Join tokens: the token a participant connects to a room with, and the agents it sends for.

    from dispatch_client import RoomAgentDispatch
    from dispatch_client.tokens import participant_token

    token = participant_token(key, secret, identity="alice", room="call-42",
                              agents=[RoomAgentDispatch(agent_name="support")])

The token is an HS256 JWT: ``iss`` the API key, ``sub`` the identity, ``nbf``/``exp`` its life,
the ``video`` grant to join the room (publish, subscribe and send data), and, with agents, a
``roomConfig`` claim whose ``agents`` livekit-server dispatches **when the participant's join
starts the room**. A room that is already running ignores them (livekit-server v1.13.5 to
v1.13.11): :meth:`dispatch_client.AgentDispatchService.join_token` makes sure of the agents
through the API in that case. docs/tokens.md tells the rules.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Required, TypedDict

import jwt
import orjson

from ._checks import deployment_problem, require_credential, require_seconds, require_text
from ._generated.livekit import JobRestartPolicy, RoomAgentDispatch
from .codec import encode
from .codec.plan import json_name

__all__ = ["DEFAULT_JOIN_TTL", "MIN_JOIN_TTL", "JoinOptions", "participant_token", "room_config_claim"]

DEFAULT_JOIN_TTL = 3600.0
"""Seconds a join token is valid for by default: it is needed only to connect (and reconnect)."""
MIN_JOIN_TTL = 10.0
"""The shortest life a join token may be given, in seconds."""


class JoinOptions(TypedDict, total=False):
    """The keyword arguments of :func:`participant_token` after the key and secret, but ``clock``."""

    identity: Required[str]
    """The participant's identity."""
    room: Required[str]
    """The room it joins."""
    agents: Sequence[RoomAgentDispatch]
    """The agents a join that starts the room dispatches."""
    name: str | None
    """The participant's display name."""
    metadata: str | None
    """The participant's metadata."""
    attributes: Mapping[str, str] | None
    """The participant's attributes."""
    ttl: float
    """Seconds of life."""


def _check_agent(index: int, agent: object) -> RoomAgentDispatch:
    where = f"agents[{index}]"
    if not isinstance(agent, RoomAgentDispatch):
        raise ValueError(f"{where} must be a RoomAgentDispatch, got {type(agent).__name__}")
    for attr in ("agent_name", "metadata", "deployment", "thread_id"):
        if not isinstance(getattr(agent, attr), str):
            raise ValueError(f"{where}.{attr} must be a string, got {getattr(agent, attr)!r}")
    if not isinstance(agent.restart_policy, JobRestartPolicy):
        raise ValueError(f"{where}.restart_policy must be a JobRestartPolicy, got {agent.restart_policy!r}")
    _check_attributes(f"{where}.attributes", agent.attributes)
    problem = deployment_problem(agent.deployment)
    if problem is not None:
        # livekit-server skips such an agent without a word when the room starts.
        raise ValueError(f"{where}.deployment {problem}")
    return agent


def _check_attributes(name: str, attributes: object) -> dict[str, str]:
    if not isinstance(attributes, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in attributes.items()
    ):
        raise ValueError(f"{name} must map strings to strings, got {attributes!r}")
    return dict(attributes)


def _check_agents(agents: object) -> list[RoomAgentDispatch]:
    if isinstance(agents, (str, bytes, RoomAgentDispatch)) or not isinstance(agents, Sequence):
        raise ValueError(f"agents must be a sequence of RoomAgentDispatch, got {type(agents).__name__}")
    return [_check_agent(i, a) for i, a in enumerate(agents)]


def room_config_claim(agents: Sequence[RoomAgentDispatch]) -> dict[str, object]:
    """The ``roomConfig`` claim for ``agents``: a ``RoomConfiguration`` in proto3 JSON, as Go's
    protojson writes it (lowerCamelCase keys, fields at their default left out), which is the form
    livekit-server's token parser reads (it reads snake_case keys too, and ignores unknown ones)."""
    written = []
    for agent in _check_agents(agents):
        fields = orjson.loads(encode(agent))
        written.append({json_name(key): value for key, value in fields.items()})
    return {"agents": written}


def participant_token(
    api_key: str,
    api_secret: str,
    *,
    identity: str,
    room: str,
    agents: Sequence[RoomAgentDispatch] = (),
    name: str | None = None,
    metadata: str | None = None,
    attributes: Mapping[str, str] | None = None,
    ttl: float = DEFAULT_JOIN_TTL,
    clock: Callable[[], float] = time.time,
) -> str:
    """A token for ``identity`` to join ``room``, sending for ``agents`` if the join starts the room.

    The participant may publish, subscribe and send data; ``name``, ``metadata`` and
    ``attributes`` are its own (not the agents'). ``ttl``: whole seconds of life from the second
    it is signed in (``clock``, Unix seconds), at least :data:`MIN_JOIN_TTL`. A room that is
    already running ignores ``agents``: use :meth:`dispatch_client.AgentDispatchService.join_token`
    to have them dispatched then too. Bad arguments raise ValueError (an agent whose deployment
    livekit-server would skip, too).
    """
    key = require_credential("api_key", api_key, "LIVEKIT_API_KEY")
    secret = require_credential("api_secret", api_secret, "LIVEKIT_API_SECRET")
    require_text("identity", identity)
    require_text("room", room)
    checked = _check_agents(agents)
    seconds = require_seconds("ttl", ttl)
    if seconds < MIN_JOIN_TTL:
        raise ValueError(f"ttl must be at least {MIN_JOIN_TTL:g} seconds, got {ttl!r}")
    now = int(clock())
    claims: dict[str, object] = {
        "iss": key,
        "sub": identity,
        "nbf": now,
        "exp": now + int(seconds),
        "video": {
            "roomJoin": True,
            "room": room,
            "canPublish": True,
            "canSubscribe": True,
            "canPublishData": True,
        },
    }
    for claim, value in (("name", name), ("metadata", metadata)):
        if value is not None:
            if not isinstance(value, str):
                raise ValueError(f"{claim} must be a string or None, got {value!r}")
            if value:
                claims[claim] = value
    if attributes is not None:
        given = _check_attributes("attributes", attributes)
        if given:
            claims["attributes"] = given
    if checked:
        claims["roomConfig"] = room_config_claim(checked)
    return jwt.encode(claims, secret, algorithm="HS256")
