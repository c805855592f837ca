"""How the real livekit-server answers tokens it refuses, raw and through the client."""

from __future__ import annotations

import time
from collections.abc import Callable

import aiohttp
import pytest
from e2e_helpers import WRONG_SECRET, Answer, one_attempt, post, token
from livekit_server import RealServer, unique_room

from dispatch_client import AgentDispatchService, CreateAgentDispatchRequest, TwirpError, TwirpErrorCode
from dispatch_client._transport.responses import error_from_response

PLAIN = "text/plain; charset=utf-8"
DENIED = b'{"code":"unauthenticated","msg":"permissions denied"}'


@pytest.fixture
async def room(livekit: RealServer, session: aiohttp.ClientSession) -> str:
    """A running room (its first create starts it), so an accepted token is answered at once."""
    name = unique_room("auth")
    svc = one_attempt(session, livekit.url, livekit.api_key, livekit.api_secret)
    await svc.create_dispatch(CreateAgentDispatchRequest(agent_name="a", room=name))
    return name


async def list_with(
    livekit: RealServer, session: aiohttp.ClientSession, room: str, bearer: str | None
) -> Answer:
    return await post(session, livekit.url, "ListDispatch", {"room": room}, bearer=bearer)


def assert_plain_401(answer: Answer, text: str) -> None:
    """A 401 written by the token check before Twirp: plain text, mapped as an intermediary's."""
    assert (answer.status, answer.content_type, answer.body.decode()) == (401, PLAIN, text)
    err = error_from_response(answer.status, answer.body)
    assert (err.code, err.status, err.from_intermediary) == (TwirpErrorCode.UNAUTHENTICATED, 401, True)
    assert err.meta == {"http_error_from_intermediary": "true", "status_code": "401", "body": text}


def assert_denied(answer: Answer) -> None:
    """A 401 written by the Twirp handler: a Twirp error, not an intermediary's."""
    assert (answer.status, answer.content_type, answer.body) == (401, "application/json", DENIED)
    err = error_from_response(answer.status, answer.body)
    assert (err.code, err.message, err.meta) == (TwirpErrorCode.UNAUTHENTICATED, "permissions denied", {})
    assert not err.from_intermediary


async def test_a_wrong_secret_is_a_plain_401_quoting_the_token(
    livekit: RealServer, session: aiohttp.ClientSession, room: str
) -> None:
    bearer = token(room, key=livekit.api_key, secret=WRONG_SECRET)
    answer = await list_with(livekit, session, room, bearer)
    assert_plain_401(
        answer, f"invalid token: {bearer}, error: token signature is invalid: signature is invalid"
    )


async def test_an_unknown_key_is_a_plain_401_naming_it(
    livekit: RealServer, session: aiohttp.ClientSession, room: str
) -> None:
    answer = await list_with(
        livekit, session, room, token(room, key="APInosuchkey", secret=livekit.api_secret)
    )
    assert_plain_401(answer, "invalid API key: APInosuchkey")


async def test_an_unreadable_token_is_a_plain_401(
    livekit: RealServer, session: aiohttp.ClientSession, room: str
) -> None:
    assert_plain_401(await list_with(livekit, session, room, "not-a-jwt"), "invalid authorization token")


@pytest.mark.parametrize(
    ("shift", "error"),
    [
        (-120, "token has invalid claims: token is expired"),
        (300, "token has invalid claims: token is not valid yet"),
    ],
    ids=["expired-2-minutes-ago", "valid-in-5-minutes"],
)
async def test_a_token_out_of_its_time_is_a_plain_401(
    livekit: RealServer, session: aiohttp.ClientSession, room: str, shift: int, error: str
) -> None:
    # valid for one minute from now + shift: beyond the server's minute of leeway either way
    bearer = token(room, key=livekit.api_key, secret=livekit.api_secret, now=int(time.time()) + shift, ttl=60)
    assert_plain_401(
        await list_with(livekit, session, room, bearer), f"invalid token: {bearer}, error: {error}"
    )


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda now: {"now": now - 90, "ttl": 60}, id="expired-30-s-ago"),
        pytest.param(lambda now: {"now": now + 30, "ttl": 600}, id="valid-in-30-s"),
        pytest.param(lambda now: {"now": now, "ttl": None}, id="no-exp"),
    ],
)
async def test_the_server_accepts_within_its_leeway_and_without_exp(
    livekit: RealServer,
    session: aiohttp.ClientSession,
    room: str,
    make: Callable[[int], dict[str, int | None]],
) -> None:
    times = make(int(time.time()))
    bearer = token(room, key=livekit.api_key, secret=livekit.api_secret, now=times["now"], ttl=times["ttl"])
    answer = await list_with(livekit, session, room, bearer)
    assert answer.status == 200, answer.body
    listed = answer.json()["agent_dispatches"]
    assert isinstance(listed, list)
    assert sorted(d["agent_name"] for d in listed) == ["", "a"]  # the default dispatch and ours


Bearer = Callable[[RealServer, str], "str | None"]


@pytest.mark.parametrize(
    "bearer",
    [
        pytest.param(
            lambda lk, room: token("another-room", key=lk.api_key, secret=lk.api_secret), id="other-room"
        ),
        pytest.param(
            lambda lk, room: token(room, key=lk.api_key, secret=lk.api_secret, admin=False),
            id="no-room-admin",
        ),
        pytest.param(lambda lk, room: None, id="no-authorization-header"),
    ],
)
async def test_a_token_without_room_admin_here_is_permissions_denied(
    livekit: RealServer, session: aiohttp.ClientSession, room: str, bearer: Bearer
) -> None:
    made = bearer(livekit, room)
    assert_denied(await list_with(livekit, session, room, made))
    create = {"room": room, "agent_name": "x"}
    assert_denied(await post(session, livekit.url, "CreateDispatch", create, bearer=made))


@pytest.mark.parametrize(
    ("key", "secret", "body"),
    [
        pytest.param(
            None,
            WRONG_SECRET,
            "invalid token: [redacted], error: token signature is invalid: signature is invalid",
            id="wrong-secret",
        ),
        pytest.param("APInosuchkey", None, "invalid API key: APInosuchkey", id="wrong-key"),
    ],
)
async def test_the_client_with_wrong_credentials(
    livekit: RealServer,
    session: aiohttp.ClientSession,
    room: str,
    key: str | None,
    secret: str | None,
    body: str,
) -> None:
    """The plain-text 401 comes out as ``unauthenticated`` from an intermediary, the token cut out."""
    svc: AgentDispatchService = one_attempt(
        session, livekit.url, key or livekit.api_key, secret or livekit.api_secret
    )
    for call in (
        svc.list_dispatch(room),
        svc.create_dispatch(CreateAgentDispatchRequest(agent_name="x", room=room)),
    ):
        with pytest.raises(TwirpError) as caught:
            await call
        err = caught.value
        assert (err.code, err.status, err.from_intermediary) == (TwirpErrorCode.UNAUTHENTICATED, 401, True)
        assert err.meta == {"http_error_from_intermediary": "true", "status_code": "401", "body": body}
        assert err.message == f"the server did not accept the token: check the API key and secret ({body})"
