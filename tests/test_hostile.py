"""Whatever a server sends back, a call returns a message or raises TwirpError, nothing else.

A real aiohttp server on 127.0.0.1 answers each call with what hypothesis draws: any
status, content type, encoding or ``Retry-After``; bodies that are random bytes, invalid
UTF-8, JSON nested past any parser's limit, bodies over the cap, or JSON shaped like the
expected message with a wrong JSON type in any field (the field names come from
livekit-protocol's descriptors); answers cut off mid-body; raw bytes that are barely HTTP.
Runs are derandomized: the same examples every time.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from fake_livekit import API_KEY, API_SECRET
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from livekit.protocol import agent_dispatch as pb

from dispatch_client import (
    AgentDispatch,
    AgentDispatchService,
    CreateAgentDispatchRequest,
    RetryPolicy,
    TwirpError,
    TwirpErrorCode,
)
from dispatch_client.codec import container_limit

CAP = 4096
VALID = {
    "AgentDispatch": b'{"id": "AD_1", "room": "r", "state": {"created_at": "1", "jobs": []}}',
    "ListAgentDispatchResponse": b'{"agent_dispatches": [{"id": "AD_1", "room": "r"}]}',
}
SETTINGS = settings(
    max_examples=150,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

Call = Callable[[AgentDispatchService], Awaitable[object]]
CALLS: dict[str, tuple[Call, Any]] = {
    "create": (
        lambda s: s.create_dispatch(CreateAgentDispatchRequest(agent_name="a", room="r")),
        pb.AgentDispatch.DESCRIPTOR,
    ),
    "delete": (lambda s: s.delete_dispatch("AD_1", "r"), pb.AgentDispatch.DESCRIPTOR),
    "list": (lambda s: s.list_dispatch("r"), pb.ListAgentDispatchResponse.DESCRIPTOR),
    "get": (lambda s: s.get_dispatch("AD_1", "r"), pb.ListAgentDispatchResponse.DESCRIPTOR),
}

header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)
any_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats()
    | st.text(max_size=10)
    | st.sampled_from(
        ["JS_RUNNING", "JRP_NEVER", "-5", "1e999", "18446744073709551616", "1e9999999999999999999", "5\n"]
    ),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


@st.composite
def shaped(draw: st.DrawFn, desc: Any, depth: int = 0) -> dict[str, Any]:
    """A JSON object with the message's field names, each holding a right or a wrong value."""
    out: dict[str, Any] = {}
    for f in desc.fields:
        if not draw(st.booleans()):
            continue
        key = draw(st.sampled_from([f.name, f.json_name]))
        if f.message_type is not None and depth < 4 and draw(st.booleans()):
            one = shaped(f.message_type, depth + 1)
            out[key] = draw(st.lists(one, max_size=2) if f.is_repeated else one)
        else:
            out[key] = draw(any_json)
    return out


def deep(n: int, opener: str) -> bytes:
    closer = {"[": "]", '{"a":': "}", '{"agent_dispatches":[': "]}"}[opener]
    return (opener * n + "0" + closer * n).encode()


@dataclasses.dataclass(frozen=True)
class Answer:
    mode: str  # "whole", "cut" (closed mid-body) or "raw" (bytes written on the socket)
    status: int
    headers: dict[str, str]
    body: bytes


@st.composite
def answers(draw: st.DrawFn, desc: Any) -> Answer:
    body = draw(
        st.one_of(
            st.binary(max_size=200),
            st.just(VALID[desc.name]),
            st.builds(lambda doc: json.dumps(doc).encode(), shaped(desc)),
            st.builds(lambda doc: json.dumps(doc).encode(), any_json),
            st.builds(
                lambda c, m, meta: json.dumps({"code": c, "msg": m, "meta": meta}).encode(),
                st.sampled_from([e.value for e in TwirpErrorCode]) | any_json,
                any_json,
                any_json,
            ),
            st.builds(deep, st.integers(1, 1500), st.sampled_from(["[", '{"a":', '{"agent_dispatches":['])),
            st.builds(lambda n: b'{"id": "' + b"\xff\xfe\xc0" * n + b'"}', st.integers(1, 50)),
            st.builds(lambda n: b" " * n + b"{}", st.integers(CAP - 10, 3 * CAP)),
        )
    )
    headers: dict[str, str] = {}
    if draw(st.booleans()):
        headers["Content-Type"] = draw(
            st.sampled_from(["application/json", "text/html", "text/plain; charset=latin-1"]) | header_text
        )
    if draw(st.integers(0, 4)) == 0:
        headers["Content-Encoding"] = draw(st.sampled_from(["gzip", "deflate", "br", "zstd", "x-bogus"]))
    if draw(st.integers(0, 3)) == 0:
        headers["Retry-After"] = draw(
            st.sampled_from(["0", "1", "Wed, 21 Oct 2015 07:28:00 GMT"]) | header_text
        )
    mode = draw(st.sampled_from(["whole", "whole", "cut", "raw"]))
    status = draw(
        st.integers(0, 999)
        if mode == "raw"
        else st.sampled_from([200, 200, 201, 204, 400, 404, 429, 500, 502, 503, 504]) | st.integers(200, 599)
    )
    return Answer(mode, status, headers, body)


async def serve(answer: Answer, request: web.Request) -> web.StreamResponse:
    await request.read()
    transport = request.transport
    assert transport is not None
    if answer.mode == "raw":
        head = "".join(f"{k}: {v}\r\n" for k, v in answer.headers.items())
        transport.write(f"HTTP/1.1 {answer.status} X\r\n{head}\r\n".encode() + answer.body)
        transport.close()
        return web.Response()
    if answer.mode == "cut":
        resp = web.StreamResponse(status=answer.status, headers=answer.headers)
        resp.content_length = len(answer.body) + 10
        await resp.prepare(request)
        await resp.write(answer.body)
        transport.close()
        return resp
    return web.Response(status=answer.status, headers=answer.headers, body=answer.body)


@dataclasses.dataclass
class Stage:
    answer: Answer | None = None
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]] | None = None


@pytest.fixture
async def stage() -> AsyncIterator[tuple[Stage, str]]:
    current = Stage()

    async def handler(request: web.Request) -> web.StreamResponse:
        if current.handler is not None:
            return await current.handler(request)
        assert current.answer is not None
        return await serve(current.answer, request)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield current, str(server.make_url(""))
    await server.close()


async def no_wait(seconds: float) -> None:
    return None


@pytest.mark.parametrize("method", sorted(CALLS))
@SETTINGS
@given(data=st.data())
async def test_only_twirp_errors_leave_a_call(
    stage: tuple[Stage, str], session: aiohttp.ClientSession, method: str, data: st.DataObject
) -> None:
    current, url = stage
    call, desc = CALLS[method]
    svc = AgentDispatchService(
        session,
        url,
        API_KEY,
        API_SECRET,
        timeout=2.0,
        max_response_bytes=CAP,
        retry=RetryPolicy(attempts=2),
        sleep=no_wait,
    )
    answer = current.answer = data.draw(answers(desc))
    try:
        result = await call(svc)
    except TwirpError as e:
        event(f"{answer.mode}: {e.code}")  # pytest --hypothesis-show-statistics shows the mix
        check_error(answer, e)
    else:
        event(f"{answer.mode}: a result")
        check_result(answer, method, result)


def check_error(answer: Answer, e: TwirpError) -> None:
    assert isinstance(e.code, TwirpErrorCode)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in e.meta.items())
    assert str(e)
    assert repr(e)
    if answer.mode == "raw":
        return
    if (
        answer.mode == "whole"
        and "Content-Encoding" not in answer.headers
        and answer.status not in (204, 304)
    ):
        assert e.status == answer.status  # a well-formed answer came: its status is kept
    else:
        # An encoding the client cannot undo fails as the headers are read, and body bytes
        # after a 204 or a cut answer are not HTTP: no status to keep then.
        assert e.status in (answer.status, None)
    if answer.mode == "whole" and answer.status == 200:
        assert e.code in (TwirpErrorCode.INTERNAL, TwirpErrorCode.UNAVAILABLE)


def check_result(answer: Answer, method: str, result: object) -> None:
    assert answer.mode != "cut"  # an answer cut short never passes for a whole one
    if answer.mode == "whole":
        assert answer.status == 200
    if method in ("create", "delete"):
        assert isinstance(result, AgentDispatch)
    elif method == "list":
        assert isinstance(result, list)
        assert all(isinstance(d, AgentDispatch) for d in result)
    else:
        assert result is None or isinstance(result, AgentDispatch)


def escaped(text: str, mask: list[bool]) -> str:
    """``text`` as JSON string content, each character escaped as \\uXXXX where ``mask`` says."""
    return "".join(f"\\u{ord(c):04x}" if mask[i % len(mask)] else c for i, c in enumerate(text))


PLACES = ["msg", "meta key", "meta value", "nested meta value", "nested meta key", "code", "401 text"]


@st.composite
def token_echoes(draw: st.DrawFn) -> tuple[str, list[bool], int]:
    """Where an answer echoes the request's token, and which of its characters are escaped."""
    return (
        draw(st.sampled_from(PLACES)),
        draw(st.lists(st.booleans(), min_size=1, max_size=7)),
        draw(st.sampled_from([400, 401, 500, 503])),
    )


def echo_body(place: str, token: str, mask: list[bool]) -> bytes:
    t = escaped(token, mask)
    if place == "401 text":
        return f"invalid token: {token}, error: token signature is invalid".encode()
    doc = {
        "msg": f'{{"code": "internal", "msg": "bad {t}", "meta": {{}}}}',
        "meta key": f'{{"code": "internal", "msg": "m", "meta": {{"k {t}": "v"}}}}',
        "meta value": f'{{"code": "internal", "msg": "m", "meta": {{"k": "v {t}"}}}}',
        "nested meta value": f'{{"code": "internal", "msg": "m", "meta": {{"k": ["{t}", {{"x": "{t}"}}]}}}}',
        "nested meta key": f'{{"code": "internal", "msg": "m", "meta": {{"k": {{"{t}": 1}}}}}}',
        "code": f'{{"code": "{t}", "msg": "{t}", "meta": {{"{t}": "{t}"}}}}',
    }[place]
    return doc.encode()


@pytest.mark.parametrize("method", sorted(CALLS))
@SETTINGS
@given(echo=token_echoes())
async def test_an_echoed_token_is_redacted_wherever_the_body_puts_it(
    stage: tuple[Stage, str], session: aiohttp.ClientSession, method: str, echo: tuple[str, list[bool], int]
) -> None:
    """A token JSON-escaped in a Twirp error's meta key reached e.meta and repr(e)."""
    current, url = stage
    place, mask, status = echo
    seen: list[str] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        token = request.headers["Authorization"].removeprefix("Bearer ")
        seen.append(token)
        ctype = "text/plain" if place == "401 text" else "application/json"
        return web.Response(status=status, body=echo_body(place, token, mask), content_type=ctype)

    current.handler = handler
    svc = AgentDispatchService(session, url, API_KEY, API_SECRET, retry=RetryPolicy.none())
    call, _ = CALLS[method]
    with pytest.raises(TwirpError) as err:
        await call(svc)
    [token] = set(seen)
    texts = [str(err.value), repr(err.value), repr(err.value.args), repr(err.value.meta)]
    behind: list[BaseException | None] = [err.value.__cause__, err.value.__context__]
    while behind:
        e = behind.pop()
        if e is not None:
            texts += [str(e), repr(e), repr(e.args)]
            behind += [e.__cause__, e.__context__]
    assert not [t for t in texts if token in t]


def empty_objects(dispatches: int, jobs: int, shape: str) -> bytes:
    """A list answer of ``dispatches`` dispatches, each holding ``jobs`` empty things."""
    inner = {
        "jobs": '{"state": {"jobs": [' + ",".join(["{}"] * jobs) + "]}}",
        "unknown key": '{"x": [' + ",".join(["{}"] * jobs) + "]}",
        "lists": '{"state": {"jobs": [' + ",".join(["[]"] * jobs) + "]}}",
        "deep": '{"x": ' + "[" * (1 + jobs % 500) + "]" * (1 + jobs % 500) + "}",
    }[shape]
    return ('{"agent_dispatches": [' + ",".join([inner] * dispatches) + "]}").encode()


@SETTINGS
@given(
    dispatches=st.integers(1, 40),
    jobs=st.integers(0, 3000),
    shape=st.sampled_from(["jobs", "unknown key", "lists", "deep"]),
)
async def test_lists_of_empty_objects_are_bounded(
    stage: tuple[Stage, str], session: aiohttp.ClientSession, dispatches: int, jobs: int, shape: str
) -> None:
    """An answer may hold at most container_limit(max_response_bytes) objects and
    arrays; past that it is ``internal``, before anything is built; under it, it decodes."""
    current, url = stage
    body = empty_objects(dispatches, jobs, shape)
    current.answer = Answer("whole", 200, {"Content-Type": "application/json"}, body)
    cap = 1 << 20
    svc = AgentDispatchService(session, url, API_KEY, API_SECRET, max_response_bytes=cap, timeout=5)
    containers = body.count(b"{") + body.count(b"[")
    if containers > container_limit(cap):
        with pytest.raises(TwirpError) as err:
            await svc.list_dispatch("r")
        assert err.value.code is TwirpErrorCode.INTERNAL
        assert "JSON objects and arrays" in err.value.message
    elif shape == "lists" and jobs:
        with pytest.raises(TwirpError) as err:
            await svc.list_dispatch("r")
        assert err.value.code is TwirpErrorCode.INTERNAL  # a list is no Job
    else:
        found = await svc.list_dispatch("r")
        assert len(found) == dispatches
        if shape == "jobs":
            assert all(d.state is not None and len(d.state.jobs) == jobs for d in found)
