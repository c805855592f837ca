"""The one error the codec raises for a body it cannot read."""

from __future__ import annotations

__all__ = ["DecodeError"]


class DecodeError(ValueError):
    """JSON that is not a valid encoding of the expected message."""
