"""Converters between proto3 JSON values and Python values, one per field kind.

Decoders take a parsed JSON value (never null: the caller handles null) and return the
Python value, or SKIP for "leave the field at its default". Encoders do the reverse.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import betterproto2

Conv = Callable[[Any], Any]


class DecodeError(ValueError):
    """JSON that is not a valid encoding of the expected message."""


SKIP: Any = object()  # a decoder's answer for "leave this field at its default"

_INT_RANGES = {
    "int32": (-(2**31), 2**31 - 1),
    "sint32": (-(2**31), 2**31 - 1),
    "sfixed32": (-(2**31), 2**31 - 1),
    "uint32": (0, 2**32 - 1),
    "fixed32": (0, 2**32 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "sint64": (-(2**63), 2**63 - 1),
    "sfixed64": (-(2**63), 2**63 - 1),
    "uint64": (0, 2**64 - 1),
    "fixed64": (0, 2**64 - 1),
}
_INT64 = {"int64", "sint64", "sfixed64", "uint64", "fixed64"}
_PLAIN_INT = re.compile(r"-?(0|[1-9][0-9]*)")
_JSON_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_SPECIAL_FLOATS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _bad(kind: str, value: Any) -> DecodeError:
    return DecodeError(f"invalid value for {kind}: {value!r}"[:300])


def _int_decoder(proto_type: str) -> Conv:
    lo, hi = _INT_RANGES[proto_type]

    def conv(v: Any) -> int:
        if type(v) is int:
            n = v
        elif type(v) is float and v.is_integer() and abs(v) < 2**63:
            # The JSON parser hands integer literals beyond 64 bits over as floats, rounded:
            # refusing every float from 2**63 up keeps them from passing as in-range values.
            n = int(v)
        elif type(v) is str and len(v) <= 64 and _PLAIN_INT.fullmatch(v):
            n = int(v)
        elif type(v) is str and len(v) <= 64 and _JSON_NUMBER.fullmatch(v):
            # "1.5e3" style: exact decimal arithmetic, range-checked before any int is built.
            d = Decimal(v)
            if not lo <= d <= hi or d != d.to_integral_value():
                raise _bad(proto_type, v)
            n = int(d)
        else:
            raise _bad(proto_type, v)
        if not lo <= n <= hi:
            raise _bad(proto_type, v)
        return n

    return conv


def _float_decoder(proto_type: str) -> Conv:
    def conv(v: Any) -> float:
        if type(v) is int or type(v) is float:
            f = float(v)
        elif type(v) is str and v in _SPECIAL_FLOATS:
            return _SPECIAL_FLOATS[v]
        elif type(v) is str and _JSON_NUMBER.fullmatch(v):
            f = float(v)
        else:
            raise _bad(proto_type, v)
        if proto_type == "float" and math.isfinite(f) and abs(f) > 3.4028234663852886e38:
            raise _bad(proto_type, v)
        return f

    return conv


def _str(v: Any) -> str:
    if type(v) is not str:
        raise _bad("string", v)
    return v


def _bool(v: Any) -> bool:
    if v is True or v is False:
        return v
    raise _bad("bool", v)


def _bytes(v: Any) -> bytes:
    if type(v) is not str:
        raise _bad("bytes", v)
    s = v.replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(s + "=" * (-len(s) % 4), validate=True)
    except (binascii.Error, ValueError) as e:
        raise _bad("bytes", v) from e


def _enum_decoder(enum_cls: type[betterproto2.Enum]) -> Conv:
    by_name = {m.proto_name or m.name: m for m in enum_cls}
    lo, hi = _INT_RANGES["int32"]

    def conv(v: Any) -> Any:
        if type(v) is str:
            return by_name.get(v, SKIP)
        if type(v) is float and v.is_integer():
            v = int(v)
        if type(v) is int and lo <= v <= hi:
            return enum_cls(v)  # an unknown number becomes betterproto2's UNKNOWN member
        raise _bad(f"enum {enum_cls.__name__}", v)

    return conv


def _scalar_decoder(proto_type: str) -> Conv:
    if proto_type in _INT_RANGES:
        return _int_decoder(proto_type)
    if proto_type in ("float", "double"):
        return _float_decoder(proto_type)
    simple: dict[str, Conv] = {"string": _str, "bool": _bool, "bytes": _bytes}
    if proto_type not in simple:
        raise TypeError(f"unsupported proto type {proto_type!r}")
    return simple[proto_type]


def _bool_key(k: str) -> bool:
    if k == "true":
        return True
    if k == "false":
        return False
    raise _bad("bool map key", k)


def map_key_decoder(proto_type: str) -> Conv:
    """Map keys are always JSON strings; integer and bool keys are spelled out in them."""
    if proto_type == "string":
        return _str
    if proto_type == "bool":
        return _bool_key
    return _int_decoder(proto_type)


def value_decoder(proto_type: str, py_type: Any, message: Callable[[Any], Conv]) -> Conv:
    """The decoder of one (non-repeated) value; ``message(cls)`` gives a message's decoder."""
    if proto_type == "message":
        return message(py_type)
    if proto_type == "enum":
        return _enum_decoder(py_type)
    return _scalar_decoder(proto_type)


def repeated_decoder(elem: Conv) -> Conv:
    def conv(v: Any) -> list[Any]:
        if type(v) is not list:
            raise _bad("repeated field", v)
        out = []
        for i, item in enumerate(v):
            if item is None:
                raise DecodeError(f"[{i}]: null is not a valid list element")
            x = elem(item)
            if x is not SKIP:
                out.append(x)
        return out

    return conv


def map_decoder(key: Conv, value: Conv) -> Conv:
    def conv(v: Any) -> dict[Any, Any]:
        if type(v) is not dict:
            raise _bad("map field", v)
        out = {}
        for k, item in v.items():
            if item is None:
                raise DecodeError(f"[{k!r}]: null is not a valid map value")
            x = value(item)
            if x is not SKIP:
                out[key(k)] = x
        return out

    return conv


# Encoding: what Go's protojson writes, so any proto3 JSON reader accepts it. A value of
# the wrong type is a TypeError, and out of range a ValueError, never a malformed body.


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
    lo, hi = _INT_RANGES[proto_type]
    as_string = proto_type in _INT64

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
    lo, hi = _INT_RANGES["int32"]

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
    if proto_type in _INT_RANGES:
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
        return {key(k): value(v) for k, v in items.items()}

    return enc
