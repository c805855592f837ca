"""A token signed elsewhere: sent as it is, never signed here, refused before sending when it
cannot make the call; and kept out of every repr, log line and error like a signed one."""

from __future__ import annotations

import base64
import logging

import aiohttp
import jwt
import pytest
from fault_proxy import Fault, FaultProxy
from livekit_server import RealServer, unique_room

from dispatch_client import (
    AgentDispatchService,
    CreateAgentDispatchRequest,
    TwirpError,
    TwirpErrorCode,
    connect,
)
from dispatch_client._auth.presigned import PresignedToken


def sign(server: RealServer, room: str, **changes: object) -> str:
    claims: dict[str, object] = {
        "iss": server.api_key,
        "exp": 4102444800,
        "video": {"roomAdmin": True, "room": room},
    }
    claims.update(changes)
    return jwt.encode(
        {k: v for k, v in claims.items() if v is not None}, server.api_secret, algorithm="HS256"
    )


async def test_the_token_is_used_as_it_is_on_the_real_server(
    livekit: RealServer, session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="dispatch_client")
    room = unique_room("presigned")
    token = sign(livekit, room)
    svc = AgentDispatchService(session, livekit.url, token=token)
    made = await svc.create_dispatch(CreateAgentDispatchRequest(agent_name="a", room=room))
    assert made.id in {d.id for d in await svc.list_dispatch(room)}
    assert token not in repr(svc)
    assert all(token not in r.getMessage() for r in caplog.records)


async def test_a_call_the_token_cannot_make_is_refused_before_sending(
    livekit: RealServer, session: aiohttp.ClientSession
) -> None:
    room = unique_room("presigned")
    svc = AgentDispatchService(session, livekit.url, token=sign(livekit, room))
    with pytest.raises(ValueError, match="cannot make calls on room 'other'") as err:
        await svc.list_dispatch("other")
    assert sign(livekit, room) not in str(err.value)
    no_admin = AgentDispatchService(session, livekit.url, token=sign(livekit, room, video={"room": room}))
    with pytest.raises(ValueError, match="no roomAdmin grant"):
        await no_admin.list_dispatch(room)
    expired = AgentDispatchService(session, livekit.url, token=sign(livekit, room, exp=1000))
    with pytest.raises(ValueError, match="expired"):
        await expired.list_dispatch(room)


async def test_a_token_the_server_refuses_is_unauthenticated_without_the_token(
    livekit: RealServer, session: aiohttp.ClientSession
) -> None:
    room = unique_room("presigned")
    forged = jwt.encode(
        {"iss": livekit.api_key, "exp": 4102444800, "video": {"roomAdmin": True, "room": room}},
        "another-secret-of-thirty-two-bytes-at-least-0123",
        algorithm="HS256",
    )
    svc = AgentDispatchService(session, livekit.url, token=forged)
    with pytest.raises(TwirpError) as err:
        await svc.list_dispatch(room)
    assert (err.value.code, err.value.status) == (TwirpErrorCode.UNAUTHENTICATED, 401)
    assert forged not in repr(err.value)
    assert "[redacted]" in err.value.meta["body"]  # livekit-server quotes the token it refuses


async def test_connect_reads_livekit_token(livekit: RealServer, monkeypatch: pytest.MonkeyPatch) -> None:
    room = unique_room("env-token")
    monkeypatch.setenv("LIVEKIT_URL", livekit.url)
    monkeypatch.setenv("LIVEKIT_TOKEN", sign(livekit, room))
    monkeypatch.setenv("LIVEKIT_API_KEY", "not-used")
    monkeypatch.setenv("LIVEKIT_API_SECRET", "not-used-either-because-a-token-is-set")
    async with connect() as svc:  # LIVEKIT_TOKEN wins over the key and secret of the environment
        assert (await svc.create_dispatch(CreateAgentDispatchRequest(agent_name="a", room=room))).room == room
    # Credentials passed as arguments win over LIVEKIT_TOKEN.
    async with connect(api_key=livekit.api_key, api_secret=livekit.api_secret) as svc:
        assert await svc.list_dispatch(room)


def test_token_and_secret_together_are_refused() -> None:
    with pytest.raises(ValueError, match="not both"):
        AgentDispatchService.open(
            "http://127.0.0.1:1", "key", "secret-secret-secret-secret-secret", token="t.t.t"
        )
    assert "t.t.t" not in repr(PresignedToken("t.t.t"))


def test_an_unreadable_token_is_sent_as_it_is() -> None:
    assert PresignedToken("opaque").token("any-room") == "opaque"


def unsigned(claims: bytes) -> str:
    """A token of these claims (as JSON text), with a signature no one checks here."""
    payload = base64.urlsafe_b64encode(claims).rstrip(b"=").decode()
    return f"eyJhbGciOiJIUzI1NiJ9.{payload}.c2lnbmF0dXJl"


@pytest.mark.parametrize(
    "claims",
    [
        b'{"video": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        b'{"video": {"roomAdmin": true, "room": "r"}, "exp": 1' + b"0" * 400 + b"}",
        b'{"video": {"roomAdmin": true, "room": "r"}, "exp": 1e400}',
        b'{"video": {"roomAdmin": true, "room": "r"}, "exp": NaN}',
        b'{"video": {"roomAdmin": true, "room": "r"}, "exp": "soon"}',
    ],
)
def test_claims_no_server_could_read_are_a_value_error_from_open(
    monkeypatch: pytest.MonkeyPatch, claims: bytes
) -> None:
    token = unsigned(claims)
    monkeypatch.setenv("LIVEKIT_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("LIVEKIT_TOKEN", token)
    with pytest.raises(ValueError, match="LIVEKIT_TOKEN") as err:
        AgentDispatchService.open()
    assert token not in str(err.value)


async def test_a_token_without_a_video_grant_is_refused_before_sending(
    livekit: RealServer, session: aiohttp.ClientSession
) -> None:
    room = unique_room("presigned")
    async with FaultProxy(livekit.url, lambda i, rpc: Fault.PASS) as proxy:
        for video in (None, "room-admin", ["roomAdmin"]):
            svc = AgentDispatchService(session, proxy.url, token=sign(livekit, room, video=video))
            with pytest.raises(ValueError, match="no video grant"):
                await svc.create_dispatch(CreateAgentDispatchRequest(agent_name="a", room=room))
            with pytest.raises(ValueError, match="no video grant"):
                await svc.list_dispatch(room)
    assert sum(proxy.by_rpc.values()) == 0
