"""How long a timeout may be (at most 1e9 s, a header that fits a 64-bit integer), and one already spent."""

from __future__ import annotations

import asyncio
import sys

import aiohttp
import pytest
from fake_livekit import API_KEY, API_SECRET, FakeLiveKit

import dispatch_client
from dispatch_client import AgentDispatchService, TwirpError, TwirpErrorCode
from dispatch_client._transport.request import timeout_ms

INT64_MAX = 2**63 - 1
TOO_LONG = [1e9 + 1, 1e20, 1e306, sys.float_info.max, 10**308]


@pytest.mark.parametrize("too_long", TOO_LONG, ids=["1e9+1", "1e20", "1e306", "float_max", "10**308"])
async def test_a_timeout_over_1e9_seconds_is_a_value_error(
    session: aiohttp.ClientSession, url: str, fake: FakeLiveKit, too_long: float
) -> None:
    with pytest.raises(ValueError, match=r"timeout must be a positive number of seconds, at most 1e\+09"):
        AgentDispatchService(session, url, API_KEY, API_SECRET, timeout=too_long)
    with pytest.raises(ValueError, match="timeout"):
        async with dispatch_client.connect(url, API_KEY, API_SECRET, timeout=too_long):
            pass
    svc = AgentDispatchService(session, url, API_KEY, API_SECRET)
    with pytest.raises(ValueError, match="timeout"):
        await svc.list_dispatch("r", timeout=too_long)
    assert fake.requests == []


@pytest.mark.parametrize("too_long", [1e9 + 1, 1e20])
def test_a_token_ttl_over_1e9_seconds_is_a_value_error(
    session: aiohttp.ClientSession, url: str, too_long: float
) -> None:
    with pytest.raises(ValueError, match="token_ttl"):
        AgentDispatchService(session, url, API_KEY, API_SECRET, token_ttl=too_long)


@pytest.mark.parametrize("where", ["service", "call"])
async def test_the_longest_timeout_sends_a_header_that_fits_int64(
    session: aiohttp.ClientSession, url: str, fake: FakeLiveKit, where: str
) -> None:
    if where == "service":
        svc = AgentDispatchService(session, url, API_KEY, API_SECRET, timeout=1e9)
        assert await svc.list_dispatch("r") == []
    else:
        svc = AgentDispatchService(session, url, API_KEY, API_SECRET)
        assert await svc.list_dispatch("r", timeout=10**9) == []
    [request] = fake.requests
    header = request.headers["X-Twirp-Timeout-Ms"]
    assert header.isdigit()
    assert 999_999_000_000 < int(header) <= 1_000_000_000_000 <= INT64_MAX


@pytest.mark.parametrize(
    ("remaining", "expected"),
    [
        (1e-9, 1),
        (0.0015, 2),
        (2.5, 2500),
        (1e9, 1_000_000_000_000),
        (9.2e15, 9_200_000_000_000_000_000),
        (9.3e15, INT64_MAX),
        (1e20, INT64_MAX),
        (1e306, INT64_MAX),
        (float("inf"), INT64_MAX),
    ],
)
def test_the_header_is_capped_at_int64(remaining: float, expected: int) -> None:
    assert timeout_ms(remaining) == expected


@pytest.mark.parametrize("tiny", [1e-9, 5e-324])
async def test_a_deadline_spent_before_the_first_attempt(
    session: aiohttp.ClientSession, url: str, fake: FakeLiveKit, tiny: float
) -> None:
    svc = AgentDispatchService(session, url, API_KEY, API_SECRET)
    with pytest.raises(TwirpError) as err:
        await svc.list_dispatch("r", timeout=tiny)
    assert err.value.code is TwirpErrorCode.DEADLINE_EXCEEDED
    assert err.value.status is None
    assert isinstance(err.value.__cause__, asyncio.TimeoutError)  # as for one that runs out later
    assert fake.requests == []
