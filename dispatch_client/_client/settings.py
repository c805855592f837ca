"""Where a service's settings come from: arguments first, then the ``LIVEKIT_*`` environment."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from .._auth.presigned import PresignedToken
from .._auth.signer import Signer, TokenSigner
from .._checks import require_credential, require_text
from .._transport.regions import Regions
from .._transport.sources import require_urls

__all__ = ["from_environment", "regions_for", "signer_for"]


def _setting(name: str, value: str | None, env: str) -> str:
    if value is not None:
        # Credentials are never quoted in an error: only named, with their variable.
        return require_text(name, value) if name == "url" else require_credential(name, value, env)
    value = os.environ.get(env)
    if not value:
        raise ValueError(f"{env} is not set: pass {name}= or set the environment variable")
    return value


def from_environment(
    url: str | None,
    api_key: str | None,
    api_secret: str | None,
    token: str | None,
    *,
    urls: Sequence[str] = (),
) -> tuple[str, str | None, str | None, str | None]:
    """(url, api_key, api_secret, token) with what is left out read from the environment.

    Without ``url``, the first of ``urls`` when there are any, else ``LIVEKIT_URL`` (which may
    list several nodes, separated by commas). Credentials passed as arguments win; else
    ``LIVEKIT_TOKEN`` (a pre-signed token, as the official SDKs read it); else
    ``LIVEKIT_API_KEY`` and ``LIVEKIT_API_SECRET``.
    """
    given = require_urls(urls)
    url = given[0] if url is None and given else _setting("url", url, "LIVEKIT_URL")
    if token is None and api_key is None and api_secret is None:
        token = os.environ.get("LIVEKIT_TOKEN") or None
    if token is None:
        api_key = _setting("api_key", api_key, "LIVEKIT_API_KEY")
        api_secret = _setting("api_secret", api_secret, "LIVEKIT_API_SECRET")
    return url, api_key, api_secret, token


def signer_for(
    api_key: str | None, api_secret: str | None, token: str | None, *, ttl: float, clock: Callable[[], float]
) -> Signer:
    """Tokens signed here from the key and secret, or the one token given, never both."""
    if token is not None:
        if api_key is not None or api_secret is not None:
            raise ValueError("pass token= or api_key and api_secret, not both")
        return PresignedToken(token, clock=clock)
    return TokenSigner(api_key, api_secret, ttl=ttl, clock=clock)  # type: ignore[arg-type]


def regions_for(failover: bool, cloud_hosts: tuple[str, ...]) -> Regions | None:
    """Region discovery for hosts matching ``cloud_hosts``, or None with failover off."""
    if not isinstance(failover, bool):
        raise ValueError(f"failover must be a bool, got {failover!r}")
    return Regions(cloud_hosts) if failover else None
