"""Messages to proto3 JSON bytes: an encoder per field, built once per class from its plan.

They write what Go's protojson writes, so any proto3 JSON reader accepts the result. A value
of the wrong type is a TypeError and one out of range a ValueError, never a malformed body.
"""

from __future__ import annotations

import base64
import math
import threading
from collections.abc import Callable
from typing import Any

import betterproto2
import orjson

from .plan import INT64_TYPES, INT_RANGES, Field, plan_of

__all__ = ["LeaveOut", "encode"]

Conv = Callable[[Any], Any]


def _wrong(kind: str, v: Any) -> TypeError:
    return TypeError(f"expected {kind}, got {type(v).__name__} {v!r}"[:200])


def _encode_str(v: Any) -> str:
    if type(v) is not str:
        raise _wrong("str", v)
    return v


def _encode_bool(v: Any) -> bool:
    if v is not True and v is not False:
        raise _wrong("bool", v)
    return v


def _int_encoder(proto_type: str) -> Conv:
    lo, hi = INT_RANGES[proto_type]
    as_string = proto_type in INT64_TYPES

    def enc(v: Any) -> int | str:
        if not isinstance(v, int) or isinstance(v, bool):
            raise _wrong("int", v)
        if not lo <= v <= hi:
            raise ValueError(f"{v} is out of range for {proto_type}")
        return str(int(v)) if as_string else int(v)

    return enc


def _encode_float(v: Any) -> float | str:
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        raise _wrong("float", v)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    return float(v)


def _encode_bytes(v: Any) -> str:
    if not isinstance(v, (bytes, bytearray)):
        raise _wrong("bytes", v)
    return base64.b64encode(v).decode("ascii")


def _enum_encoder(enum_cls: type[betterproto2.Enum]) -> Conv:
    lo, hi = INT_RANGES["int32"]

    def enc(v: Any) -> str | int:
        if not isinstance(v, enum_cls):
            if type(v) is not int:
                raise _wrong(enum_cls.__name__, v)
            if not lo <= v <= hi:
                raise ValueError(f"{v} is out of range for enum {enum_cls.__name__} (int32)")
            v = enum_cls(v)
        # A number this schema has no name for goes out as the number, as protojson does.
        return (v.proto_name or v.name) if v.name else int(v)

    return enc


def _value_encoder(proto_type: str, py_type: Any, message: Conv) -> Conv:
    """The encoder of one (non-repeated) value; ``message`` encodes a nested message."""
    if proto_type == "message":

        def enc(v: Any) -> Any:
            if not isinstance(v, py_type):
                raise _wrong(py_type.__name__, v)
            return message(v)

        return enc
    if proto_type == "enum":
        return _enum_encoder(py_type)
    if proto_type in INT_RANGES:
        return _int_encoder(proto_type)
    if proto_type in ("float", "double"):
        return _encode_float
    simple: dict[str, Conv] = {"string": _encode_str, "bool": _encode_bool, "bytes": _encode_bytes}
    return simple[proto_type]


def _map_key_encoder(proto_type: str) -> Conv:
    """Map keys are JSON strings: integers and bools are spelled out."""
    if proto_type == "bool":
        return lambda k: "true" if _encode_bool(k) else "false"
    if proto_type == "string":
        return _encode_str
    enc = _int_encoder(proto_type)
    return lambda k: str(enc(k))


def _repeated_encoder(elem: Conv) -> Conv:
    def enc(items: Any) -> list[Any]:
        if not isinstance(items, (list, tuple)):
            raise _wrong("list", items)
        return [elem(x) for x in items]

    return enc


def _map_encoder(key: Conv, value: Conv) -> Conv:
    def enc(items: Any) -> dict[str, Any]:
        if not isinstance(items, dict):
            raise _wrong("dict", items)
        # Sorted by the JSON key, as Go's protojson writes maps.
        return dict(sorted((key(k), value(v)) for k, v in items.items()))

    return enc


def _field_encoder(f: Field, message: Conv) -> Conv:
    if f.map_types is not None:
        key, value = f.map_types
        return _map_encoder(_map_key_encoder(key), _value_encoder(value, f.py_type, message))
    enc = _value_encoder(f.proto_type, f.py_type, message)
    return _repeated_encoder(enc) if f.repeated else enc


# Fields a writer leaves out: (message class name, attribute) pairs, as a schema older than
# this one has no such fields (the stand-in writes as livekit-server v1.13.5 does).
LeaveOut = frozenset[tuple[str, str]]
_NOTHING: LeaveOut = frozenset()


class _ClassEncoder:
    __slots__ = ("fields", "full_fields")

    def __init__(self, cls: type[betterproto2.Message], leave_out: LeaveOut = _NOTHING) -> None:
        fields = [f for f in plan_of(cls).fields if (cls.__name__, f.attr) not in leave_out]
        # attribute, proto name, encoder, has presence
        self.fields = [(f.attr, f.key, _field_encoder(f, _message), f.has_presence) for f in fields]
        # attribute, proto name, encoder writing nested messages in full, null when unset
        full = _full_message if not leave_out else _full_message_without(leave_out)
        self.full_fields = [(f.attr, f.key, _field_encoder(f, full), f.null_when_unset) for f in fields]

    def encode(self, msg: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for attr, key, enc, has_presence in self.fields:
            value = getattr(msg, attr)
            if value is None and not has_presence:
                raise TypeError(f"{type(msg).__name__}.{attr} is None")
            if value is None or (not has_presence and not value):
                continue
            out[key] = enc(value)
        return out

    def encode_full(self, msg: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for attr, key, enc, null_when_unset in self.full_fields:
            value = getattr(msg, attr)
            if value is not None:
                out[key] = enc(value)
            elif null_when_unset:
                out[key] = None
        return out


_ENCODERS: dict[tuple[type[betterproto2.Message], LeaveOut], _ClassEncoder] = {}
_LOCK = threading.Lock()


def _class_encoder(cls: type[betterproto2.Message], leave_out: LeaveOut = _NOTHING) -> _ClassEncoder:
    found = _ENCODERS.get((cls, leave_out))
    if found is not None:
        return found
    with _LOCK:
        found = _ENCODERS.get((cls, leave_out))
        if found is None:
            found = _ENCODERS[cls, leave_out] = _ClassEncoder(cls, leave_out)
        return found


def _message(msg: betterproto2.Message) -> dict[str, Any]:
    return _class_encoder(type(msg)).encode(msg)


def _full_message(msg: betterproto2.Message) -> dict[str, Any]:
    return _class_encoder(type(msg)).encode_full(msg)


def _full_message_without(leave_out: LeaveOut) -> Conv:
    def full(msg: betterproto2.Message) -> dict[str, Any]:
        return _class_encoder(type(msg), leave_out).encode_full(msg)

    return full


def encode(
    msg: betterproto2.Message, *, emit_unpopulated: bool = False, leave_out: LeaveOut = _NOTHING
) -> bytes:
    """``msg`` as proto3 JSON bytes with proto field names, in declaration order.

    Fields at their default are left out, as a Twirp client sends them; with
    ``emit_unpopulated`` every field is written, as livekit-server answers (protojson's
    ``EmitUnpopulated``): defaults as values, unset messages as ``null``, but for the fields
    ``leave_out`` names (class name, attribute), as a server of an older schema writes.
    """
    if emit_unpopulated:
        if leave_out:
            return orjson.dumps(_class_encoder(type(msg), leave_out).encode_full(msg))
        return orjson.dumps(_full_message(msg))
    return orjson.dumps(_message(msg))
