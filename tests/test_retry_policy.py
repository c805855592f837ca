"""RetryPolicy on its own: full-jitter backoff, its checks, and turning retries off."""

from __future__ import annotations

import aiohttp
import pytest
from fake_livekit import FakeLiveKit
from retrying import Sleeps, make, unavailable

from dispatch_client import RetryPolicy, TwirpError, TwirpErrorCode


async def test_retry_policy_none(session: aiohttp.ClientSession, url: str, fake: FakeLiveKit) -> None:
    sleeps = Sleeps()
    assert RetryPolicy.none() == RetryPolicy(attempts=1)
    fake.respond_with(unavailable)
    with pytest.raises(TwirpError) as err:
        await make(session, url, sleeps, retry=RetryPolicy.none()).list_dispatch("r")
    assert err.value.code is TwirpErrorCode.UNAVAILABLE
    assert len(fake.requests) == 1
    assert sleeps.calls == []


def test_backoff_is_exponential_with_full_jitter() -> None:
    p = RetryPolicy(attempts=6, initial_backoff=0.1, max_backoff=1.0)
    assert [p.backoff(n, 1.0) for n in range(1, 7)] == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])
    assert [p.backoff(n, 0.0) for n in range(1, 7)] == [0.0] * 6
    assert p.backoff(3, 0.25) == pytest.approx(0.1)
    assert p.backoff(10_000, 0.5) == pytest.approx(0.5)  # no overflow far out
    assert RetryPolicy().backoff(1, 0.999) == pytest.approx(0.0999)


@pytest.mark.parametrize(
    "kw",
    [
        {"attempts": 0},
        {"attempts": True},
        {"attempts": 2.0},
        {"initial_backoff": -1.0},
        {"initial_backoff": "0.1"},
        {"max_backoff": float("inf")},
        {"max_backoff": float("nan")},
    ],
)
def test_bad_policies(kw: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=next(iter(kw))):
        RetryPolicy(**kw)  # type: ignore[arg-type]
