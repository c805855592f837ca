"""Argument checks shared by the public entry points: bad input is a ValueError, early."""

from __future__ import annotations

import math

__all__ = [
    "MAX_DEPLOYMENT_BYTES",
    "MAX_SECONDS",
    "deployment_problem",
    "require_credential",
    "require_positive_int",
    "require_request_id",
    "require_seconds",
    "require_text",
]

# livekit-server's limit on a deployment name, in bytes.
MAX_DEPLOYMENT_BYTES = 64
# About 31.7 years: longer than any call or token needs to last.
MAX_SECONDS = 1e9


def require_text(name: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    return value


def require_credential(name: str, value: object, env: str) -> str:
    """An API key or secret: a non-empty string that can be written as UTF-8 (a secret byte
    that is not UTF-8, read from the environment, arrives as a lone surrogate). The value is
    never quoted: the message names the argument and the variable it comes from."""
    if not isinstance(value, str) or not value:
        shown = "an empty string" if value == "" else f"a {type(value).__name__}"
        raise ValueError(f"{name} ({env}) must be a non-empty string, got {shown}")
    bad = next((i for i, c in enumerate(value) if "\ud800" <= c <= "\udfff"), None)
    if bad is not None:
        raise ValueError(
            f"{name} ({env}) is not valid text: character {bad + 1} of {len(value)} cannot be"
            " written as UTF-8 (a byte that is not UTF-8 in the variable?); the value is not shown"
        )
    return value


def require_seconds(name: str, value: object) -> float:
    """A positive number of seconds up to MAX_SECONDS (bools are not numbers here).

    The bound keeps deadlines and token lifetimes in reach of the clocks and of the
    ``X-Twirp-Timeout-Ms`` header, whose milliseconds servers read as a 64-bit integer.
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            seconds = float(value)
        except OverflowError:
            seconds = math.inf
        if 0 < seconds <= MAX_SECONDS:
            return seconds
    raise ValueError(f"{name} must be a positive number of seconds, at most {MAX_SECONDS:g}, got {value!r}")


def require_positive_int(name: str, value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    raise ValueError(f"{name} must be a positive int, got {value!r}")


def require_request_id(value: object) -> str:
    """A request id fit for an HTTP header: 1 to 256 visible ASCII characters."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"request_id must be a non-empty string, got {value!r}")
    if len(value) > 256 or not all("!" <= c <= "~" for c in value):
        raise ValueError(f"request_id must be at most 256 visible ASCII characters, got {value!r}")
    return value


def deployment_problem(deployment: str) -> str | None:
    """What livekit-server refuses in a deployment name (its bytes, not its characters), or None:
    over MAX_DEPLOYMENT_BYTES, a ``_``, or a byte up to 0x20 or 0x7f."""
    data = deployment.encode()
    if len(data) > MAX_DEPLOYMENT_BYTES:
        return f"is longer than {MAX_DEPLOYMENT_BYTES} bytes"
    for position, byte in enumerate(data):
        if byte == ord("_"):
            return "contains the reserved character '_'"
        if byte <= 0x20 or byte == 0x7F:
            return f"contains whitespace or a control byte at position {position}"
    return None
