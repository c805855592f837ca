"""The fast path: msgspec parses and type-checks a body in C, for the form servers write.

A server writes one form of proto3 JSON: proto field names and values of the canonical
JSON type. For that form each message class gets a ``msgspec.Struct`` twin (built once,
from the class's plan, ``plan``) that checks every value's JSON type and integer range while
parsing, ignores unknown keys and leaves absent keys at their default, and a straight-line
function, compiled once, that turns the twin into the betterproto2 message without the
dataclass ``__init__``: enum names looked up, int64 strings read, nested messages converted.
Values msgspec cannot check fully (floats, bytes, maps other than string to string, repeated
int64) are kept as parsed and read by the general decoder's converter of that field.

Anything outside that form (a camelCase key, an int64 written as a number, a null where a
value belongs, an enum number, two members of a oneof, bytes that are not JSON at all...)
raises one of :data:`FALLBACK`, and the caller decodes the body again with the general
decoder (``general``), which gives the result or the error it always gave. The tests check
that both ways agree.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from typing import Annotated, Any

import betterproto2
import msgspec

from .errors import DecodeError
from .general import field_decoder
from .plan import INT64_TYPES, INT_RANGES, plan_of
from .values import enum_names

__all__ = ["FALLBACK", "Fallback", "TwinBuilder", "struct_decoder"]

_ids = itertools.count()

# A key that must not appear: no integer is both above and below zero, and nothing else is an
# integer. A camelCase key is one of these, so that a body mixing spellings falls back.
_ABSENT_KEY = Annotated[int, msgspec.Meta(gt=0, lt=0)]


class Fallback(Exception):
    """The body is not in the form servers write: decode it the general way."""


class _Cyclic(Exception):
    """The message refers to itself: structs would need forward references; not worth it."""


# What the caller catches to fall back. RecursionError: msgspec bounds nesting depth.
# UnicodeError: text that is not UTF-8 (or a str that cannot be written as UTF-8).
FALLBACK = (Fallback, DecodeError, msgspec.MsgspecError, RecursionError, UnicodeError)


def _scalar(proto_type: str) -> Any:
    """The struct field type of a scalar checked fully by msgspec, else None."""
    if proto_type in ("string", "enum") or proto_type in INT64_TYPES:
        # Enum names are looked up, and int64 strings read, in the converter. (A msgspec pattern
        # for the digits costs more than the converter's checks: each match calls into re.)
        return str
    if proto_type == "bool":
        return bool
    if proto_type == "double":
        return float  # JSON integers are accepted, as floats, as protojson does
    if proto_type in INT_RANGES:
        lo, hi = INT_RANGES[proto_type]
        return Annotated[int, msgspec.Meta(ge=lo, le=hi)]
    return None


def plain_int64(proto_type: str) -> str:
    """A condition on a str ``v``: an int64-family value in its plain form, in range.

    ASCII digits without a leading zero are in range when there are fewer of them than in
    the maximum, or as many and they sort no higher. Anything else ("007", "-5", "1e3",
    " 5", "5\\n", a digit outside ASCII) is left to the general converter.
    """
    top = str(INT_RANGES[proto_type][1])
    return (
        "v.isascii() and v.isdigit() and (v[0] != '0' or v == '0')"
        f" and ((k := len(v)) < {len(top)} or k == {len(top)} and v <= {top!r})"
    )


def _list_of(item: Any) -> Any:
    return list.__class_getitem__(item)


class TwinBuilder:
    """Builds the struct and the converter of each message class reachable from a root."""

    def __init__(self) -> None:
        self.done: dict[type[betterproto2.Message], tuple[type[msgspec.Struct], Callable[[Any], Any]]] = {}
        self.building: set[type[betterproto2.Message]] = set()

    def build(self, cls: type[betterproto2.Message]) -> tuple[type[msgspec.Struct], Callable[[Any], Any]]:
        found = self.done.get(cls)
        if found is not None:
            return found
        if cls in self.building:
            raise _Cyclic(cls.__name__)
        self.building.add(cls)
        plan = plan_of(cls)
        specs: list[Any] = []
        ns: dict[str, Any] = {"new": object.__new__, "cls": cls, "Fallback": Fallback}
        lines = ["def convert(s):", "    m = new(cls)"]
        for n, f in enumerate(plan.fields):
            optional = f.default is None  # a oneof member, a proto3 optional or a message
            kind, attr, v = f.proto_type, f.attr, f"s.f{n}"
            scalar = _scalar(kind)
            if kind == "message":
                struct, ns[f"D{n}"] = self.build(f.py_type)
                if f.repeated:
                    specs.append((f"f{n}", _list_of(struct), msgspec.field(default_factory=list, name=f.key)))
                    lines.append(f"    v = {v}\n    m.{attr} = [D{n}(x) for x in v] if v else v")
                else:
                    specs.append((f"f{n}", struct | None, msgspec.field(default=None, name=f.key)))
                    lines.append(f"    v = {v}\n    m.{attr} = None if v is None else D{n}(v)")
                continue
            if kind == "map<string,string>" or (scalar is not None and kind not in INT64_TYPES):
                if kind == "enum":
                    ns[f"E{n}"] = enum_names(f.py_type)
                    ns[f"DEF{n}"] = f.default
                    if f.repeated:  # unknown names are dropped, as the general decoder does
                        value = f"[E{n}[x] for x in v if x in E{n}] if v else v"
                    else:  # an unknown name reads as the field left out
                        value = f"E{n}.get(v, DEF{n})"
                else:
                    value = "v"
                py = dict[str, str] if kind.startswith("map") else scalar
            elif kind in INT64_TYPES and not f.repeated:
                # The plain form is read here; any other string goes to the general converter,
                # which reads it or raises.
                ns[f"G{n}"] = field_decoder(f)
                value = f"int(v) if {plain_int64(kind)} else G{n}(v)"
                py = scalar
            else:  # float, bytes, other maps, repeated int64: JSON as parsed, converted the general way
                ns[f"G{n}"] = field_decoder(f)
                specs.append((f"f{n}", Any, msgspec.field(default=None, name=f.key)))
                lines.append(f"    m.{attr} = G{n}({v})")
                continue
            if f.repeated:
                specs.append((f"f{n}", _list_of(py), msgspec.field(default_factory=list, name=f.key)))
            elif kind.startswith("map"):
                specs.append((f"f{n}", py, msgspec.field(default_factory=dict, name=f.key)))
            elif optional:
                specs.append((f"f{n}", py | None, msgspec.field(default=None, name=f.key)))
                value = value if value == "v" else f"None if v is None else ({value})"
            else:
                # The value that converts to the field's default: "" is no enum name, "0" is 0.
                default = "0" if kind in INT64_TYPES else "" if kind == "enum" else f.default
                specs.append((f"f{n}", py, msgspec.field(default=default, name=f.key)))
            lines.append(f"    v = {v}" if value != "v" else f"    m.{attr} = {v}")
            if value != "v":
                lines.append(f"    m.{attr} = {value}")
        for alt in sorted(plan.alternate_keys):
            specs.append((f"alt{len(specs)}", _ABSENT_KEY, msgspec.field(default=0, name=alt)))
        for group in plan.oneofs:
            present = " + ".join(f"(m.{attr} is not None)" for attr in group)
            lines += [f"    if {present} > 1:", "        raise Fallback"]
        lines += ["    m._unknown_fields = b''", "    return m"]
        struct = msgspec.defstruct(f"{cls.__name__}Struct", specs, gc=False)
        code = compile(
            "\n".join(lines), f"<dispatch_client struct converter {cls.__name__} #{next(_ids)}>", "exec"
        )
        exec(code, ns)
        self.building.discard(cls)
        self.done[cls] = struct, ns["convert"]
        return self.done[cls]


_DECODERS: dict[type[betterproto2.Message], Callable[[bytes | str], Any] | None] = {}
_BUILDER = TwinBuilder()  # one for all roots, so that a message class gets one twin
_LOCK = threading.Lock()


def struct_decoder(cls: type[betterproto2.Message]) -> Callable[[bytes | str], Any] | None:
    """The decoder of JSON bodies into ``cls`` for the form servers write, built on first use;
    None for a message that refers to itself. It raises one of FALLBACK for any other form."""
    try:
        return _DECODERS[cls]
    except KeyError:
        pass
    with _LOCK:
        if cls not in _DECODERS:
            try:
                struct, convert = _BUILDER.build(cls)
            except Exception:
                # A message that refers to itself (or any schema msgspec cannot take): every
                # body of it goes the general way. Tests check that server output does not.
                _BUILDER.building.clear()
                _DECODERS[cls] = None
            else:
                _DECODERS[cls] = _whole(msgspec.json.Decoder(struct).decode, convert)
        return _DECODERS[cls]


def _whole(
    parse: Callable[[bytes | str], Any], convert: Callable[[Any], Any]
) -> Callable[[bytes | str], Any]:
    def decode(data: bytes | str) -> Any:
        if isinstance(data, (bytes, bytearray)) and not data.isascii():
            # msgspec checks the UTF-8 of the strings it keeps, not of what it skips (unknown
            # keys and their values): the whole body must be valid, as it is for the others.
            str(data, "utf-8")
        return convert(parse(data))

    return decode
