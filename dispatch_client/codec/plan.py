"""What the codec knows of each message class: its fields, read once from the generated metadata.

A plan is data only. The general decoder (``general``), the fast path (``fast``) and the
encoder (``encoder``) each build their own functions from it, so a proto3 JSON rule that
depends on the schema (which key a field has, whether it is in a oneof, what unset looks like)
is read in one place, and none of them depends on another through the plan.
"""

from __future__ import annotations

import dataclasses
import keyword
import threading
from dataclasses import dataclass
from typing import Any, cast

import betterproto2

from .._generated import livekit as lk

__all__ = ["INT64_TYPES", "INT_RANGES", "PROTO3_OPTIONAL_MESSAGES", "Field", "Plan", "json_name", "plan_of"]

INT_RANGES = {
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
INT64_TYPES = {"int64", "sint64", "sfixed64", "uint64", "fixed64"}

# proto3 ``optional`` message fields. betterproto2's metadata marks every message field
# optional, but protojson's EmitUnpopulated treats these like oneof members (left out when
# unset) rather than like plain message fields (null). tests/test_schema.py checks the list.
PROTO3_OPTIONAL_MESSAGES: dict[type[betterproto2.Message], frozenset[str]] = {
    lk.Job: frozenset({"participant"}),
    lk.DataTrackInfo: frozenset({"frame_encoding", "schema"}),
}


def _proto_name(attr: str) -> str:
    # betterproto2 appends "_" to field names that are Python keywords.
    return attr[:-1] if attr.endswith("_") and keyword.iskeyword(attr[:-1]) else attr


def json_name(proto_name: str) -> str:
    """The lowerCamelCase name proto3 JSON also accepts for a field."""
    head, *rest = proto_name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


@dataclass(frozen=True)
class Field:
    attr: str  # the Python attribute
    key: str  # the proto field name, as servers write it
    json_key: str  # the lowerCamelCase name, also accepted when reading
    proto_type: str  # betterproto2's proto type name; "map<key type,value type>" for maps
    repeated: bool
    py_type: Any  # the message or enum class (of a map's values, for a map), else None
    map_types: tuple[str, str] | None  # (key type, value type) of a map
    default: Any  # the attribute's value in ``cls()``
    has_presence: bool  # a message, proto3 optional or oneof member: written whenever set
    null_when_unset: bool  # written as null when unset, as protojson's EmitUnpopulated does


class Plan:
    """The fields and oneof groups of one message class."""

    __slots__ = ("cls", "fields", "keys", "oneofs")

    def __init__(self, cls: type[betterproto2.Message]) -> None:
        self.cls = cls
        self.fields: list[Field] = []
        self.keys: dict[str, Field] = {}  # every JSON key a field may have, both spellings
        self.oneofs: list[tuple[str, ...]] = []  # the attributes of each oneof group
        types: dict[str, Any] = cast(Any, cls)._betterproto.cls_by_field
        defaults = cls()
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            fm: betterproto2.FieldMetadata = f.metadata["betterproto"]
            map_types = None
            if fm.proto_type == "map":
                if fm.map_meta is None:
                    raise TypeError(f"{cls.__name__}.{f.name}: map field without map metadata")
                map_types = (fm.map_meta[0].proto_type, fm.map_meta[1].proto_type)
                py_type = types.get(f"{f.name}.value")
                kind = f"map<{map_types[0]},{map_types[1]}>"
            else:
                py_type = types.get(f.name) if fm.proto_type in ("message", "enum") else None
                kind = fm.proto_type
            name = _proto_name(f.name)
            in_oneof = bool(fm.group) or f.name in PROTO3_OPTIONAL_MESSAGES.get(cls, ())
            field = Field(
                attr=f.name,
                key=name,
                json_key=json_name(name),
                proto_type=kind,
                repeated=bool(fm.repeated),
                py_type=py_type,
                map_types=map_types,
                default=getattr(defaults, f.name),
                # Fields with explicit presence go out whenever set; the others only when they
                # differ from their default.
                has_presence=bool(fm.optional or fm.group or fm.proto_type == "message"),
                # Written in full, an unset message is null; an unset oneof member or proto3
                # optional field is left out.
                null_when_unset=fm.proto_type == "message" and not in_oneof,
            )
            self.fields.append(field)
            self.keys[field.key] = self.keys[field.json_key] = field
        groups = cast(Any, cls)._betterproto.oneof_field_by_group
        self.oneofs = [tuple(sorted(f.name for f in members)) for members in groups.values()]

    @property
    def alternate_keys(self) -> frozenset[str]:
        """The keys servers do not write: the lowerCamelCase names that differ."""
        return frozenset(self.keys).difference(f.key for f in self.fields)


_PLANS: dict[type[betterproto2.Message], Plan] = {}
_LOCK = threading.Lock()


def plan_of(cls: type[betterproto2.Message]) -> Plan:
    """The plan of ``cls``, built on first use and shared from then on (by any thread)."""
    plan = _PLANS.get(cls)
    if plan is not None:
        return plan
    with _LOCK:
        plan = _PLANS.get(cls)
        if plan is None:
            # Published only once complete: a lookup outside the lock never sees a half-built plan.
            plan = _PLANS[cls] = Plan(cls)
        return plan
