"""Random messages of the whole closure, written by Google's json_format and read by us, and back.

The messages are built with LiveKit's own classes (livekit-protocol), so the oracle shares
no code with the codec under test. Runs are derandomized: the same examples every time.
"""

from __future__ import annotations

from typing import Any

import orjson
from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from livekit.protocol import agent_dispatch as pb

from dispatch_client import AgentDispatch, ListAgentDispatchResponse
from dispatch_client.codec import decode, encode
from dispatch_client.codec.general import object_decoder

F = FieldDescriptor
INT_RANGES = {
    F.TYPE_INT32: (-(2**31), 2**31 - 1),
    F.TYPE_UINT32: (0, 2**32 - 1),
    F.TYPE_INT64: (-(2**63), 2**63 - 1),
    F.TYPE_UINT64: (0, 2**64 - 1),
}
SETTINGS = settings(
    max_examples=150,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def scalar(draw: st.DrawFn, f: FieldDescriptor) -> Any:
    if f.type in INT_RANGES:
        lo, hi = INT_RANGES[f.type]
        return draw(
            st.one_of(st.sampled_from([lo, hi, 0, 2**53 + 1 if hi > 2**53 else hi]), st.integers(lo, hi))
        )
    if f.type == F.TYPE_BOOL:
        return draw(st.booleans())
    if f.type == F.TYPE_STRING:
        return draw(st.text(max_size=12))
    if f.type == F.TYPE_ENUM and f.enum_type is not None:
        known = [v.number for v in f.enum_type.values]
        # Mostly known values; now and then a number this schema has no name for.
        return draw(st.one_of(st.sampled_from(known), st.integers(-(2**31), 2**31 - 1)))
    raise AssertionError(f"no strategy for {f.full_name}")


@st.composite
def filled(draw: st.DrawFn, desc: Any, depth: int = 0) -> Message:
    msg = GetMessageClass(desc)()
    for f in desc.fields:
        if not draw(st.booleans()):
            continue
        if f.message_type is not None and f.message_type.GetOptions().map_entry:
            key_f, value_f = f.message_type.fields_by_name["key"], f.message_type.fields_by_name["value"]
            for _ in range(draw(st.integers(0, 2))):
                getattr(msg, f.name)[scalar(draw, key_f)] = scalar(draw, value_f)
        elif f.message_type is not None:
            if depth > 4:
                continue
            count = draw(st.integers(0, 2)) if f.is_repeated else 1
            for _ in range(count):
                sub = draw(filled(f.message_type, depth + 1))
                if f.is_repeated:
                    getattr(msg, f.name).add().CopyFrom(sub)
                else:
                    getattr(msg, f.name).CopyFrom(sub)
        elif f.is_repeated:
            getattr(msg, f.name).extend(scalar(draw, f) for _ in range(draw(st.integers(0, 3))))
        else:
            setattr(msg, f.name, scalar(draw, f))
    return msg


def as_json(msg: Message, **options: Any) -> str:
    return json_format.MessageToJson(msg, indent=None, **options)


@SETTINGS
@given(filled(pb.ListAgentDispatchResponse.DESCRIPTOR))
def test_reads_what_json_format_writes(msg: Any) -> None:
    for options in (
        {"preserving_proto_field_name": True, "always_print_fields_with_no_presence": True},
        {"preserving_proto_field_name": False},
        {"use_integers_for_enums": True},
    ):
        data = as_json(msg, **options)
        ours = decode(ListAgentDispatchResponse, data)
        assert pb.ListAgentDispatchResponse.FromString(bytes(ours)) == msg, options
        # The fast path and the general decoder agree on every form.
        assert ours == object_decoder(ListAgentDispatchResponse).decode(orjson.loads(data)), options
    # And on everything written as livekit-server writes it.
    ours = ListAgentDispatchResponse.FromString(msg.SerializeToString())
    assert decode(ListAgentDispatchResponse, encode(ours, emit_unpopulated=True)) == ours


@SETTINGS
@given(filled(pb.AgentDispatch.DESCRIPTOR))
def test_writes_what_json_format_reads(msg: Any) -> None:
    ours = AgentDispatch.FromString(msg.SerializeToString())
    # Strict: an unknown key, a wrong type or a bad enum name fails the parse.
    assert json_format.Parse(encode(ours), pb.AgentDispatch()) == msg
    assert decode(AgentDispatch, encode(ours)) == ours
