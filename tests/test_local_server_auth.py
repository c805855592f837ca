"""LocalDispatchServer's token checks (livekit-server v1.13.5's rules) and its binary protobuf reader."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator

import aiohttp
import jwt
import pytest
from google.protobuf.message import DecodeError as ProtobufDecodeError
from livekit.protocol import agent_dispatch as pb
from local_helpers import KEY, NOW, SECRET, fixed_clock, post, token

from dispatch_client import CreateAgentDispatchRequest
from dispatch_client.testing import LocalDispatchServer
from dispatch_client.testing._protobuf import WireError, decode

BODY = b'{"room":"r","agent_name":"a"}'


@pytest.fixture
async def local() -> AsyncIterator[LocalDispatchServer]:
    async with LocalDispatchServer(KEY, SECRET, clock=fixed_clock) as server:
        yield server


def bearer(**options: object) -> dict[str, str]:
    return {"Authorization": "Bearer " + token(now=NOW, **options)}  # type: ignore[arg-type]


def signed(claims: str) -> dict[str, str]:
    """A validly signed token whose claims are exactly the given JSON text."""
    return {"Authorization": "Bearer " + jwt.api_jws.encode(claims.encode(), SECRET, algorithm="HS256")}


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"Authorization": "Basic dXNlcjpwYXNz"}, id="not-bearer"),
        pytest.param({"Authorization": "bearer " + token(now=NOW)}, id="lowercase-bearer"),
        pytest.param({"Authorization": "Bearer not.a.jwt"}, id="unparseable"),
        pytest.param(
            bearer(
                key="APIother", secret="another-secret-that-is-long-enough-for-every-algorithm-0123456789"
            ),
            id="unknown-key",
        ),
        pytest.param(
            bearer(secret="a-different-secret-for-the-same-key-long-enough-for-hs512-0123456789"),
            id="bad-signature",
        ),
        pytest.param(bearer(algorithm="HS512"), id="hs512"),
        pytest.param(bearer(exp="tomorrow"), id="exp-not-a-number"),
        pytest.param(bearer(exp=NOW - 61), id="expired"),
        pytest.param(bearer(nbf=NOW + 61), id="not-yet-valid"),
        # livekit-server reads the times as doubles, then int64 seconds: a value no double holds
        # cannot be read, and one beyond int64 becomes its lowest value (an exp long past).
        pytest.param(bearer(exp=math.nan), id="exp-nan"),
        pytest.param(bearer(exp=math.inf), id="exp-infinity"),
        pytest.param(signed(f'{{"iss":"{KEY}","exp":1e400}}'), id="exp-1e400"),
        pytest.param(bearer(exp=10**400), id="exp-10**400"),
        pytest.param(bearer(exp=2**63), id="exp-past-int64"),
        pytest.param(bearer(exp=1e300), id="exp-1e300"),
        pytest.param(bearer(nbf=-math.inf), id="nbf-minus-infinity"),
        pytest.param(bearer(nbf=-(10**400)), id="nbf-minus-10**400"),
        pytest.param(bearer(iat=math.nan), id="iat-nan"),
        # livekit-server reads the grants into typed structs: a wrong JSON type cannot be read.
        pytest.param(bearer(admin="true"), id="room-admin-not-a-bool"),
        pytest.param(bearer(admin=1), id="room-admin-a-number"),
        pytest.param(bearer(video={"roomAdmin": True, "room": 5}), id="room-not-a-string"),
        pytest.param(bearer(video=[1]), id="video-not-an-object"),
        pytest.param(bearer(video="r"), id="video-a-string"),
    ],
)
async def test_bad_tokens_get_a_plain_401(
    local: LocalDispatchServer, session: aiohttp.ClientSession, headers: dict[str, str]
) -> None:
    answer = await post(session, local.url, "CreateDispatch", BODY, headers=headers)
    assert (answer.status, answer.content_type) == (401, "text/plain; charset=utf-8")
    assert answer.body.startswith(b"invalid")
    assert local.rooms() == {}


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(bearer(exp=NOW - 59), id="expired-within-leeway"),
        pytest.param(bearer(nbf=NOW + 59), id="early-within-leeway"),
        pytest.param(bearer(nbf=None), id="no-nbf"),
        # v1.13.5 needs no exp and never checks iat (later releases require exp).
        pytest.param(bearer(exp=None), id="no-exp"),
        pytest.param(bearer(iat=NOW + 3600), id="issued-in-the-future"),
        pytest.param(bearer(iat=-1e19), id="iat-below-int64"),
        pytest.param(bearer(exp=str(NOW + 60)), id="exp-a-numeric-string"),
        pytest.param(bearer(nbf=1e300), id="nbf-beyond-int64"),
    ],
)
async def test_leeway_of_one_minute(
    local: LocalDispatchServer, session: aiohttp.ClientSession, headers: dict[str, str]
) -> None:
    answer = await post(session, local.url, "CreateDispatch", BODY, headers=headers)
    assert answer.status == 200


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(bearer(admin=False), id="no-room-admin"),
        pytest.param(bearer(admin=None), id="room-admin-null"),
        pytest.param(bearer(video={"room": "r"}), id="room-admin-left-out"),
        pytest.param(bearer(room="other"), id="other-room"),
        pytest.param(bearer(video={"roomAdmin": True, "room": None}), id="room-null"),
        pytest.param(bearer(video=None), id="no-video-grant"),
        pytest.param(signed(f'{{"iss":"{KEY}","exp":{NOW},"video":null}}'), id="video-null"),
        pytest.param({"Authorization": ""}, id="no-token"),
    ],
)
async def test_grants_without_the_room_are_twirp_unauthenticated(
    local: LocalDispatchServer, session: aiohttp.ClientSession, headers: dict[str, str]
) -> None:
    answer = await post(session, local.url, "CreateDispatch", BODY, headers=headers)
    assert (answer.status, answer.content_type) == (401, "application/json")
    assert answer.json() == {"code": "unauthenticated", "msg": "permissions denied"}


@pytest.mark.parametrize(
    ("headers", "text"),
    [
        pytest.param(
            {"Authorization": "Basic x"}, "invalid authorization header. Must start with Bearer ", id="basic"
        ),
        pytest.param(bearer(sub=5), "invalid authorization token", id="registered-claim-type"),
        pytest.param(bearer(key="APIother"), "invalid API key: APIother", id="unknown-key"),
        pytest.param(bearer(exp=NOW - 60), "token has invalid claims: token is expired", id="expired"),
        pytest.param(
            bearer(exp=NOW - 60, nbf=NOW + 61),
            "token has invalid claims: token is expired, token is not valid yet",
            id="expired-and-early",
        ),
        pytest.param(
            bearer(secret="a-different-secret-for-the-same-key-long-enough-for-hs512-0123456789"),
            "token signature is invalid: signature is invalid",
            id="signature",
        ),
        pytest.param(
            bearer(algorithm="HS512"),
            "token signature is invalid: signing method HS512 is invalid",
            id="hs512",
        ),
        pytest.param(
            bearer(admin="true"),
            "token is malformed: could not JSON decode claim: json: cannot unmarshal string into Go struct "
            "field VideoGrant.ClaimGrants.video.roomAdmin of type bool",
            id="grant-type",
        ),
        pytest.param(
            bearer(attributes=["x"]),
            "token is malformed: could not JSON decode claim: json: cannot unmarshal array into Go struct "
            "field tokenClaims.ClaimGrants.attributes of type map[string]string",
            id="attributes-type",
        ),
    ],
)
async def test_401_texts_are_livekit_servers(
    local: LocalDispatchServer, session: aiohttp.ClientSession, headers: dict[str, str], text: str
) -> None:
    answer = await post(session, local.url, "CreateDispatch", BODY, headers=headers)
    assert answer.status == 401
    sent = headers["Authorization"].removeprefix("Bearer ")
    # What follows the API key check names the token itself, as livekit-server does.
    expected = text if text.startswith("invalid") else f"invalid token: {sent}, error: {text}"
    assert answer.body.decode() == expected


async def test_token_in_the_query_when_there_is_no_header(
    local: LocalDispatchServer, session: aiohttp.ClientSession
) -> None:
    path = f"/twirp/livekit.AgentDispatchService/CreateDispatch?access_token={token(now=NOW)}"
    answer = await post(session, local.url, "", BODY, headers={"Authorization": ""}, path=path)
    assert answer.status == 200


async def test_tokens_are_checked_before_routing(
    local: LocalDispatchServer, session: aiohttp.ClientSession
) -> None:
    bad = await post(session, local.url, "NoSuchMethod", BODY, headers=bearer(exp=NOW - 3600))
    assert (bad.status, bad.content_type) == (401, "text/plain; charset=utf-8")
    good = await post(session, local.url, "NoSuchMethod", BODY, headers=bearer())
    assert (good.status, good.code) == (404, "bad_route")


async def test_protobuf_requests_get_protobuf_answers(
    local: LocalDispatchServer, session: aiohttp.ClientSession
) -> None:
    req = pb.CreateAgentDispatchRequest(agent_name="a", room="r", metadata="m", attributes={"k": "v"})
    created = await post(
        session,
        local.url,
        "CreateDispatch",
        req.SerializeToString(),
        content_type="application/protobuf",
        headers=bearer(),
    )
    assert (created.status, created.content_type) == (200, "application/protobuf")
    dispatch = pb.AgentDispatch.FromString(created.body)
    assert (dispatch.agent_name, dispatch.room, dispatch.metadata, dict(dispatch.attributes)) == (
        "a",
        "r",
        "m",
        {"k": "v"},
    )
    garbage = await post(
        session,
        local.url,
        "ListDispatch",
        b"\x12\x05ab",
        content_type="application/protobuf",
        headers=bearer(),
    )
    assert (garbage.status, garbage.content_type) == (400, "application/json")
    assert garbage.json() == {"code": "malformed", "msg": "the protobuf request could not be decoded"}


WIRE_CASES = [
    b"",
    b"\x0a\x01a\x12\x01r",  # agent_name, room
    b"\x12\x01r\x12\x01s",  # the last value wins
    b"\x20\x01",  # restart_policy NEVER
    b"\x20\x09",  # an enum number without a name
    b"\x20\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",  # -1 as a 10-byte varint
    b"\x32\x06\x0a\x01k\x12\x01v\x32\x04\x0a\x02k2",  # map entries, one without a value
    b"\x32\x00",  # an empty map entry
    b"\x10\x01",  # room sent as a varint: kept as an unknown field
    b"\x7a\x01x\x9d\x01abcd\xa1\x01abcdefgh",  # unknown fields of every size
    b"\x5b\x08\x01\x5c\x12\x01r",  # an unknown group
    b"\xff",  # a truncated tag
    b"\x00\x01",  # field number 0
    b"\x12\x05ab",  # a length past the end
    b"\x12\x02\xff\xfe",  # invalid UTF-8
    b"\x32\x03\x0a\x01\xff",  # invalid UTF-8 in a map key
    b"\x0a",  # a missing length
    b"\x0e",  # wire type 6
    b"\x5b\x08\x01",  # a group that never ends
    b"\x5c",  # the end of a group that never began
]


@pytest.mark.parametrize("data", WIRE_CASES, ids=[d.hex() or "empty" for d in WIRE_CASES])
def test_binary_reader_agrees_with_google_protobuf(data: bytes) -> None:
    try:
        theirs = pb.CreateAgentDispatchRequest.FromString(data)
    except ProtobufDecodeError:
        with pytest.raises(WireError):
            decode(CreateAgentDispatchRequest, data)
        return
    ours = decode(CreateAgentDispatchRequest, data)
    theirs.DiscardUnknownFields()
    assert pb.CreateAgentDispatchRequest.FromString(bytes(ours)) == theirs


def test_varints_beyond_64_bits_are_refused() -> None:
    # Go's protowire refuses a tenth varint byte above 1; Python's upb reads it, truncated.
    with pytest.raises(WireError, match="64 bits"):
        decode(CreateAgentDispatchRequest, b"\x20" + b"\xff" * 9 + b"\x7f")


@pytest.mark.parametrize("raw_token", [b"\xff\xfe.abc.def", b"a\xc3\xa9b.c.d"])
async def test_token_bytes_that_are_not_text_get_a_plain_401(
    local: LocalDispatchServer, raw_token: bytes
) -> None:
    # aiohttp's client will not send such bytes, so the request is written by hand.
    host, port = local.url.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    body = b'{"room":"r"}'
    writer.write(
        b"POST /twirp/livekit.AgentDispatchService/ListDispatch HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/json\r\nAuthorization: Bearer " + raw_token + b"\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body
    )
    await writer.drain()
    answer = await reader.read()
    writer.close()
    await writer.wait_closed()
    head, _, payload = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 401 ")
    assert b"text/plain" in head
    assert payload.startswith(b"invalid")
