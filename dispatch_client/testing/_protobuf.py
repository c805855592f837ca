"""Binary protobuf requests, read as strictly as Go's proto.Unmarshal reads them.

betterproto2's parser is lenient (it reads a truncated field, and a field sent with
the wrong wire type becomes a value of the wrong Python type), which a server cannot
afford, so requests are read here. The request messages hold only strings, repeated
strings, enums and string-to-string maps. As in Go, a known field with an unexpected wire
type is kept as an unknown field (here: skipped), the last value of a scalar field wins,
repeated values and map entries accumulate, strings must be UTF-8 and enums keep numbers
they have no name for.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterator
from typing import Any, TypeVar, cast

import betterproto2

__all__ = ["WireError", "decode"]

M = TypeVar("M", bound=betterproto2.Message)

VARINT, FIXED64, LENGTH, START_GROUP, END_GROUP, FIXED32 = 0, 1, 2, 3, 4, 5
MAX_FIELD_NUMBER = (1 << 29) - 1
_MAX_GROUP_DEPTH = 100


class WireError(ValueError):
    """The bytes are not a valid protobuf encoding of the message."""


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    for i in range(10):
        if pos + i >= len(data):
            raise WireError("truncated varint")
        byte = data[pos + i]
        if i == 9 and byte > 1:
            raise WireError("varint overflows 64 bits")
        result |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return result, pos + i + 1
    raise WireError("varint longer than 10 bytes")


def _fields(data: bytes, pos: int = 0, group: int = 0, depth: int = 0) -> Iterator[tuple[int, int, Any, int]]:
    """(field number, wire type, value, position after) for each field, until ``group`` ends."""
    while pos < len(data):
        tag, pos = _varint(data, pos)
        number, wire = tag >> 3, tag & 7
        if not 1 <= number <= MAX_FIELD_NUMBER:
            raise WireError(f"invalid field number {number}")
        value: Any
        if wire == VARINT:
            value, pos = _varint(data, pos)
        elif wire in (FIXED64, FIXED32):
            size = 8 if wire == FIXED64 else 4
            if pos + size > len(data):
                raise WireError("truncated fixed-size field")
            value, pos = data[pos : pos + size], pos + size
        elif wire == LENGTH:
            size, pos = _varint(data, pos)
            if size > len(data) - pos:
                raise WireError("length past the end of the message")
            value, pos = data[pos : pos + size], pos + size
        elif wire == START_GROUP:
            if depth >= _MAX_GROUP_DEPTH:
                raise WireError("groups nested too deeply")
            for *_, after in _fields(data, pos, number, depth + 1):
                pos = after
            value = None
        elif wire == END_GROUP:
            if number != group:
                raise WireError(f"unexpected end of group {number}")
            yield number, wire, None, pos
            return
        else:
            raise WireError(f"invalid wire type {wire}")
        yield number, wire, value, pos
    if group:
        raise WireError(f"group {group} is not closed")


def _string(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise WireError(f"invalid UTF-8 in a string field: {e}") from None


def _string_map_entry(raw: bytes) -> tuple[str, str]:
    key = value = ""
    for number, wire, item, _ in _fields(raw):
        if wire != LENGTH:
            continue
        if number == 1:
            key = _string(item)
        elif number == 2:
            value = _string(item)
    return key, value


def _enum_number(raw: int) -> int:
    raw &= 0xFFFFFFFF  # an enum is an int32: the low 32 bits, as Go reads it
    return raw - (1 << 32) if raw >= 1 << 31 else raw


@dataclasses.dataclass(frozen=True)
class _Field:
    attr: str
    kind: str  # "string", "strings" (repeated), "enum" or "map"
    enum: Any = None


@functools.cache
def _schema(cls: type[betterproto2.Message]) -> dict[int, _Field]:
    types: dict[str, Any] = cast(Any, cls)._betterproto.cls_by_field
    schema: dict[int, _Field] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        meta: betterproto2.FieldMetadata = f.metadata["betterproto"]
        kind = meta.proto_type
        if kind == "map":
            if meta.map_meta is None or {m.proto_type for m in meta.map_meta} != {"string"}:
                raise TypeError(f"{cls.__name__}.{f.name}: only string-to-string maps are supported")
        elif kind == "string" and meta.repeated:
            kind = "strings"
        elif kind not in ("string", "enum") or meta.repeated:
            raise TypeError(f"{cls.__name__}.{f.name}: {kind} fields are not supported")
        schema[meta.number] = _Field(f.name, kind, types.get(f.name))
    return schema


def decode(cls: type[M], data: bytes) -> M:
    """Read ``data`` as a binary ``cls``; WireError if it is not a valid encoding."""
    schema = _schema(cls)
    values: dict[str, Any] = {}
    for number, wire, value, _ in _fields(data):
        field = schema.get(number)
        if field is None:
            continue
        if field.kind == "enum" and wire == VARINT:
            values[field.attr] = field.enum(_enum_number(value))
        elif field.kind == "string" and wire == LENGTH:
            values[field.attr] = _string(value)
        elif field.kind == "strings" and wire == LENGTH:
            values.setdefault(field.attr, []).append(_string(value))
        elif field.kind == "map" and wire == LENGTH:
            key, item = _string_map_entry(value)
            values.setdefault(field.attr, {})[key] = item
    return cls(**values)
