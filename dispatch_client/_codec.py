"""Kept only for tests/conftest.py, which imports ``decode``, ``DecodeError`` and ``plan_of`` from
here and is edited by others: the codec is ``dispatch_client.codec``. ``plan_of(cls).decode``
was, and is, the general decoder of parsed JSON. Delete this once conftest imports from there."""

from __future__ import annotations

from .codec import DecodeError, decode
from .codec.general import object_decoder as plan_of

__all__ = ["DecodeError", "decode", "plan_of"]
