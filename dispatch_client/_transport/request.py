"""What one request carries besides its body: the base URL, the request id, the timeout header."""

from __future__ import annotations

import ipaddress
import math
import os
import platform
import urllib.parse

import aiohttp
import betterproto2

from .. import codec as _codec
from .._version import __version__

__all__ = [
    "CONSTANT_HEADERS",
    "METHODS",
    "REQUEST_ID_HEADER",
    "ROOM_SERVICE",
    "SERVICE",
    "USER_AGENT",
    "base_url",
    "encoded",
    "new_request_id",
    "timeout_ms",
]

SERVICE = "livekit.AgentDispatchService"
ROOM_SERVICE = "livekit.RoomService"
# Each method the client calls, and its service: the dispatch calls, and the two reads of the
# room store it makes for them (docs/cluster.md).
METHODS = {
    "CreateDispatch": SERVICE,
    "DeleteDispatch": SERVICE,
    "ListDispatch": SERVICE,
    "ListRooms": ROOM_SERVICE,
    "ListParticipants": ROOM_SERVICE,
}
REQUEST_ID_HEADER = "X-Livekit-Request-Id"
USER_AGENT = f"dispatch-client/{__version__} aiohttp/{aiohttp.__version__} python/{platform.python_version()}"
# The headers every request of every call carries (each attempt adds its token, id and deadline).
CONSTANT_HEADERS = {
    "Content-Type": "application/json",
    "Accept": "application/json",
    "User-Agent": USER_AGENT,
}

_MAX_TIMEOUT_MS = 2**63 - 1
_SCHEMES = {"http": "http", "https": "https", "ws": "http", "wss": "https"}


def base_url(url: str) -> str:
    """The HTTP base for a LiveKit URL: ws(s) becomes http(s), a path prefix is kept."""
    if not isinstance(url, str):
        raise ValueError(f"url must be a string, got {type(url).__name__}")
    try:
        parts = urllib.parse.urlsplit(url.strip())
        parts.port  # noqa: B018 -- parsed for its check: a port that is not a number raises
    except ValueError as e:
        raise ValueError(f"url is not a valid URL ({e}): {url!r}") from e
    scheme = _SCHEMES.get(parts.scheme.lower())
    if scheme is None or not parts.hostname:
        raise ValueError(f"url must look like https://host[:port][/prefix] (or ws/wss), got {url!r}")
    try:
        parts.hostname.encode("idna")
    except UnicodeError as e:
        raise ValueError(f"url has an invalid host name ({e}): {url!r}") from e
    problem = _host_problem(parts.hostname, parts.port)
    if problem:
        raise ValueError(f"url {problem}: {url!r}")
    if parts.query or parts.fragment or parts.username is not None:
        raise ValueError(f"url must not carry credentials, a query or a fragment, got {url!r}")
    return urllib.parse.urlunsplit((scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def _host_problem(host: str, port: int | None) -> str | None:
    """What aiohttp would refuse (or could never connect to) in a host and port, else None.

    aiohttp takes a host of digits and dots for an IPv4 address and accepts only the
    dotted quad (no ``127.1``, ``2130706433`` or octets past 255); a host with ``:`` must
    be an IPv6 address; a name cannot hold spaces, controls or ``%``; port 0 is no port.
    """
    if port == 0:
        return "has port 0"
    if ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return "has an invalid IPv6 address"
        return None
    if host.replace(".", "").isdigit():
        try:
            ok = str(ipaddress.IPv4Address(host)) == host
        except ValueError:
            ok = False
        return None if ok else "has an IPv4 address that is not 4 decimal numbers 0-255"
    if any(c.isspace() or not c.isprintable() or c in "%/\\" for c in host):
        return "has an invalid host name"
    return None


def encoded(request: betterproto2.Message) -> bytes:
    """``request`` as the JSON body of a call; ValueError for a field of the wrong type (or text
    that cannot be written as UTF-8), before anything is sent."""
    try:
        return _codec.encode(request)
    except (TypeError, ValueError) as e:  # orjson's JSONEncodeError is a TypeError
        raise ValueError(f"cannot encode {type(request).__name__} as JSON: {e}") from e


def timeout_ms(remaining: float) -> int:
    """``remaining`` seconds in whole milliseconds for the header: rounded up, 1 to 2**63 - 1.

    Servers read the header as a 64-bit integer; the top is far past any timeout a call
    accepts, and is there so that no value can be sent that overflows it.
    """
    if remaining * 1000 >= _MAX_TIMEOUT_MS:
        return _MAX_TIMEOUT_MS
    return max(1, math.ceil(remaining * 1000))


def new_request_id() -> str:
    """A fresh id for one logical call: a random UUID4, in hex.

    The same bytes ``uuid.uuid4()`` draws, with its version and variant bits, without
    building a UUID object (a quarter of the cost, on every call).
    """
    b = bytearray(os.urandom(16))
    b[6] = b[6] & 0x0F | 0x40  # version 4
    b[8] = b[8] & 0x3F | 0x80  # the RFC 4122 variant
    return "REQ_" + b.hex()
