"""LocalDispatchServer on the wire: Twirp routing and encodings against the Go fixtures, body limits.

tests/test_differential.py compares the same ground with the real livekit-server v1.13.5."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest
from conftest import FIXTURES
from local_helpers import KEY, SECRET, SERVICE_URL, post, token
from yarl import URL

from dispatch_client import CreateAgentDispatchRequest, TwirpError, TwirpErrorCode
from dispatch_client._transport.retry import should_retry
from dispatch_client.testing import MAX_BODY_BYTES, LocalDispatchServer

TWIRP_ERRORS = {c["name"]: c for c in json.loads((FIXTURES / "twirp_errors.json").read_text())}
ROUTING_CASES = [
    "malformed_json",
    "protojson_rejects_value",
    "content_type_text_plain",
    "content_type_missing",
    "method_GET",
    "unknown_rpc",
]
# A bare Twirp server answers these with bad_route; in livekit-server they never reach Twirp.
# ("wrong_service" is a path under RoomService, which livekit-server serves, so its Twirp
# answers it: tests/differential_cases.py compares that with the real binary.)
GO_MUX_CASES = ["wrong_prefix"]
ACCEPT_CASES = [
    c for c in json.loads((FIXTURES / "accept_cases.json").read_text()) if c.get("twirp_server") is not None
]


@pytest.fixture
async def local() -> AsyncIterator[LocalDispatchServer]:
    async with LocalDispatchServer(KEY, SECRET, not_running_wait=0.05) as server:
        yield server


async def seed(session: aiohttp.ClientSession, local: LocalDispatchServer, room: str = "r") -> None:
    """Give ``room`` one dispatch, so that it exists."""
    answer = await post(session, local.url, "CreateDispatch", orjson.dumps({"agent_name": "a", "room": room}))
    assert answer.status == 200


@pytest.mark.parametrize("name", ROUTING_CASES)
async def test_routing_and_decoding_errors_match_twirp(
    local: LocalDispatchServer, session: aiohttp.ClientSession, name: str
) -> None:
    case = TWIRP_ERRORS[name]
    headers = {"Content-Type": case["request_content_type"], "Authorization": f"Bearer {token('r')}"}
    if not case["request_content_type"]:
        headers["Content-Type"] = ""
    url = URL(local.url + case["path"], encoded=True)
    async with session.request(
        case["http_method"],
        url,
        data=case["request_body"].encode(),
        headers=headers,
        skip_auto_headers={"Content-Type"},
    ) as resp:
        body = await resp.read()
        assert resp.status == case["response"]["status"]
        assert resp.headers["Content-Type"] == case["response"]["content_type"]
    assert orjson.loads(body) == orjson.loads(case["response"]["body"])


@pytest.mark.parametrize("name", GO_MUX_CASES)
async def test_paths_outside_the_service_get_gos_plain_404(
    local: LocalDispatchServer, session: aiohttp.ClientSession, name: str
) -> None:
    case = TWIRP_ERRORS[name]
    answer = await post(session, local.url, "", case["request_body"], path=case["path"])
    assert (answer.status, answer.content_type, answer.body) == (
        404,
        "text/plain; charset=utf-8",
        b"404 page not found\n",
    )


async def test_content_type_parameters_are_ignored(
    local: LocalDispatchServer, session: aiohttp.ClientSession
) -> None:
    case = TWIRP_ERRORS["content_type_with_charset_ok"]
    await seed(session, local)
    listed = await post(
        session,
        local.url,
        "ListDispatch",
        '{"room":"r","dispatch_id":"AD_none"}',
        content_type=case["request_content_type"],
    )
    assert (listed.status, listed.content_type) == (200, "application/json")
    assert listed.json() == orjson.loads(case["response"]["body"])
    upper = await post(
        session, local.url, "ListDispatch", '{"room":"r"}', content_type=" Application/JSON ;x=y"
    )
    assert upper.status == 200


def _room_of(case: dict[str, Any]) -> str:
    found = re.search(
        r'room:"([^"]*)"', case["twirp_server"].get("protojson_on_first_value", {}).get("prototext", "")
    )
    return found.group(1) if found else ""


@pytest.mark.parametrize("case", ACCEPT_CASES, ids=[c["name"] for c in ACCEPT_CASES])
async def test_request_bodies_are_judged_like_the_go_server(
    local: LocalDispatchServer, session: aiohttp.ClientSession, case: dict[str, Any]
) -> None:
    await seed(session, local)
    method = case["twirp_server"]["path"].rsplit("/", 1)[1]
    body = base64.b64decode(case["body_base64"])
    room = _room_of(case)
    answer = await post(session, local.url, method, body, room=room)
    go_status = case["twirp_server"]["http"]["status"]
    if go_status == 400:
        assert (answer.status, answer.json()) == (
            400,
            {"code": "malformed", "msg": "the json request could not be decoded"},
        )
        return
    assert go_status == 200
    # The Go server in the fixtures echoed; ours applies livekit-server's rules to what it read:
    # a create starts any room (even ""), other calls find only the seeded room "r" running.
    if method == "CreateDispatch":
        expected: tuple[int, object] = (200, None)
    elif room != "r":
        expected = (503, "unavailable")
    elif method == "DeleteDispatch":
        expected = (404, "not_found")
    else:
        expected = (200, None)
    assert (answer.status, answer.json().get("code")) == expected
    if method == "CreateDispatch" and room:
        created = answer.json()
        theirs = orjson.loads(case["twirp_server"]["http"]["body"])
        assert {k: v for k, v in created.items() if k not in ("id", "state")} == {
            k: v for k, v in theirs.items() if k not in ("id", "state")
        }


async def test_error_bodies_escape_like_go(
    local: LocalDispatchServer, session: aiohttp.ClientSession
) -> None:
    answer = await post(session, local.url, "", b"{}", path=SERVICE_URL + "No<Such>&Method")
    assert answer.status == 404
    for escaped in (b"\\u003c", b"\\u003e", b"\\u0026"):
        assert escaped in answer.body
    assert b"<" not in answer.body
    assert answer.json()["msg"] == 'no handler for path "/twirp/livekit.AgentDispatchService/No<Such>&Method"'


async def _raw_exchange(url: str, head: bytes, body_chunks: list[bytes]) -> tuple[int, bytes, bytes]:
    """Send a request by hand and read the answer: (status, headers, body)."""
    target = URL(url)
    reader, writer = await asyncio.open_connection(target.host, target.port)
    try:
        writer.write(head)
        for chunk in body_chunks:
            writer.write(chunk)
            await writer.drain()
        status_line = await reader.readline()
        headers = await reader.readuntil(b"\r\n\r\n")
        length = int(re.search(rb"Content-Length: (\d+)", headers, re.IGNORECASE).group(1))  # type: ignore[union-attr]
        return int(status_line.split()[1]), headers, await reader.readexactly(length)
    finally:
        writer.close()


def _head(local: LocalDispatchServer, extra: str) -> bytes:
    return (
        f"POST {SERVICE_URL}CreateDispatch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {token('r')}\r\n{extra}\r\n"
    ).encode()


@pytest.fixture
async def limited() -> AsyncIterator[LocalDispatchServer]:
    """With the body limit of livekit-server's releases after v1.13.5 (v1.13.5 has none)."""
    async with LocalDispatchServer(KEY, SECRET, max_body_bytes=MAX_BODY_BYTES) as server:
        yield server


async def test_no_body_limit_by_default_as_in_v1_13_5(
    local: LocalDispatchServer, session: aiohttp.ClientSession
) -> None:
    await seed(session, local)
    body = orjson.dumps({"room": "r", "pad": "p" * (MAX_BODY_BYTES + 1)})
    answer = await post(session, local.url, "ListDispatch", body)
    assert answer.status == 200
    listed = answer.json()["agent_dispatches"]
    assert isinstance(listed, list)
    assert [d["agent_name"] for d in listed] == ["", "a"]


async def test_declared_body_over_10_mib_is_refused_before_reading(limited: LocalDispatchServer) -> None:
    local = limited
    head = _head(local, f"Content-Length: {MAX_BODY_BYTES + 1}\r\n")
    status, headers, body = await _raw_exchange(local.url, head, [])  # no body sent at all
    assert status == 413
    assert b"text/plain" in headers
    assert b"request body too large" in body


async def test_streamed_body_over_10_mib_is_refused(limited: LocalDispatchServer) -> None:
    local = limited
    piece = b"x" * (1 << 20)
    chunks = [b"%x\r\n%s\r\n" % (len(piece), piece)] * 10 + [b"1\r\nx\r\n"]  # 10 MiB + 1 byte, unfinished
    status, headers, body = await _raw_exchange(
        local.url, _head(local, "Transfer-Encoding: chunked\r\n"), chunks
    )
    assert (status, b"text/plain" in headers, b"request body too large" in body) == (413, True, True)


async def test_body_of_exactly_10_mib_is_read(
    limited: LocalDispatchServer, session: aiohttp.ClientSession
) -> None:
    local = limited
    prefix, suffix = b'{"room":"r","agent_name":"a","metadata":"', b'"}'
    body = prefix + b"m" * (MAX_BODY_BYTES - len(prefix) - len(suffix)) + suffix
    assert len(body) == MAX_BODY_BYTES
    answer = await post(session, local.url, "CreateDispatch", body)
    assert (answer.status, answer.json()["msg"]) == (400, "twirp error unknown: metadata size exceeds limits")


async def test_client_sees_the_413_as_resource_exhausted(limited: LocalDispatchServer) -> None:
    # The stand-in set to imitate v1.13.6 and later: a plain-text 413 for a body over 10 MiB.
    local = limited
    async with local.connect(timeout=30) as client:
        with pytest.raises(TwirpError) as err:
            await client.create_dispatch(
                CreateAgentDispatchRequest(agent_name="a", room="r", metadata="m" * MAX_BODY_BYTES)
            )
        assert (err.value.code, err.value.status, err.value.from_intermediary, err.value.outcome_unknown) == (
            TwirpErrorCode.RESOURCE_EXHAUSTED,
            413,
            True,
            False,  # refused before it was read: surely not done
        )
        assert "over 10 MiB" in err.value.message
        assert not should_retry(err.value, read_only=True, repeatable=True)
        assert await client.create_dispatch(CreateAgentDispatchRequest(agent_name="a", room="r"))


async def test_client_streams_a_body_over_1_mib_whole(local: LocalDispatchServer) -> None:
    # Sent as a stream rather than as one bytes object (which aiohttp warns about, and warnings
    # are errors here); the server must still get all of it to parse it and judge the metadata.
    async with local.connect(timeout=30) as client:
        with pytest.raises(TwirpError) as err:
            await client.create_dispatch(
                CreateAgentDispatchRequest(agent_name="a", room="r", metadata="m" * (2 << 20))
            )
        assert (err.value.code, err.value.message) == (
            TwirpErrorCode.INVALID_ARGUMENT,
            "twirp error unknown: metadata size exceeds limits",
        )
