"""connect(): settings from arguments or LIVEKIT_* variables, and a session it owns."""

from __future__ import annotations

import pytest
from fake_livekit import API_KEY, API_SECRET, FakeLiveKit, answer
from retrying import unavailable

import dispatch_client
from dispatch_client import (
    AgentDispatchService,
    CreateAgentDispatchRequest,
    RetryPolicy,
    TwirpError,
    TwirpErrorCode,
)

ENV = ("LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


async def test_from_environment(monkeypatch: pytest.MonkeyPatch, url: str, fake: FakeLiveKit) -> None:
    monkeypatch.setenv("LIVEKIT_URL", url.replace("http://", "ws://"))
    monkeypatch.setenv("LIVEKIT_API_KEY", API_KEY)
    monkeypatch.setenv("LIVEKIT_API_SECRET", API_SECRET)
    async with dispatch_client.connect() as svc:
        created = await svc.create_dispatch(CreateAgentDispatchRequest(agent_name="a", room="r"))
        assert await svc.get_dispatch(created.id, "r") == created
    assert len(fake.requests) == 2
    # The session was the context manager's own and is closed now.
    with pytest.raises(TwirpError) as err:
        await svc.list_dispatch("r")
    assert err.value.code is TwirpErrorCode.FAILED_PRECONDITION
    assert len(fake.requests) == 2


async def test_arguments_win_over_environment(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("LIVEKIT_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("LIVEKIT_API_KEY", "wrong")
    monkeypatch.setenv("LIVEKIT_API_SECRET", "wrong")
    async with dispatch_client.connect(url, API_KEY, API_SECRET, timeout=5) as svc:
        assert await svc.list_dispatch("r") == []


async def test_the_options_reach_the_service(url: str, fake: FakeLiveKit) -> None:
    fake.respond_with(unavailable)
    async with dispatch_client.connect(
        url, API_KEY, API_SECRET, timeout=2.5, retry=RetryPolicy.none(), token_ttl=60, max_response_bytes=100
    ) as svc:
        with pytest.raises(TwirpError) as err:
            await svc.list_dispatch("r")
        assert err.value.code is TwirpErrorCode.UNAVAILABLE
        assert len(fake.requests) == 1  # no retry of the 503
        assert 2000 < int(fake.requests[0].headers["X-Twirp-Timeout-Ms"]) <= 2500

        assert await svc.list_dispatch("r") == []
        claims = fake.requests[1].claims
        assert claims is not None
        nbf, exp = claims["nbf"], claims["exp"]
        assert isinstance(nbf, int)
        assert isinstance(exp, int)
        assert exp - nbf == 60

        fake.respond_with(answer(200, '{"agent_dispatches": []}' + " " * 77, "application/json"))
        with pytest.raises(TwirpError) as err:
            await svc.list_dispatch("r")
        assert err.value.code is TwirpErrorCode.INTERNAL
        assert "max_response_bytes=100" in err.value.message
    assert len(fake.requests) == 3


@pytest.mark.parametrize("missing", ENV)
async def test_missing_setting_names_the_variable(monkeypatch: pytest.MonkeyPatch, missing: str) -> None:
    values = {"LIVEKIT_URL": "http://127.0.0.1:1", "LIVEKIT_API_KEY": "k", "LIVEKIT_API_SECRET": "s" * 32}
    for name, value in values.items():
        if name != missing:
            monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=missing):
        async with dispatch_client.connect():
            pass
    monkeypatch.setenv(missing, "")
    with pytest.raises(ValueError, match=missing):
        async with dispatch_client.connect():
            pass


async def test_empty_argument_is_refused() -> None:
    with pytest.raises(ValueError, match="api_key"):
        async with dispatch_client.connect("http://127.0.0.1:1", "", "s" * 32):
            pass


def test_credentials_of_the_wrong_type_are_named_not_quoted() -> None:
    for secret in (b"my-api-secret-bytes-0123456789", 12345):
        with pytest.raises(ValueError, match=r"api_secret \(LIVEKIT_API_SECRET\)") as err:
            AgentDispatchService.open("http://127.0.0.1:7880", "key", secret)  # type: ignore[arg-type]
        assert "my-api-secret" not in str(err.value)
        assert "12345" not in str(err.value)
