"""The api secret and the signed tokens never show in reprs, exception texts or log records."""

from __future__ import annotations

import logging
import traceback

import aiohttp
import pytest
from aiohttp import web
from fake_livekit import API_KEY, API_SECRET, FakeLiveKit, late, twirp_error, unused_port

import dispatch_client
from dispatch_client import (
    AgentDispatchService,
    CreateAgentDispatchRequest,
    RetryPolicy,
    TwirpError,
    TwirpErrorCode,
)
from dispatch_client._transport.redact import redacted


async def no_wait(seconds: float) -> None:
    return None


async def echo_in_html(request: web.Request) -> web.Response:
    """A proxy error page that shows the request headers, as some debugging proxies do."""
    return web.Response(status=503, text=f"<pre>{dict(request.headers)}</pre>", content_type="text/html")


async def echo_in_twirp(request: web.Request) -> web.Response:
    auth = request.headers["Authorization"]
    return twirp_error("internal", f"cannot use {auth}", 500, {"authorization": auth})


async def echo_in_200(request: web.Request) -> web.Response:
    return web.Response(text=f"not json: {request.headers['Authorization']}", content_type="application/json")


def texts_of(err: TwirpError) -> list[str]:
    return [str(err), repr(err), err.message, *err.meta.values(), "".join(traceback.format_exception(err))]


async def test_secret_and_tokens_stay_out_of_reprs_errors_and_logs(
    session: aiohttp.ClientSession, url: str, fake: FakeLiveKit, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, aiohttp's and the test server's included
    svc = AgentDispatchService(session, url, API_KEY, API_SECRET, sleep=no_wait)
    seen = [repr(svc), str(svc)]

    created = await svc.create_dispatch(CreateAgentDispatchRequest(agent_name="a", room="r"))
    assert await svc.get_dispatch(created.id, "r") == created
    assert [d.id for d in await svc.list_dispatch("r")] == [created.id]
    assert (await svc.delete_dispatch(created.id, "r")).id == created.id

    errors: list[TwirpError] = []
    failing = [
        (echo_in_html, echo_in_html, echo_in_html),  # retried, then raised
        (echo_in_twirp,),
        (echo_in_200,),
        (late(5),),
    ]
    for handlers in failing:
        fake.respond_with(*handlers)
        with pytest.raises(TwirpError) as err:
            await svc.list_dispatch("r", timeout=1.0)
        errors.append(err.value)
    fake.api_secret = "another-secret-that-is-long-enough-for-hs256-xxxxxxxx"
    with pytest.raises(TwirpError) as err:
        await svc.create_dispatch(CreateAgentDispatchRequest(agent_name="a", room="r"))
    errors.append(err.value)
    refused = AgentDispatchService(session, f"http://127.0.0.1:{unused_port()}", API_KEY, API_SECRET)
    with pytest.raises(TwirpError) as err:
        await refused.list_dispatch("r")
    errors.append(err.value)

    assert [e.code for e in errors] == [
        TwirpErrorCode.UNAVAILABLE,
        TwirpErrorCode.INTERNAL,
        TwirpErrorCode.INTERNAL,
        TwirpErrorCode.DEADLINE_EXCEEDED,
        TwirpErrorCode.UNAUTHENTICATED,
        TwirpErrorCode.UNAVAILABLE,
    ]
    for e in errors:
        seen += texts_of(e)
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    seen += [formatter.format(r) for r in caplog.records]
    haystack = "\n".join(seen)

    tokens = {r.headers["Authorization"].removeprefix("Bearer ") for r in fake.requests}
    assert len(tokens) == 1  # one room, one cached token for the whole flow
    assert API_SECRET not in haystack
    for token in tokens:
        assert token not in haystack
        assert token.rsplit(".", 1)[1] not in haystack  # not even the signature alone
    # The echoes did bring the token back, and the client cut it out.
    assert haystack.count("[redacted]") >= 5
    attempts = [r for r in caplog.records if r.name == "dispatch_client" and r.levelno == logging.DEBUG]
    assert len(attempts) == 14


async def test_a_cause_that_quotes_the_token_is_dropped(
    session: aiohttp.ClientSession, url: str, fake: FakeLiveKit
) -> None:
    async def bad_header(request: web.Request) -> web.StreamResponse:
        # A header line without a colon: the client's HTTP parser refuses it and quotes the
        # line in its exception.
        assert request.transport is not None
        auth = request.headers["Authorization"]
        request.transport.write(f"HTTP/1.1 200 OK\r\nX-Echo {auth}\r\n\r\n".encode())
        request.transport.close()
        return web.Response()

    fake.respond_with(bad_header)
    svc = AgentDispatchService(session, url, API_KEY, API_SECRET, retry=RetryPolicy.none())
    with pytest.raises(TwirpError) as err:
        await svc.create_dispatch(CreateAgentDispatchRequest(agent_name="a", room="r"), timeout=1.0)
    [token] = {r.headers["Authorization"].removeprefix("Bearer ") for r in fake.requests}
    assert token not in "\n".join(texts_of(err.value))
    assert err.value.code is TwirpErrorCode.UNAVAILABLE
    assert "X-Echo Bearer [redacted]" in err.value.meta["detail"]
    assert err.value.__cause__ is None


def chain_of(err: BaseException) -> list[BaseException]:
    """Every exception behind ``err`` through ``__cause__`` and ``__context__``."""
    found: list[BaseException] = []
    todo: list[BaseException | None] = [err.__cause__, err.__context__]
    while todo:
        e = todo.pop()
        if e is None or any(e is f for f in found):
            continue
        found.append(e)
        todo += [e.__cause__, e.__context__]
    return found


NOT_HTTP = {
    "garbage": b"garbage\r\n\r\n",
    "bad_status_line": b"HTTP/1.1 2x0 OK\r\n\r\n",
    "oversized_header": b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n",
}


@pytest.mark.parametrize("raw", NOT_HTTP.values(), ids=NOT_HTTP.keys())
async def test_an_answer_that_is_not_http_keeps_the_token_out_of_the_causes(
    session: aiohttp.ClientSession, url: str, fake: FakeLiveKit, raw: bytes
) -> None:
    async def not_http(request: web.Request) -> web.StreamResponse:
        assert request.transport is not None
        request.transport.write(raw)
        request.transport.close()
        return web.Response()

    fake.respond_with(not_http)
    svc = AgentDispatchService(session, url, API_KEY, API_SECRET, retry=RetryPolicy.none())
    with pytest.raises(TwirpError) as err:
        await svc.list_dispatch("r", timeout=2.0)
    [token] = {r.headers["Authorization"].removeprefix("Bearer ") for r in fake.requests}
    assert err.value.code is TwirpErrorCode.UNAVAILABLE
    causes = chain_of(err.value)
    # aiohttp's error is kept as the cause, with the request it describes cleaned.
    assert isinstance(err.value.__cause__, aiohttp.ClientResponseError)
    assert err.value.__cause__.request_info.headers["Authorization"] == "Bearer [redacted]"
    assert err.value.__cause__.status == 400
    texts = texts_of(err.value) + [repr(e) for e in causes] + [repr(e.args) for e in causes]
    assert not [t for t in texts if token in t]


class QuietError(Exception):
    """An error whose str() is harmless while its repr() (its args) holds a secret."""

    def __str__(self) -> str:
        return "quiet"


def test_a_token_anywhere_behind_the_cause_drops_the_causes() -> None:
    token = "header.payload.signature-0123456789"
    outer = RuntimeError("outer")
    outer.__context__ = QuietError(token)
    err = TwirpError(TwirpErrorCode.UNAVAILABLE, "lost")
    err.__cause__ = outer
    clean = redacted(err, token)
    assert clean is not err
    assert (clean.code, clean.message, clean.__cause__, clean.__context__) == (err.code, "lost", None, None)
    outer.__context__ = QuietError("nothing secret")
    assert redacted(err, token) is err


def chain(e: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    todo: list[BaseException | None] = [e]
    while todo:
        x = todo.pop()
        if x is not None and x not in out:
            out.append(x)
            todo += [x.__cause__, x.__context__]
    return out


@pytest.mark.parametrize("where", ["argument", "environment"])
async def test_a_secret_that_is_not_utf8_is_refused_without_being_shown(
    session: aiohttp.ClientSession, url: str, where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A secret byte that is not UTF-8 arrives as a lone surrogate; pyjwt's
    UnicodeEncodeError quoted the whole secret on every call. Now: ValueError at construction,
    naming the setting, without the value."""
    secret = "s3cr3t-" + b"\xff".decode("utf-8", "surrogateescape") + "-tail-of-the-secret"
    err: pytest.ExceptionInfo[ValueError]
    if where == "argument":
        with pytest.raises(ValueError, match="LIVEKIT_API_SECRET") as err:
            AgentDispatchService(session, url, API_KEY, secret)
    else:
        monkeypatch.setenv("LIVEKIT_API_SECRET", secret)
        with pytest.raises(ValueError, match="LIVEKIT_API_SECRET") as err:
            await dispatch_client.connect(url, API_KEY).__aenter__()
    assert "api_secret" in str(err.value)
    for e in chain(err.value):
        for text in (str(e), repr(e), repr(e.args), "".join(traceback.format_exception(e))):
            assert "tail-of-the-secret" not in text


@pytest.mark.parametrize("bad", [b"bytes-secret-value", 12345678, ["list-secret"]])
def test_a_secret_of_the_wrong_type_is_not_quoted(session: aiohttp.ClientSession, bad: object) -> None:
    with pytest.raises(ValueError, match="api_secret") as err:
        AgentDispatchService(session, "http://127.0.0.1:1", API_KEY, bad)  # type: ignore[arg-type]
    assert "secret-value" not in str(err.value)
    assert "12345678" not in str(err.value)
