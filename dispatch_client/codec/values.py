"""The general decoder's converters from proto3 JSON values to Python values, one per field kind.

A decoder takes a parsed JSON value (never null: the caller handles null) and returns the
Python value, or SKIP for "leave the field at its default".
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Callable
from decimal import Decimal, DecimalException
from typing import Any

import betterproto2

from .errors import DecodeError
from .plan import INT_RANGES

__all__ = [
    "SKIP",
    "Conv",
    "enum_names",
    "map_decoder",
    "map_key_decoder",
    "repeated_decoder",
    "value_decoder",
]

Conv = Callable[[Any], Any]


SKIP: Any = object()  # a decoder's answer for "leave this field at its default"

_PLAIN_INT = re.compile(r"-?(0|[1-9][0-9]*)")
_JSON_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_SPECIAL_FLOATS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _bad(kind: str, value: Any) -> DecodeError:
    return DecodeError(f"invalid value for {kind}: {value!r}"[:300])


def _int_decoder(proto_type: str) -> Conv:
    lo, hi = INT_RANGES[proto_type]

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
            try:
                d = Decimal(v)
                if not lo <= d <= hi or d != d.to_integral_value():
                    raise _bad(proto_type, v)
            except DecimalException:  # an exponent past what decimal holds
                raise _bad(proto_type, v) from None
            n = int(d)
        else:
            raise _bad(proto_type, v)
        if not lo <= n <= hi:
            raise _bad(proto_type, v)
        return n

    return conv


def _float_decoder(proto_type: str) -> Conv:
    def conv(v: Any) -> float:
        if type(v) is float:
            f = v
        elif type(v) is int:
            try:
                f = float(v)
            except OverflowError:  # an integer literal beyond any double
                raise _bad(proto_type, v) from None
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


def enum_names(enum_cls: type[betterproto2.Enum]) -> dict[str, Any]:
    """The members of ``enum_cls`` by the names proto3 JSON writes for them."""
    return {m.proto_name or m.name: m for m in enum_cls}


def _enum_decoder(enum_cls: type[betterproto2.Enum]) -> Conv:
    by_name = enum_names(enum_cls)
    lo, hi = INT_RANGES["int32"]

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
    if proto_type in INT_RANGES:
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
