"""The stand-in's simulated join against livekit-server v1.13.5's real one, token for token.

Each case is a sequence: perhaps a create that starts the room, then joins with tokens. The same
token bytes (signed with the session server's key) go to the real server, through a real
participant of ``livekit.rtc`` (in a process of its own), and to a stand-in with the same key,
through ``join``; the rooms' dispatches must agree (agent name, metadata, deployment,
attributes: ids and times differ).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import jwt
import pytest
from livekit import api
from livekit_server import RealServer, unique_room
from real_participant import Participant, start

import dispatch_client
from dispatch_client import AgentDispatch, CreateAgentDispatchRequest, RoomAgentDispatch
from dispatch_client._client.rooms import list_participants
from dispatch_client.testing import LocalDispatchServer
from dispatch_client.tokens import participant_token

Shape = list[tuple[str, str, str, tuple[tuple[str, str], ...]]]
# Agent names no worker serves: the dispatches stay without jobs on both servers.
A, B = "diff-token-a", "diff-token-b"


def shape(dispatches: list[AgentDispatch]) -> Shape:
    return sorted(
        (d.agent_name, d.metadata, d.deployment, tuple(sorted(d.attributes.items()))) for d in dispatches
    )


def hand_signed(server: RealServer, identity: str, room: str, config: dict[str, object]) -> str:
    """A token participant_token would not write: snake_case keys, an unknown key, a bad deployment."""
    now = int(time.time())
    claims = {
        "iss": server.api_key,
        "sub": identity,
        "nbf": now,
        "exp": now + 600,
        "video": {"roomJoin": True, "room": room},
        "roomConfig": config,
    }
    return jwt.encode(claims, server.api_secret, algorithm="HS256")


CASES: dict[str, tuple[bool, list[list[RoomAgentDispatch] | dict[str, object]]]] = {
    # name: (a create starts the room first, the tokens' agents in join order)
    "new room, two agents": (
        False,
        [
            [
                RoomAgentDispatch(agent_name=A, metadata="m1", attributes={"k": "v"}),
                RoomAgentDispatch(agent_name=B),
            ]
        ],
    ),
    "new room, no agents": (False, [[]]),
    "running room ignores them": (True, [[RoomAgentDispatch(agent_name=A, metadata="late")]]),
    "second join ignores them": (
        False,
        [[RoomAgentDispatch(agent_name=A)], [RoomAgentDispatch(agent_name=B, metadata="second")]],
    ),
    "snake_case keys, bad deployment skipped": (
        False,
        [{"agents": [{"agent_name": A, "deployment": "blue_green"}, {"agent_name": B, "unknown": 1}]}],
    ),
}


@contextlib.asynccontextmanager
async def participants(livekit: RealServer) -> AsyncIterator[list[Participant]]:
    joined: list[Participant] = []
    try:
        yield joined
    finally:
        for participant in joined:
            await participant.leave()


async def real_join(
    livekit: RealServer, token: str, identity: str, room: str, joined: list[Participant]
) -> None:
    joined.append(await start(livekit.url.replace("http://", "ws://"), token))
    async with dispatch_client.connect(livekit.url, livekit.api_key, livekit.api_secret) as svc:
        deadline = time.monotonic() + 10
        while not any(
            p.identity == identity for p in await list_participants(svc._transport, room, timeout=5)
        ):
            assert time.monotonic() < deadline, f"{identity} never showed in the room store"
            await asyncio.sleep(0.05)


@pytest.mark.parametrize("case", list(CASES))
async def test_a_join_with_a_token_matches_the_real_server(
    case: str, livekit: RealServer, summary: list[str]
) -> None:
    started, joins = CASES[case]
    room = unique_room("diff-token")
    tokens = [
        participant_token(livekit.api_key, livekit.api_secret, identity=f"p{i}", room=room, agents=agents)
        if isinstance(agents, list)
        else hand_signed(livekit, f"p{i}", room, agents)
        for i, agents in enumerate(joins)
    ]
    lk = api.LiveKitAPI(livekit.url, livekit.api_key, livekit.api_secret)
    try:
        async with (
            participants(livekit) as joined,
            dispatch_client.connect(livekit.url, livekit.api_key, livekit.api_secret) as svc,
        ):
            if started:
                await svc.create_dispatch(
                    CreateAgentDispatchRequest(agent_name="diff-token-starter", room=room)
                )
            for i, token in enumerate(tokens):
                await real_join(livekit, token, f"p{i}", room, joined)
            real = shape(await svc.list_dispatch(room))
    finally:
        with contextlib.suppress(api.TwirpError):
            await lk.room.delete_room(api.DeleteRoomRequest(room=room))
        await lk.aclose()
    async with LocalDispatchServer(livekit.api_key, livekit.api_secret) as stand_in:
        async with stand_in.connect() as local:
            if started:
                await local.create_dispatch(
                    CreateAgentDispatchRequest(agent_name="diff-token-starter", room=room)
                )
        for token in tokens:
            stand_in.join(token)
        simulated = shape(stand_in.rooms()[room])
    assert simulated == real
    summary.append(
        f"token join differential ({case}): both servers list {[d[0] or '(default)' for d in real]}"
    )
