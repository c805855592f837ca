"""The api secret and the signed tokens never show in reprs, exception texts or log records."""

from __future__ import annotations

import logging
import traceback

import aiohttp
import pytest
from aiohttp import web
from fake_livekit import API_KEY, API_SECRET, FakeLiveKit, late, twirp_error, unused_port

from dispatch_client import (
    AgentDispatchService,
    CreateAgentDispatchRequest,
    RetryPolicy,
    TwirpError,
    TwirpErrorCode,
)


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
    assert "X-Echo Bearer [redacted]" in err.value.message
    assert err.value.__cause__ is None
