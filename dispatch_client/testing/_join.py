"""A participant's join, simulated: what livekit-server v1.13.5 reads of a join token and does with it.

The token must be one the server accepts (signature, key, times) with a ``sub`` (the identity)
and a ``video`` grant with ``roomJoin`` for a room. Its ``roomConfig`` claim is read as Go's
protojson reads it (either key spelling, unknown keys ignored). A join that starts the room
dispatches the claim's ``agents`` (none but them: no default dispatch then; without agents the
default one, ``agent_name ""``, as a create makes); an agent whose deployment the server refuses
is skipped without a word. A room that is already running ignores the claim.
"""

from __future__ import annotations

import dataclasses

import orjson

from .._checks import deployment_problem
from .._generated.livekit import ParticipantInfo, ParticipantInfoKind, ParticipantInfoState, RoomConfiguration
from ..codec import DecodeError, decode
from ._claims import claim
from ._tokens import TokenRejected, TokenVerifier

__all__ = ["JoinRequest", "join_request", "participant_of", "startable"]


@dataclasses.dataclass(frozen=True)
class JoinRequest:
    """What a verified join token asks for."""

    identity: str
    room: str
    config: RoomConfiguration | None
    name: str
    metadata: str
    attributes: dict[str, str]


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def join_request(tokens: TokenVerifier, token: str) -> JoinRequest:
    """The join ``token`` asks for; TokenRejected when the server would refuse it."""
    if not isinstance(token, str) or not token:
        raise TokenRejected("no token")
    claims = tokens.claims(token)
    video = claim(claims, "video")
    identity = _text(claim(claims, "sub"))
    if not isinstance(video, dict) or claim(video, "roomJoin") is not True:
        raise TokenRejected("permissions denied: the token has no roomJoin grant")
    room = _text(claim(video, "room"))
    if not identity:
        raise TokenRejected("identity cannot be empty")
    if not room:
        raise TokenRejected("room name cannot be empty")
    raw = claim(claims, "roomConfig")
    config = None
    if isinstance(raw, dict):
        try:
            config = decode(RoomConfiguration, orjson.dumps(raw))
        except DecodeError as e:
            raise TokenRejected(f"token is malformed: could not JSON decode claim: {e}") from None
    attributes = claim(claims, "attributes")
    return JoinRequest(
        identity=identity,
        room=room,
        config=config,
        name=_text(claim(claims, "name")),
        metadata=_text(claim(claims, "metadata")),
        attributes={k: v for k, v in attributes.items() if isinstance(v, str)}
        if isinstance(attributes, dict)
        else {},
    )


def participant_of(request: JoinRequest, sid: str, at: int) -> ParticipantInfo:
    """The participant the store lists for the join, at ``at`` (Unix nanoseconds)."""
    return ParticipantInfo(
        sid=sid,
        identity=request.identity,
        name=request.name,
        metadata=request.metadata,
        attributes=dict(request.attributes),
        state=ParticipantInfoState.ACTIVE,
        joined_at=at // 10**9,
        joined_at_ms=at // 10**6,
        kind=ParticipantInfoKind.STANDARD,
    )


def startable(config: RoomConfiguration | None) -> list[int] | None:
    """Indexes of the configured agents the server dispatches (those whose deployment it
    accepts), or None when the configuration names no agent (the default dispatch then)."""
    if config is None or not config.agents:
        return None
    return [i for i, agent in enumerate(config.agents) if deployment_problem(agent.deployment) is None]
