"""Proto3 JSON <-> betterproto2 messages, tolerant of what a newer server sends.

Each message class gets a plan, built once from betterproto2's field metadata: a
decoder per JSON key (the proto name and the lowerCamelCase name) and an encoder per
field. Decoding follows proto3 JSON as Go's protojson reads it, with deliberate
tolerances for forward compatibility: unknown keys are ignored, and an enum name this
schema does not know is treated as if the field were absent (and dropped from a
repeated field), as protojson does with ``DiscardUnknown``. Unknown enum numbers are
kept as betterproto2's unnamed members and written back as numbers.
"""

from __future__ import annotations

import dataclasses
import keyword
import threading
from typing import Any, TypeVar, cast

import betterproto2
import orjson

from ._decoders import SKIP, Conv, DecodeError, map_decoder, map_key_decoder, repeated_decoder, value_decoder
from ._encoders import map_encoder, map_key_encoder, repeated_encoder, value_encoder
from ._fastpath import FieldInfo, compile_decoder
from ._gc import pause, resume
from ._generated import livekit as lk
from ._structs import FALLBACK, struct_decoder

__all__ = ["DecodeError", "decode", "encode", "prepare"]

M = TypeVar("M", bound=betterproto2.Message)


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


def _json_name(proto_name: str) -> str:
    head, *rest = proto_name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


class _Plan:
    __slots__ = ("cls", "decoders", "encoders", "fast", "fields", "full_encoders", "oneofs", "strict_fast")

    def __init__(self, cls: type[betterproto2.Message]) -> None:
        self.cls = cls
        # JSON key -> (attribute, decoder); attribute, proto name, encoder, has presence
        self.decoders: dict[str, tuple[str, Conv]] = {}
        self.encoders: list[tuple[str, str, Conv, bool]] = []
        # attribute, proto name, encoder writing nested messages in full, write null when unset
        self.full_encoders: list[tuple[str, str, Conv, bool]] = []
        self.oneofs: list[tuple[str, ...]] = []  # the attributes of each oneof group
        self.fields: list[FieldInfo] = []  # what the compiled decoders need to know of each field
        # Compiled decoders for the form servers write (see _fastpath); set by fill().
        self.fast: Conv = self.decode
        self.strict_fast: Conv = self.decode

    def fill(self) -> None:
        types: dict[str, Any] = cast(Any, self.cls)._betterproto.cls_by_field
        defaults = self.cls()
        for f in dataclasses.fields(self.cls):  # type: ignore[arg-type]
            fm: betterproto2.FieldMetadata = f.metadata["betterproto"]
            if fm.proto_type == "map":
                if fm.map_meta is None:
                    raise TypeError(f"{self.cls.__name__}.{f.name}: map field without map metadata")
                key, value = fm.map_meta[0].proto_type, fm.map_meta[1].proto_type
                value_cls = types.get(f"{f.name}.value")
                dec = map_decoder(map_key_decoder(key), value_decoder(value, value_cls, _message_decoder))
                enc, full = (
                    map_encoder(map_key_encoder(key), value_encoder(value, value_cls, message))
                    for message in (_message_encoder, _full_message_encoder)
                )
            else:
                dec = value_decoder(fm.proto_type, types.get(f.name), _message_decoder)
                enc, full = (
                    value_encoder(fm.proto_type, types.get(f.name), message)
                    for message in (_message_encoder, _full_message_encoder)
                )
                if fm.repeated:
                    dec, enc, full = repeated_decoder(dec), repeated_encoder(enc), repeated_encoder(full)
            name = _proto_name(f.name)
            self.decoders[name] = self.decoders[_json_name(name)] = (f.name, dec)
            py_type = types.get(f.name) if fm.proto_type in ("message", "enum") else None
            kind = f"map<{key},{value}>" if fm.proto_type == "map" else fm.proto_type
            self.fields.append(
                FieldInfo(f.name, name, kind, bool(fm.repeated), py_type, getattr(defaults, f.name), dec)
            )
            # Fields with explicit presence (messages, optional, oneof members) go out whenever
            # set; the others only when they differ from their default.
            has_presence = bool(fm.optional or fm.group or fm.proto_type == "message")
            self.encoders.append((f.name, name, enc, has_presence))
            # Written in full, as protojson's EmitUnpopulated does: an unset message is null,
            # an unset oneof member or proto3 optional field is left out.
            in_oneof = fm.group or f.name in PROTO3_OPTIONAL_MESSAGES.get(self.cls, ())
            null_when_unset = fm.proto_type == "message" and not in_oneof
            self.full_encoders.append((f.name, name, full, null_when_unset))
        groups = cast(Any, self.cls)._betterproto.oneof_field_by_group
        self.oneofs = [tuple(sorted(f.name for f in members)) for members in groups.values()]
        self.fast, self.strict_fast = self.compile_fast(self.decode)

    def compile_fast(self, fallback: Conv) -> tuple[Conv, Conv]:
        """(decoder, strict decoder) for the form servers write; see ``_fastpath``."""
        alternate = frozenset(self.decoders).difference(f.key for f in self.fields)
        return compile_decoder(self.cls, self.fields, self.oneofs, alternate, fallback)

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

    def encode(self, msg: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for attr, key, enc, has_presence in self.encoders:
            value = getattr(msg, attr)
            if value is None and not has_presence:
                raise TypeError(f"{type(msg).__name__}.{attr} is None")
            if value is None or (not has_presence and not value):
                continue
            out[key] = enc(value)
        return out

    def encode_full(self, msg: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for attr, key, enc, null_when_unset in self.full_encoders:
            value = getattr(msg, attr)
            if value is not None:
                out[key] = enc(value)
            elif null_when_unset:
                out[key] = None
        return out


_PLANS: dict[type[betterproto2.Message], _Plan] = {}
_LOCK = threading.Lock()


def plan_of(cls: type[betterproto2.Message]) -> _Plan:
    plan = _PLANS.get(cls)
    if plan is not None:
        return plan
    with _LOCK:
        plan = _PLANS.get(cls)
        if plan is None:
            # Published only once complete: a lookup outside the lock never sees a half-built
            # plan. Nested messages resolve their plans on first use, so filling never recurses.
            plan = _Plan(cls)
            plan.fill()
            _PLANS[cls] = plan
        return plan


def _message_decoder(cls: type[betterproto2.Message]) -> Conv:
    # Resolved on first use: nested plans are built lazily, which also allows recursion.
    def dec(value: Any) -> Any:
        return plan_of(cls).decode(value)

    return dec


def _message_encoder(msg: betterproto2.Message) -> dict[str, Any]:
    return plan_of(type(msg)).encode(msg)


def _full_message_encoder(msg: betterproto2.Message) -> dict[str, Any]:
    return plan_of(type(msg)).encode_full(msg)


# From this size up, the cyclic garbage collector is paused while a body is decoded.
GC_PAUSE_BYTES = 64 * 1024


def decode(cls: type[M], data: bytes | str) -> M:
    """Parse proto3 JSON into ``cls``; raise DecodeError if it is not a valid encoding.

    A large body becomes tens of thousands of objects at once, each batch starting a pass of
    the cyclic garbage collector; none can be in a cycle yet, so from GC_PAUSE_BYTES on the
    collector is paused for the call (a tenth or more of the time of a 100-dispatch list)
    and resumed afterwards if it was running (``_gc``).
    """
    if len(data) < GC_PAUSE_BYTES:
        return _decode(cls, data)
    pause()
    try:
        return _decode(cls, data)
    finally:
        resume()


def _decode(cls: type[M], data: bytes | str) -> M:
    fast = struct_decoder(cls)
    if fast is not None:
        try:
            return cast(M, fast(data))
        except FALLBACK:
            pass  # not in the form servers write: the general way gives the answer or error
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError as e:
        raise DecodeError(f"not valid JSON: {e}") from None
    return cast(M, plan_of(cls).fast(obj))


def prepare(*classes: type[betterproto2.Message]) -> None:
    """Build the plans and decoders of ``classes`` (and all they contain) now, not on first use.

    For the dispatch service's messages this takes some tens of milliseconds, once per process.
    """
    for cls in classes:
        plan_of(cls)
        struct_decoder(cls)


def encode(msg: betterproto2.Message, *, emit_unpopulated: bool = False) -> bytes:
    """``msg`` as proto3 JSON bytes with proto field names, in declaration order.

    Fields at their default are left out, as a Twirp client sends them; with
    ``emit_unpopulated`` every field is written, as livekit-server answers (protojson's
    ``EmitUnpopulated``): defaults as values, unset messages as ``null``.
    """
    if emit_unpopulated:
        return orjson.dumps(_full_message_encoder(msg))
    return orjson.dumps(_message_encoder(msg))
