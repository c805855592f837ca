"""Encoders from Python values to proto3 JSON values, one per field kind.

They write what Go's protojson writes, so any proto3 JSON reader accepts the result. A value
of the wrong type is a TypeError and one out of range a ValueError, never a malformed body.
"""

from __future__ import annotations

import base64
import math
from typing import Any

import betterproto2

from ._decoders import INT64_TYPES, INT_RANGES, Conv


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


def value_encoder(proto_type: str, py_type: Any, message: Conv) -> Conv:
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


def map_key_encoder(proto_type: str) -> Conv:
    """Map keys are JSON strings: integers and bools are spelled out."""
    if proto_type == "bool":
        return lambda k: "true" if _encode_bool(k) else "false"
    if proto_type == "string":
        return _encode_str
    enc = _int_encoder(proto_type)
    return lambda k: str(enc(k))


def repeated_encoder(elem: Conv) -> Conv:
    def enc(items: Any) -> list[Any]:
        if not isinstance(items, (list, tuple)):
            raise _wrong("list", items)
        return [elem(x) for x in items]

    return enc


def map_encoder(key: Conv, value: Conv) -> Conv:
    def enc(items: Any) -> dict[str, Any]:
        if not isinstance(items, dict):
            raise _wrong("dict", items)
        # Sorted by the JSON key, as Go's protojson writes maps.
        return dict(sorted((key(k), value(v)) for k, v in items.items()))

    return enc
