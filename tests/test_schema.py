"""proto/ says what LiveKit's published protocol says, field for field.

proto/ is compiled with grpcio-tools into a descriptor set and compared with the
descriptors shipped in livekit-protocol, over everything AgentDispatchService reaches, the
messages of the two RoomService reads the client makes (ListRooms, ListParticipants) and the
room configuration of a join token (RoomConfiguration, with RoomAgentDispatch).

livekit-protocol 1.1.29 (the Python package) predates the fields of LiveKit's protocol
v1.54.1 (the Go module, 2026-11) listed in NEWER: those were read from that version's
protobufs/*.proto, and are checked here as facts (name, number, type) on top of the rest.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import Descriptor, EnumDescriptor, ServiceDescriptor
from grpc_tools import protoc
from livekit.protocol import agent_dispatch, room

from dispatch_client.codec.plan import PROTO3_OPTIONAL_MESSAGES

PROTO_DIR = Path(__file__).parent.parent / "proto"
SERVICE = "livekit.AgentDispatchService"
# Declared only to scope an enum the closure uses; upstream they have fields we do not need.
ENUM_SCOPES = {"livekit.Encryption", "livekit.ClientInfo"}
# The RoomService reads' messages (the service itself is not declared).
ROOM_READS = ("ListRoomsRequest", "ListRoomsResponse", "ListParticipantsRequest", "ListParticipantsResponse")
# Roots beside the service: what a join token's roomConfig claim holds.
TOKEN_ROOTS = ("RoomConfiguration",)
# Upstream fields deliberately not declared: RoomConfiguration.egress would bring in the whole
# egress schema, which a join token of this client never carries (a decoder ignores it).
OMITTED = {"livekit.RoomConfiguration": {"egress"}}
_T = descriptor_pb2.FieldDescriptorProto
# Fields of livekit/protocol v1.54.1 that livekit-protocol 1.1.29 lacks: (number, type, type name).
NEWER: dict[str, dict[str, tuple[int, descriptor_pb2.FieldDescriptorProto.Type.ValueType, str]]] = {
    "livekit.CreateAgentDispatchRequest": {"thread_id": (7, _T.TYPE_STRING, "")},
    "livekit.RoomAgentDispatch": {"thread_id": (6, _T.TYPE_STRING, "")},
    "livekit.AgentDispatch": {"thread_id": (9, _T.TYPE_STRING, "")},
    "livekit.AgentDispatchState": {"trigger": (4, _T.TYPE_ENUM, ".livekit.AgentDispatchTrigger")},
    "livekit.Job": {"created_at": (14, _T.TYPE_INT64, ""), "thread_id": (15, _T.TYPE_STRING, "")},
    "livekit.JobState": {
        "accepted_at": (10, _T.TYPE_INT64, ""),
        "assigned_at": (11, _T.TYPE_INT64, ""),
        "attempts": (12, _T.TYPE_UINT32, ""),
        "first_started_at": (13, _T.TYPE_INT64, ""),
        "agent_failed_attempts_ns": (14, _T.TYPE_INT64, ""),
        "workers_asked": (15, _T.TYPE_UINT32, ""),
    },
}
NEWER_ENUMS = {
    "livekit.AgentDispatchTrigger": [
        ("ADT_UNSPECIFIED", 0),
        ("ADT_JOIN", 1),
        ("ADT_ROOM_API", 2),
        ("ADT_DISPATCH_API", 3),
    ]
}


def upstream_closure() -> tuple[ServiceDescriptor, dict[str, Descriptor], dict[str, EnumDescriptor]]:
    service = agent_dispatch.DESCRIPTOR.services_by_name["AgentDispatchService"]
    messages: dict[str, Descriptor] = {}
    enums: dict[str, EnumDescriptor] = {}

    def walk(m: Descriptor) -> None:
        if m.full_name in messages:
            return
        messages[m.full_name] = m
        for f in m.fields:
            if f.name in OMITTED.get(m.full_name, ()):
                continue
            if f.message_type is not None:
                walk(f.message_type)
            if f.enum_type is not None:
                enums[f.enum_type.full_name] = f.enum_type

    for method in service.methods:
        walk(method.input_type)
        walk(method.output_type)
    for name in ROOM_READS + TOKEN_ROOTS:
        walk(room.DESCRIPTOR.message_types_by_name[name])
    return service, messages, enums


@pytest.fixture(scope="module")
def ours(tmp_path_factory: pytest.TempPathFactory) -> descriptor_pb2.FileDescriptorSet:
    out = tmp_path_factory.mktemp("schema") / "set.pb"
    files = sorted(p.name for p in PROTO_DIR.glob("*.proto"))
    rc = protoc.main(["protoc", f"-I{PROTO_DIR}", f"--descriptor_set_out={out}", *files])
    assert rc == 0, "protoc failed on proto/"
    return descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())


def flatten(
    fds: descriptor_pb2.FileDescriptorSet,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    messages: dict[str, descriptor_pb2.DescriptorProto] = {}
    enums: dict[str, descriptor_pb2.EnumDescriptorProto] = {}
    services: dict[str, descriptor_pb2.ServiceDescriptorProto] = {}

    def add(prefix: str, m: descriptor_pb2.DescriptorProto) -> None:
        name = f"{prefix}.{m.name}"
        messages[name] = m
        for nested in m.nested_type:
            add(name, nested)
        for e in m.enum_type:
            enums[f"{name}.{e.name}"] = e

    for f in fds.file:
        assert f.syntax == "proto3", f.name
        assert f.package == "livekit", f.name
        for m in f.message_type:
            add(f.package, m)
        for e in f.enum_type:
            enums[f"{f.package}.{e.name}"] = e
        for s in f.service:
            services[f"{f.package}.{s.name}"] = s
    return messages, enums, services


def field_facts(m: descriptor_pb2.DescriptorProto) -> dict[str, tuple[object, ...]]:
    return {
        f.name: (
            f.number,
            descriptor_pb2.FieldDescriptorProto.Type.Name(f.type),
            descriptor_pb2.FieldDescriptorProto.Label.Name(f.label),
            f.type_name,
            m.oneof_decl[f.oneof_index].name if f.HasField("oneof_index") else None,
            f.proto3_optional,
            f.json_name or None,
        )
        for f in m.field
    }


def proto_of(d: Any, kind: Any) -> Any:
    p = kind()
    d.CopyToProto(p)
    return p


def test_closure_size() -> None:
    _, messages, enums = upstream_closure()
    assert (len(messages), len(enums)) == (
        32,
        19,
    )  # and AgentDispatchTrigger, newer than livekit-protocol 1.1.29


def test_service_matches(ours: descriptor_pb2.FileDescriptorSet) -> None:
    service, _, _ = upstream_closure()
    _, _, services = flatten(ours)
    assert set(services) == {SERVICE}
    mine = {m.name: (m.input_type, m.output_type) for m in services[SERVICE].method}
    theirs = {m.name: (f".{m.input_type.full_name}", f".{m.output_type.full_name}") for m in service.methods}
    assert mine == theirs


def test_messages_match_field_for_field(ours: descriptor_pb2.FileDescriptorSet) -> None:
    _, upstream, _ = upstream_closure()
    messages, _, _ = flatten(ours)
    assert set(messages) - ENUM_SCOPES == set(upstream)
    for name, desc in upstream.items():
        theirs = proto_of(desc, descriptor_pb2.DescriptorProto)
        mine = messages[name]
        for f in theirs.field:
            f.json_name = ""  # protoc fills json_name only on request; compare the rest
        for f in mine.field:
            f.json_name = ""
        newer = NEWER.get(name, {})
        expected = {k: v for k, v in field_facts(theirs).items() if k not in OMITTED.get(name, ())}
        found = field_facts(mine)
        for field, (number, kind, type_name) in newer.items():
            assert found.pop(field, None) == (
                number,
                _T.Type.Name(kind),
                "LABEL_OPTIONAL",
                type_name,
                None,
                False,
                None,
            )
        assert found == expected, name
        assert [o.name for o in mine.oneof_decl] == [o.name for o in theirs.oneof_decl], name
        assert mine.options.map_entry == theirs.options.map_entry, name
    for scope in ENUM_SCOPES:
        assert not messages[scope].field, f"{scope} should only scope its enum"


def test_enums_match_value_for_value(ours: descriptor_pb2.FileDescriptorSet) -> None:
    _, _, upstream = upstream_closure()
    _, enums, _ = flatten(ours)
    assert set(enums) == set(upstream) | set(NEWER_ENUMS)
    for name, values in NEWER_ENUMS.items():
        assert [(v.name, v.number) for v in enums[name].value] == values, name
    for name, desc in upstream.items():
        mine = [(v.name, v.number) for v in enums[name].value]
        assert mine == [(v.name, v.number) for v in desc.values], name


def test_no_field_options(ours: descriptor_pb2.FileDescriptorSet) -> None:
    # No logger options, and no deprecated markers (see the header of livekit_models.proto).
    messages, _, _ = flatten(ours)
    for name, m in messages.items():
        for f in m.field:
            assert not f.HasField("options"), f"{name}.{f.name}"


def test_codec_knows_every_proto3_optional_message_field(ours: descriptor_pb2.FileDescriptorSet) -> None:
    messages, _, _ = flatten(ours)
    declared = {
        (name.removeprefix("livekit."), f.name)
        for name, m in messages.items()
        for f in m.field
        if f.proto3_optional and f.type == descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE
    }
    known = {(cls.__name__, attr) for cls, attrs in PROTO3_OPTIONAL_MESSAGES.items() for attr in attrs}
    assert known == declared
