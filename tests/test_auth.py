"""Tokens: the claims livekit-server checks, their lifetime, and reuse under an injected clock."""

from __future__ import annotations

import jwt
import pytest
from fake_livekit import API_KEY, API_SECRET

from dispatch_client._auth.signer import TokenSigner


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


T0 = 1_900_000_000.25


def claims(token: str, secret: str = API_SECRET) -> dict[str, object]:
    return jwt.decode(token, secret, algorithms=["HS256"], options={"verify_nbf": False, "verify_exp": False})


def test_claims_and_header() -> None:
    signer = TokenSigner(API_KEY, API_SECRET, clock=Clock(T0))
    token = signer.token("call-42")
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT"}
    assert claims(token) == {
        "iss": API_KEY,
        "nbf": 1_900_000_000,
        "exp": 1_900_000_600,
        "video": {"roomAdmin": True, "room": "call-42"},
    }
    with pytest.raises(jwt.InvalidSignatureError):
        claims(token, secret="not-the-secret-but-just-as-long-as-the-real-one-000")


def test_ttl_is_configurable() -> None:
    token = TokenSigner(API_KEY, API_SECRET, ttl=60, clock=Clock(T0)).token("r")
    c = claims(token)
    assert c["exp"] == 1_900_000_060


def test_tokens_are_reused_until_half_their_life() -> None:
    clock = Clock(T0)
    signer = TokenSigner(API_KEY, API_SECRET, clock=clock)
    first = signer.token("r")
    clock.now = T0 + 299
    assert signer.token("r") == first
    clock.now = T0 + 300
    second = signer.token("r")
    assert second != first
    assert claims(second)["nbf"] == 1_900_000_300
    clock.now = T0 + 301
    assert signer.token("r") == second


def test_one_token_per_room() -> None:
    signer = TokenSigner(API_KEY, API_SECRET, clock=Clock(T0))
    a, b = signer.token("a"), signer.token("b")
    assert a != b
    video = claims(b)["video"]
    assert isinstance(video, dict)
    assert video["room"] == "b"
    assert signer.token("a") == a


def test_the_cache_is_bounded() -> None:
    signer = TokenSigner(API_KEY, API_SECRET, clock=Clock(T0))
    first = signer.token("room-0")
    for i in range(1, 1100):
        signer.token(f"room-{i}")
    assert len(signer._cache) == 1024
    assert ("room-0", False) not in signer._cache
    assert signer.token("room-1099") is signer.token("room-1099")
    assert signer.token("room-0") == first  # re-signed with the same clock: same bytes


@pytest.mark.parametrize(
    ("key", "secret", "ttl", "problem"),
    [("", "s" * 32, 600.0, "api_key"), ("k", "", 600.0, "api_secret"), ("k", "s" * 32, 0.0, "ttl")],
)
def test_bad_settings(key: str, secret: str, ttl: float, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        TokenSigner(key, secret, ttl=ttl)


def test_short_secrets_warn_but_work() -> None:
    # LiveKit's development secrets are often short; pyjwt's warning is passed on, not hidden.
    signer = TokenSigner("devkey", "secret", clock=Clock(T0))
    with pytest.warns(jwt.warnings.InsecureKeyLengthWarning):
        token = signer.token("r")
    with pytest.warns(jwt.warnings.InsecureKeyLengthWarning):
        assert claims(token, secret="secret")["iss"] == "devkey"


def test_the_cache_keeps_the_rooms_in_use() -> None:
    signer = TokenSigner(API_KEY, API_SECRET, clock=Clock(T0))
    busy = signer.token("busy")
    for i in range(1023):
        signer.token(f"room-{i}")
    assert signer.token("busy") is busy  # a hit makes it the most recently used
    signer.token("one-more")
    assert ("room-0", False) not in signer._cache
    assert signer.token("busy") is busy


@pytest.mark.parametrize("ttl", [0.5, 1, 9.99])
def test_a_token_ttl_under_10_seconds_is_refused(ttl: float) -> None:
    with pytest.raises(ValueError, match="token_ttl must be at least 10 seconds"):
        TokenSigner(API_KEY, API_SECRET, ttl=ttl)


@pytest.mark.parametrize(("ttl", "life"), [(10, 10), (10.9, 10), (61, 61)])
def test_every_token_handed_out_has_over_half_its_life_left(ttl: float, life: int) -> None:
    clock = Clock(T0)
    signer = TokenSigner(API_KEY, API_SECRET, ttl=ttl, clock=clock)
    signed = set()
    for step in range(400):
        clock.now = T0 + step * 0.37  # lands at every fraction of a second in turn
        token = signer.token("r")
        signed.add(token)
        c = claims(token)
        nbf, exp = c["nbf"], c["exp"]
        assert isinstance(nbf, int)
        assert isinstance(exp, int)
        assert exp - nbf == life
        assert nbf <= clock.now
        assert exp - clock.now > life / 2
    assert len(signed) == pytest.approx(399 * 0.37 / (life / 2), abs=3)  # about one per life / 2
