"""Every way a call can fail becomes a TwirpError with the right code, message, meta and status."""

from __future__ import annotations

import json
import pickle
from typing import Any

import pytest
from aiohttp import web
from conftest import FIXTURES
from fake_livekit import FakeLiveKit, answer, twirp_error

from dispatch_client import AgentDispatchService, TwirpError, TwirpErrorCode, WaitOutcome

TWIRP_STATUS = {
    "canceled": 408,
    "unknown": 500,
    "invalid_argument": 400,
    "malformed": 400,
    "deadline_exceeded": 408,
    "not_found": 404,
    "bad_route": 404,
    "already_exists": 409,
    "permission_denied": 403,
    "unauthenticated": 401,
    "resource_exhausted": 429,
    "failed_precondition": 412,
    "aborted": 409,
    "out_of_range": 400,
    "unimplemented": 501,
    "internal": 500,
    "unavailable": 503,
    "dataloss": 500,
}


def test_codes_are_the_wire_strings() -> None:
    assert {c.value for c in TwirpErrorCode} == set(TWIRP_STATUS)
    assert {c.value: c.http_status for c in TwirpErrorCode} == TWIRP_STATUS
    assert TwirpErrorCode("not_found") is TwirpErrorCode.NOT_FOUND
    assert isinstance(TwirpErrorCode.NOT_FOUND, str)
    assert f"{TwirpErrorCode.NOT_FOUND}" == "not_found"


@pytest.mark.parametrize("code", sorted(TWIRP_STATUS))
async def test_every_twirp_code(service: AgentDispatchService, fake: FakeLiveKit, code: str) -> None:
    status = TWIRP_STATUS[code]

    async def handler(request: web.Request) -> web.Response:
        return twirp_error(code, f"it is {code} ü", status, {"k": "v", "why": "<because>"})

    fake.respond_with(handler)
    with pytest.raises(TwirpError) as err:
        await service.list_dispatch("r")
    e = err.value
    assert e.code is TwirpErrorCode(code)
    assert e.message == f"it is {code} ü"
    assert e.meta == {"k": "v", "why": "<because>"}
    assert e.status == status
    assert not e.from_intermediary
    assert str(e) == f"{code}: it is {code} ü (HTTP {status})"


RECORDED = [
    x for x in json.loads((FIXTURES / "twirp_errors.json").read_text()) if x["response"]["status"] != 200
]


@pytest.mark.parametrize("case", RECORDED, ids=[x["name"] for x in RECORDED])
async def test_recorded_twirp_server_errors(
    service: AgentDispatchService, fake: FakeLiveKit, case: dict[str, Any]
) -> None:
    r = case["response"]
    fake.respond_with(answer(r["status"], r["body"], r["content_type"]))
    with pytest.raises(TwirpError) as err:
        await service.list_dispatch("r")
    expected = json.loads(r["body"])
    assert err.value.code.value == expected["code"]
    assert err.value.message == expected["msg"]
    assert err.value.meta == expected.get("meta", {})
    assert err.value.status == r["status"]


INTERMEDIARY = [
    (400, TwirpErrorCode.INTERNAL),
    (401, TwirpErrorCode.UNAUTHENTICATED),
    (403, TwirpErrorCode.PERMISSION_DENIED),
    (404, TwirpErrorCode.BAD_ROUTE),
    (413, TwirpErrorCode.RESOURCE_EXHAUSTED),  # beyond the spec: livekit-server's body limit
    (418, TwirpErrorCode.UNKNOWN),
    (429, TwirpErrorCode.RESOURCE_EXHAUSTED),
    (500, TwirpErrorCode.UNKNOWN),
    (502, TwirpErrorCode.UNAVAILABLE),
    (503, TwirpErrorCode.UNAVAILABLE),
    (504, TwirpErrorCode.UNAVAILABLE),
    (201, TwirpErrorCode.UNKNOWN),
]


@pytest.mark.parametrize(("status", "code"), INTERMEDIARY)
@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html"),
        ("", "text/plain"),
        ('{"code":"not_a_twirp_code","msg":"x"}', "application/json"),
        ('{"error":"json but not twirp"}', "application/json"),
        ('{"code":404,"msg":"x"}', "application/json"),
        ("[1, 2]", "application/json"),
    ],
    ids=["html", "empty", "bad-code", "other-json", "numeric-code", "array"],
)
async def test_non_twirp_responses(
    service: AgentDispatchService,
    fake: FakeLiveKit,
    status: int,
    code: TwirpErrorCode,
    body: str,
    content_type: str,
) -> None:
    fake.respond_with(answer(status, body, content_type))
    with pytest.raises(TwirpError) as err:
        await service.list_dispatch("r")
    e = err.value
    assert e.code is code
    assert e.status == status
    assert e.meta == {"http_error_from_intermediary": "true", "status_code": str(status), "body": body}
    assert e.from_intermediary


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_redirects_are_not_followed(
    service: AgentDispatchService, fake: FakeLiveKit, status: int
) -> None:
    fake.respond_with(answer(status, "moved", Location="https://elsewhere.example/twirp/x"))
    with pytest.raises(TwirpError) as err:
        await service.list_dispatch("r")
    e = err.value
    assert e.code is TwirpErrorCode.INTERNAL
    assert e.status == status
    assert e.meta == {
        "http_error_from_intermediary": "true",
        "status_code": str(status),
        "body": "moved",
        "location": "https://elsewhere.example/twirp/x",
    }
    assert len(fake.requests) == 1  # nothing followed the redirect


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"<html>ok</html>",
        b'{"agent_dispatches": "nope"}',
        b'{"agent_dispatches": [{"state": {"created_at": 1.5}}]}',
        b'{"agent_dispatches": [null]}',
        b'{"agent_dispatches": [{"state": {"created_at": "1e9999999999999999999"}}]}',
        b'{"agent_dispatches": [{"state": {"created_at": "5\\n"}}]}',
        b'{"agent_dispatches": [], "future": "\xff"}',
        b"[]",
        b"\xff\xfe",
    ],
)
async def test_200_with_an_invalid_body_is_internal(
    service: AgentDispatchService, fake: FakeLiveKit, body: bytes
) -> None:
    fake.respond_with(answer(200, body, "application/json"))
    with pytest.raises(TwirpError) as err:
        await service.list_dispatch("r")
    assert err.value.code is TwirpErrorCode.INTERNAL
    assert err.value.status == 200
    assert "ListAgentDispatchResponse" in err.value.message
    assert isinstance(err.value.__cause__, ValueError)


def test_errors_pickle_and_compare() -> None:
    e = TwirpError(TwirpErrorCode.NOT_FOUND, "gone", meta={"a": "b"}, status=404)
    back = pickle.loads(pickle.dumps(e))
    assert isinstance(back, TwirpError)
    assert (back.code, back.message, back.meta, back.status) == (e.code, e.message, e.meta, e.status)
    assert repr(back) == "TwirpError(code='not_found', message='gone', meta={'a': 'b'}, status=404)"
    assert str(TwirpError(TwirpErrorCode.UNAVAILABLE, "down")) == "unavailable: down"


async def test_meta_values_that_are_not_strings(service: AgentDispatchService, fake: FakeLiveKit) -> None:
    body = '{"code": "aborted", "msg": "m", "meta": {"n": 1, "s": "x", "l": [1, "a"], "z": null}}'
    fake.respond_with(answer(409, body, "application/json"))
    with pytest.raises(TwirpError) as err:
        await service.list_dispatch("r")
    assert err.value.code is TwirpErrorCode.ABORTED
    assert err.value.meta == {"n": "1", "s": "x", "l": '[1,"a"]', "z": "null"}


async def test_meta_nested_deeper_than_orjson_writes(
    service: AgentDispatchService, fake: FakeLiveKit
) -> None:
    # orjson reads 1024 levels of nesting but writes only 254: the value is kept as text anyway.
    deep = "[" * 300 + "]" * 300
    fake.respond_with(
        answer(500, f'{{"code":"internal","msg":"x","meta":{{"k":{deep}}}}}', "application/json")
    )
    with pytest.raises(TwirpError) as err:
        await service.list_dispatch("r")
    assert err.value.code is TwirpErrorCode.INTERNAL
    assert err.value.meta["k"].startswith("[[[")


async def test_a_redirect_with_a_twirp_body_is_still_a_redirect(
    service: AgentDispatchService, fake: FakeLiveKit
) -> None:
    fake.respond_with(answer(307, '{"code":"not_found","msg":"nope"}', "application/json", Location="/x"))
    with pytest.raises(TwirpError) as err:
        await service.list_dispatch("r")
    assert err.value.code is TwirpErrorCode.INTERNAL
    assert err.value.meta["location"] == "/x"
    assert err.value.meta["body"] == '{"code":"not_found","msg":"nope"}'


async def test_livekit_servers_plain_401_says_what_to_check(
    service: AgentDispatchService, fake: FakeLiveKit
) -> None:
    """The token check's plain-text 401 read "from a non-Twirp responder", sending the
    user looking for a proxy. The body (the token cut out of it) stays in meta."""

    async def refuse(request: web.Request) -> web.Response:
        token = request.headers["Authorization"].removeprefix("Bearer ")
        body = f"invalid token: {token}, error: token signature is invalid: signature is invalid"
        return web.Response(status=401, text=body)

    fake.respond_with(refuse)
    with pytest.raises(TwirpError) as err:
        await service.list_dispatch("r")
    assert err.value.code is TwirpErrorCode.UNAUTHENTICATED
    assert "non-Twirp" not in err.value.message
    assert "check the API key and secret" in err.value.message
    assert err.value.meta["body"].startswith("invalid token: [redacted], error: token signature")


async def test_what_an_error_carries_is_capped(service: AgentDispatchService, fake: FakeLiveKit) -> None:
    """A non-200 body was kept whole in meta["body"] (15 MiB seen); a Twirp error's
    message and meta are the server's to size as well."""
    big = "x" * (15 << 20)
    meta = {f"k{i}": big[:10_000] for i in range(100)}
    twirp = json.dumps({"code": "internal", "msg": big, "meta": {big[:1000]: "v", **meta}})
    fake.respond_with(
        answer(502, big, content_type="text/html"), answer(500, twirp, content_type="application/json")
    )
    for _ in range(2):
        with pytest.raises(TwirpError) as err:
            await service.list_dispatch("r")
        e = err.value
        assert len(e.message) < 5000
        assert len(e.meta) <= 64
        assert all(len(k) < 300 and len(v) < 5000 for k, v in e.meta.items())
        assert len(repr(e)) < 64 * 5500


def test_str_says_what_an_unknown_outcome_means() -> None:
    e = TwirpError(TwirpErrorCode.UNAVAILABLE, "CreateDispatch: connection lost", outcome_unknown=True)
    assert str(e) == (
        "unavailable: CreateDispatch: connection lost: it may have been done all the same (the answer "
        "was lost and could not be checked): look with list_dispatch before repeating it"
    )


@pytest.mark.parametrize("outcome", list(WaitOutcome))
def test_str_says_why_a_wait_ended_in_words(outcome: WaitOutcome) -> None:
    e = TwirpError(TwirpErrorCode.DEADLINE_EXCEEDED, "no job for dispatch AD_1 within 15 s")
    e.wait_outcome = outcome
    text = str(e)
    assert text.startswith("deadline_exceeded: no job for dispatch AD_1 within 15 s: ")
    assert len(text) > len("deadline_exceeded: no job for dispatch AD_1 within 15 s: ") + 30
    assert pickle.loads(pickle.dumps(e)).__str__() == text


def test_str_of_a_wait_that_found_no_worker() -> None:
    e = TwirpError(
        TwirpErrorCode.DEADLINE_EXCEEDED, "no job for dispatch AD_1 within 15 s: no worker took it"
    )
    e.wait_outcome = WaitOutcome.NO_JOB
    assert str(e) == (
        "deadline_exceeded: no job for dispatch AD_1 within 15 s: no worker took it: no agent came: "
        "is an agent worker running, registered under the dispatch's agent_name?"
    )


def test_a_wait_ended_by_a_room_not_running_says_so_once() -> None:
    e = TwirpError(TwirpErrorCode.UNAVAILABLE, "twirp error unknown: no response from servers", status=503)
    e.wait_outcome = WaitOutcome.ROOM_NOT_RUNNING
    assert str(e) == (
        "unavailable: twirp error unknown: no response from servers (HTTP 503): no node runs the room "
        "(it never started or it closed; in a cluster, its node may be down or Redis away)"
    )
