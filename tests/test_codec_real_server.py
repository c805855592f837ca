"""The bytes livekit-server v1.13.5 wrote (tests/fixtures/livekit-server-v1.13.5/), decoded and mapped.

No server needed: tools/capture_livekit_fixtures.py recorded them. Each 200 body is decoded through
``codec.decode`` and compared value for value; each error body goes through ``error_from_response``.
"""

from __future__ import annotations

import re
from typing import Any

import jwt
import orjson
import pytest
from e2e_fixture_spec import CREATE_REQUEST, FIXTURE_DIR, MANIFEST, ROOM, UNKNOWN_KEY
from e2e_helpers import DISPATCH_ID, WRONG_SECRET
from livekit_server import API_KEY, API_SECRET, VERSION

from dispatch_client import (
    AgentDispatch,
    AgentDispatchState,
    JobRestartPolicy,
    ListAgentDispatchResponse,
    TwirpErrorCode,
)
from dispatch_client._transport.responses import error_from_response
from dispatch_client.codec import decode

MANIFEST_DATA: dict[str, Any] = orjson.loads(MANIFEST.read_bytes())
EXCHANGES: dict[str, dict[str, Any]] = MANIFEST_DATA["exchanges"]
START_NS, END_NS = MANIFEST_DATA["captured_ns"]


def body(name: str) -> bytes:
    return (FIXTURE_DIR / name).read_bytes()


def raw_state(name: str, index: int | None = None) -> tuple[str, int]:
    """The id and created_at of a dispatch as the bytes spell them, read without our codec."""
    obj = orjson.loads(body(name))
    if index is not None:
        obj = obj["agent_dispatches"][index]
    created_at = obj["state"]["created_at"]
    assert isinstance(created_at, str)
    assert re.fullmatch(r"[1-9][0-9]*", created_at)  # int64 as a decimal string
    return obj["id"], int(created_at)


def expected_new() -> AgentDispatch:
    dispatch_id, created_at = raw_state("create.json")
    return AgentDispatch(
        id=dispatch_id,
        agent_name=str(CREATE_REQUEST["agent_name"]),
        room=ROOM,
        metadata=str(CREATE_REQUEST["metadata"]),
        state=AgentDispatchState(jobs=[], created_at=created_at, deleted_at=0),
        restart_policy=JobRestartPolicy.JRP_NEVER,
        deployment=str(CREATE_REQUEST["deployment"]),
        attributes={"tier": "gold", "Mixed-Case": "kept", "empty": ""},
    )


def test_the_manifest_names_the_server_and_every_file() -> None:
    assert MANIFEST_DATA["server"] == f"livekit-server {VERSION}"
    assert MANIFEST_DATA["create_request"] == CREATE_REQUEST
    # The jobs_* files are tools/capture_job_fixtures.py's, listed in jobs_manifest.json.
    on_disk = {p.name for p in FIXTURE_DIR.iterdir() if not p.name.startswith("jobs_")} - {
        "README.md",
        "manifest.json",
    }
    assert on_disk == set(EXCHANGES)
    readme = (FIXTURE_DIR / "README.md").read_text()
    assert f"livekit-server {VERSION}" in readme
    for name in EXCHANGES:
        assert f"`{name}`" in readme


def test_a_new_dispatch() -> None:
    assert EXCHANGES["create.json"]["status"] == 200
    decoded = decode(AgentDispatch, body("create.json"))
    assert decoded == expected_new()
    assert DISPATCH_ID.fullmatch(decoded.id)
    assert decoded.state is not None
    assert START_NS <= decoded.state.created_at <= END_NS  # Unix nanoseconds, during the capture
    assert decoded.state.created_at > 2**53  # exact, never through a float


def test_a_list_with_the_default_dispatch() -> None:
    decoded = decode(ListAgentDispatchResponse, body("list.json"))
    ours = expected_new()
    assert len(decoded.agent_dispatches) == 2
    [default] = [d for d in decoded.agent_dispatches if d.id != ours.id]
    index = decoded.agent_dispatches.index(default)
    default_id, default_created = raw_state("list.json", index)
    assert default == AgentDispatch(
        id=default_id,
        agent_name="",
        room=ROOM,
        metadata="",
        state=AgentDispatchState(jobs=[], created_at=default_created, deleted_at=0),
        restart_policy=JobRestartPolicy.JRP_ON_FAILURE,
        deployment="",
        attributes={},
    )
    assert DISPATCH_ID.fullmatch(default.id)
    assert ours.state is not None
    assert START_NS <= default_created <= ours.state.created_at  # made with the room, before ours
    assert decoded.agent_dispatches[1 - index] == ours


def test_a_get_and_a_get_of_an_unknown_id() -> None:
    assert decode(ListAgentDispatchResponse, body("get.json")) == ListAgentDispatchResponse([expected_new()])
    assert decode(ListAgentDispatchResponse, body("get_unknown.json")) == ListAgentDispatchResponse([])


def test_a_delete_answers_the_dispatch_as_it_was() -> None:
    decoded = decode(AgentDispatch, body("delete.json"))
    assert decoded == expected_new()
    assert decoded.state is not None
    assert decoded.state.deleted_at == 0


PREFIX = "twirp error unknown: "
NOT_RUNNING = "no response from servers"
ROUTE = "/twirp/livekit.AgentDispatchService/"
TWIRP_ERRORS = [
    ("not_found.json", TwirpErrorCode.NOT_FOUND, PREFIX + "dispatch ID not found", {}),
    ("deployment_too_long.json", TwirpErrorCode.INVALID_ARGUMENT, PREFIX + "deployment exceeds 64 bytes", {}),
    (
        "deployment_underscore.json",
        TwirpErrorCode.INVALID_ARGUMENT,
        PREFIX + "deployment contains reserved character '_'",
        {},
    ),
    *[
        (
            f"deployment_{rule}.json",
            TwirpErrorCode.INVALID_ARGUMENT,
            PREFIX + "deployment contains whitespace or control byte at position 1",
            {},
        )
        for rule in ("space", "control", "del")
    ],
    ("metadata_too_large.json", TwirpErrorCode.INVALID_ARGUMENT, PREFIX + "metadata size exceeds limits", {}),
    (
        "attributes_too_large.json",
        TwirpErrorCode.INVALID_ARGUMENT,
        PREFIX + "attribute size exceeds limits",
        {},
    ),
    ("room_not_running.json", TwirpErrorCode.UNAVAILABLE, PREFIX + NOT_RUNNING, {}),
    ("canceled_by_deadline.json", TwirpErrorCode.CANCELED, PREFIX + "request canceled", {}),
    ("permissions_denied.json", TwirpErrorCode.UNAUTHENTICATED, "permissions denied", {}),
    (
        "bad_route.json",
        TwirpErrorCode.BAD_ROUTE,
        f'no handler for path "{ROUTE}Nope"',
        {"twirp_invalid_route": f"POST {ROUTE}Nope"},
    ),
    (
        "bad_route_content_type.json",
        TwirpErrorCode.BAD_ROUTE,
        'unexpected Content-Type: "text/plain"',
        {"twirp_invalid_route": f"POST {ROUTE}ListDispatch"},
    ),
    ("malformed.json", TwirpErrorCode.MALFORMED, "the json request could not be decoded", {}),
]


@pytest.mark.parametrize(("name", "code", "message", "meta"), TWIRP_ERRORS, ids=[e[0] for e in TWIRP_ERRORS])
def test_twirp_error_bodies(name: str, code: TwirpErrorCode, message: str, meta: dict[str, str]) -> None:
    exchange = EXCHANGES[name]
    assert (exchange["status"], exchange["content_type"]) == (code.http_status, "application/json")
    err = error_from_response(exchange["status"], body(name))
    assert (err.code, err.message, err.meta, err.status) == (code, message, meta, code.http_status)
    assert not err.from_intermediary


def quoted_token(text: str, error: str) -> str:
    match = re.fullmatch(r"invalid token: ([\w-]+\.[\w-]+\.[\w-]+), error: (.*)", text)
    assert match is not None, text
    assert match.group(2) == error
    return match.group(1)


def test_plain_401s_quote_the_token_they_refuse() -> None:
    expired = (FIXTURE_DIR / "unauthenticated_expired.txt").read_text()
    claims = jwt.decode(
        quoted_token(expired, "token has invalid claims: token is expired"),
        API_SECRET,
        algorithms=["HS256"],
        options={"verify_exp": False},
    )
    assert (claims["iss"], claims["video"]) == (API_KEY, {"roomAdmin": True, "room": ROOM})
    assert claims["exp"] < START_NS // 10**9 - 60  # beyond the server's minute of leeway
    wrong = (FIXTURE_DIR / "unauthenticated_wrong_secret.txt").read_text()
    signed = quoted_token(wrong, "token signature is invalid: signature is invalid")
    # The fixture outlives the token's ten minutes: only its signature is checked here.
    claims = jwt.decode(signed, WRONG_SECRET, algorithms=["HS256"], options={"verify_exp": False})
    assert claims["iss"] == API_KEY
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(signed, API_SECRET, algorithms=["HS256"], options={"verify_exp": False})


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("unauthenticated_wrong_secret.txt", None),
        ("unauthenticated_expired.txt", None),
        ("unauthenticated_unknown_key.txt", f"invalid API key: {UNKNOWN_KEY}"),
        ("unauthenticated_unreadable.txt", "invalid authorization token"),
    ],
)
def test_plain_text_401s_are_mapped_as_an_intermediarys(name: str, text: str | None) -> None:
    exchange = EXCHANGES[name]
    assert (exchange["status"], exchange["content_type"]) == (401, "text/plain; charset=utf-8")
    raw = body(name).decode()
    if text is not None:
        assert raw == text
    err = error_from_response(401, body(name))
    assert (err.code, err.status, err.from_intermediary) == (TwirpErrorCode.UNAUTHENTICATED, 401, True)
    assert err.meta == {"http_error_from_intermediary": "true", "status_code": "401", "body": raw}
    first = raw if len(raw) <= 200 else f"{raw[:200]}... ({len(raw) - 200} more characters)"
    assert err.message == f"the server did not accept the token: check the API key and secret ({first})"
