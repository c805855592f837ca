"""The general decoder: every form proto3 JSON allows, read as Go's protojson reads it.

It parses the body with orjson and reads the objects with one converter per field, built once
per class from the plan (``plan``) and the value converters (``values``): both key spellings,
int64 as strings or numbers, enums as names or numbers, ``null`` as the default. With
deliberate tolerances for forward compatibility: unknown keys are ignored, and an enum name
this schema does not know is treated as if the field were absent (and dropped from a repeated
field), as protojson does with ``DiscardUnknown``. Unknown enum numbers are kept as
betterproto2's unnamed members.

This is the decoder whose answers are the reference: the fast path (``fast``) gives the same
messages for the form servers write and hands every other body here.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar, cast

import betterproto2
import orjson

from .errors import DecodeError
from .plan import Field, plan_of
from .values import SKIP, Conv, map_decoder, map_key_decoder, repeated_decoder, value_decoder

__all__ = ["ObjectDecoder", "decode_general", "field_decoder", "object_decoder"]

M = TypeVar("M", bound=betterproto2.Message)


def _converter(f: Field) -> Conv:
    """The decoder of one field's non-null JSON value (SKIP: leave the field at its default)."""
    if f.map_types is not None:
        key, value = f.map_types
        return map_decoder(map_key_decoder(key), value_decoder(value, f.py_type, _nested))
    conv = value_decoder(f.proto_type, f.py_type, _nested)
    return repeated_decoder(conv) if f.repeated else conv


def _nested(cls: type[betterproto2.Message]) -> Conv:
    # Resolved on first use: nested decoders are built lazily, which also allows recursion.
    def dec(value: Any) -> Any:
        return object_decoder(cls).decode(value)

    return dec


class ObjectDecoder:
    """Reads a parsed JSON object into one message class."""

    __slots__ = ("cls", "decoders", "oneofs")

    def __init__(self, cls: type[betterproto2.Message]) -> None:
        plan = plan_of(cls)
        self.cls = cls
        self.oneofs = plan.oneofs
        # JSON key, either spelling -> (attribute, decoder)
        self.decoders: dict[str, tuple[str, Conv]] = {}
        for f in plan.fields:
            self.decoders[f.key] = self.decoders[f.json_key] = (f.attr, _converter(f))

    def decode(self, obj: Any) -> Any:
        if type(obj) is not dict:
            raise DecodeError(f"expected a JSON object for {self.cls.__name__}, got {type(obj).__name__}")
        kwargs: dict[str, Any] = {}
        decoders = self.decoders
        for key, value in obj.items():
            entry = decoders.get(key)
            if entry is None or value is None:
                continue  # an unknown key, or null meaning "default"
            attr, dec = entry
            try:
                decoded = dec(value)
            except DecodeError as e:
                raise DecodeError(f"{key}: {e}") from None
            if attr in kwargs:
                raise DecodeError(f"{key}: the field appears twice (as proto name and JSON name)")
            if decoded is not SKIP:
                kwargs[attr] = decoded
        for members in self.oneofs:
            if sum(m in kwargs for m in members) > 1:
                raise DecodeError(f"more than one of the oneof fields {', '.join(members)} is set")
        return self.cls(**kwargs)


_DECODERS: dict[type[betterproto2.Message], ObjectDecoder] = {}
_LOCK = threading.Lock()


def object_decoder(cls: type[betterproto2.Message]) -> ObjectDecoder:
    """The general decoder of ``cls``, built on first use and shared (by any thread)."""
    found = _DECODERS.get(cls)
    if found is not None:
        return found
    with _LOCK:
        found = _DECODERS.get(cls)
        if found is None:
            found = _DECODERS[cls] = ObjectDecoder(cls)
        return found


def decode_general(cls: type[M], data: bytes | str) -> M:
    """Parse ``data`` with orjson and read it into ``cls``; DecodeError if it is not valid."""
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError as e:
        raise DecodeError(f"not valid JSON: {e}") from None
    return cast(M, object_decoder(cls).decode(obj))


def field_decoder(f: Field) -> Callable[[Any], Any]:
    """The general decoder of one field's JSON value as parsed, null and an unknown enum name
    giving the default (a fresh one for lists and maps). For the fast path's fields that are
    not checked fully by msgspec; it raises DecodeError where the general decoder would."""
    conv = _converter(f)
    if isinstance(f.default, (list, dict)):
        make_default: Callable[[], Any] = type(f.default)
    else:
        default = f.default
        make_default = lambda: default  # noqa: E731

    def general(v: Any) -> Any:
        if v is None:
            return make_default()
        x = conv(v)
        return make_default() if x is SKIP else x

    return general
