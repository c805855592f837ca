"""What a ``GET /settings/regions`` answer says: the regions' URLs, checked as the configured
URL is, and how long the list may be kept (its ``Cache-Control``)."""

from __future__ import annotations

from yarl import URL

from .request import base_url

__all__ = [
    "MAX_CACHE_SECONDS",
    "Unusable",
    "cache_seconds",
    "host_port",
    "http_url",
    "region_urls",
    "well_formed",
]

MAX_CACHE_SECONDS = 24 * 3600  # a longer max-age is cut to this
_HTTP_SCHEMES = {"http": "http", "https": "https", "ws": "http", "wss": "https"}


class Unusable(ValueError):
    """The answer is not a region list."""


def http_url(url: str) -> URL | None:
    """``url`` as an absolute http(s) URL with a host (ws -> http, wss -> https), else None."""
    try:
        parsed = URL(url)
        scheme = _HTTP_SCHEMES.get(parsed.scheme.lower())
        if scheme is None or not parsed.host or not parsed.is_absolute():
            return None
        parsed = parsed.with_scheme(scheme)
    except (ValueError, TypeError):
        return None
    return parsed


def host_port(url: URL) -> str:
    return f"{(url.host or '').lower()}:{url.port}"


def cache_seconds(values: list[str]) -> float:
    """Seconds the answer may be kept: its ``max-age``, 0 without one or with no-store/no-cache."""
    age = 0.0
    for directive in ",".join(values).split(","):
        name, _, value = directive.strip().lower().partition("=")
        if name in ("no-store", "no-cache"):
            return 0.0
        if name == "max-age":
            value = value.strip().strip('"')
            age = min(float(value), MAX_CACHE_SECONDS) if value.isdigit() and len(value) < 20 else 0.0
    return age


def well_formed(origin: str) -> bool:
    """Whether a region's origin passes the checks the configured URL gets (``base_url``: a
    host that can be encoded and sent to, a port that is not 0); only the origin is used."""
    try:
        base_url(origin)
    except ValueError:  # UnicodeError too
        return False
    return True


def region_urls(document: object) -> list[str]:
    """The ``url`` of each region of a ``/settings/regions`` answer; entries without one are skipped."""
    regions = document.get("regions") if isinstance(document, dict) else None
    if not isinstance(regions, list):
        raise Unusable("no regions list")
    urls: list[str] = []
    for entry in regions:
        if not isinstance(entry, dict):
            raise Unusable("a region is not an object")
        url = entry.get("url")
        if url is None or url == "":
            continue
        if not isinstance(url, str):
            raise Unusable("a region's url is not a string")
        urls.append(url)
    return urls
