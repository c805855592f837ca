"""The fields of livekit/protocol v1.54.1 newer than livekit-protocol 1.1.29, decoded and written.

- livekit-server v1.13.5 sends none of them: its recorded answers decode with each at its default;
- bytes Go's protojson wrote from v1.54.1's own Go types with every one of them set
  (``fixtures/livekit-protocol-v1.54.1/``) decode value for value, on the fast path and the
  general one alike;
- hand-made messages with every one of them set, built from ``proto/`` with Google's protobuf
  runtime (an oracle that shares no code with the codec), go through ``json_format`` and our
  codec both ways.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import FIXTURES, general_decode
from google.protobuf import descriptor_pb2, descriptor_pool, json_format
from google.protobuf.message_factory import GetMessageClass
from grpc_tools import protoc

from dispatch_client import (
    AgentDispatch,
    AgentDispatchTrigger,
    CreateAgentDispatchRequest,
    JobStateReason,
    JobStatus,
    ListAgentDispatchResponse,
    RoomAgentDispatch,
)
from dispatch_client.codec import decode, encode

PROTO_DIR = Path(__file__).parent.parent / "proto"
NEWER = FIXTURES / "livekit-protocol-v1.54.1"


def test_a_v1_13_5_answer_leaves_every_newer_field_at_its_default() -> None:
    body = (FIXTURES / "livekit-server-v1.13.5" / "jobs_get_stay.json").read_bytes()
    dispatch = decode(ListAgentDispatchResponse, body).agent_dispatches[0]
    assert dispatch.thread_id == ""
    assert dispatch.state is not None
    assert dispatch.state.trigger is AgentDispatchTrigger.ADT_UNSPECIFIED
    job = dispatch.state.jobs[0]
    assert (job.created_at, job.thread_id) == (0, "")
    assert job.state is not None
    s = job.state
    assert (s.accepted_at, s.assigned_at, s.attempts, s.first_started_at) == (0, 0, 0, 0)
    assert (s.agent_failed_attempts_ns, s.workers_asked, s.reason) == (0, 0, JobStateReason.JSR_UNSPECIFIED)


@pytest.mark.parametrize("path", ["fast", "general"])
def test_go_written_bytes_with_every_newer_field_decode(path: str) -> None:
    body = (NEWER / "list_new_fields.json").read_bytes()
    resp = (
        decode(ListAgentDispatchResponse, body)
        if path == "fast"
        else general_decode(ListAgentDispatchResponse, body)
    )
    [dispatch] = resp.agent_dispatches
    assert dispatch.thread_id == "AT_thread0001"
    assert dispatch.state is not None
    assert (dispatch.state.trigger, dispatch.state.created_at) == (
        AgentDispatchTrigger.ADT_JOIN,
        1796000000000000006,
    )
    [job] = dispatch.state.jobs
    assert (job.created_at, job.thread_id) == (1796000000123456789, "AT_thread0001")
    assert job.state is not None
    s = job.state
    assert (s.status, s.reason) == (JobStatus.JS_RUNNING, JobStateReason.JSR_RETRYING)
    assert (s.assigned_at, s.accepted_at, s.first_started_at) == (
        1796000000200000004,
        1796000000250000003,
        1796000000100000005,
    )
    # Above 2^53 (kept exact) and the largest uint32.
    assert (s.attempts, s.agent_failed_attempts_ns, s.workers_asked) == (3, 9007199254740993, 4294967295)
    # Written back as the Go server writes it, key for key.
    assert orjson.loads(encode(resp, emit_unpopulated=True)) == orjson.loads(body)


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory) -> descriptor_pool.DescriptorPool:
    out = tmp_path_factory.mktemp("newer") / "set.pb"
    files = sorted(p.name for p in PROTO_DIR.glob("*.proto"))
    assert (
        protoc.main(["protoc", f"-I{PROTO_DIR}", "--include_imports", f"--descriptor_set_out={out}", *files])
        == 0
    )
    found = descriptor_pool.DescriptorPool()
    for f in descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file:
        found.Add(f)
    return found


def oracle(pool: descriptor_pool.DescriptorPool, name: str) -> Any:
    return GetMessageClass(pool.FindMessageTypeByName(f"livekit.{name}"))()


def every_newer_field(pool: descriptor_pool.DescriptorPool) -> Any:
    resp = oracle(pool, "ListAgentDispatchResponse")
    d = resp.agent_dispatches.add(id="AD_1", agent_name="a", room="r", thread_id="AT_2")
    d.state.trigger = 3  # ADT_DISPATCH_API
    d.state.created_at = 2**62 + 1
    job = d.state.jobs.add(id="AJ_1", dispatch_id="AD_1", created_at=2**63 - 1, thread_id="AT_3")
    s = job.state
    s.status, s.reason = 1, 4
    s.accepted_at, s.assigned_at, s.first_started_at = 2**53 + 1, -1, 1
    s.attempts, s.agent_failed_attempts_ns, s.workers_asked = 2**32 - 1, 2**63 - 1, 7
    return resp


@pytest.mark.parametrize("proto_names", [True, False], ids=["snake_case", "camelCase"])
def test_hand_made_bytes_with_every_newer_field_decode_as_json_format_wrote_them(
    pool: descriptor_pool.DescriptorPool, proto_names: bool
) -> None:
    theirs = every_newer_field(pool)
    body = json_format.MessageToJson(theirs, preserving_proto_field_name=proto_names).encode()
    ours = decode(ListAgentDispatchResponse, body)
    [d] = ours.agent_dispatches
    assert d.state is not None
    assert (d.thread_id, d.state.trigger, d.state.created_at) == (
        "AT_2",
        AgentDispatchTrigger.ADT_DISPATCH_API,
        2**62 + 1,
    )
    job = d.state.jobs[0]
    assert job.state is not None
    assert (job.created_at, job.thread_id, job.state.reason) == (
        2**63 - 1,
        "AT_3",
        JobStateReason.JSR_RETRYING,
    )
    s = job.state
    assert (s.accepted_at, s.assigned_at, s.first_started_at) == (2**53 + 1, -1, 1)
    assert (s.attempts, s.agent_failed_attempts_ns, s.workers_asked) == (2**32 - 1, 2**63 - 1, 7)
    # And back: what we write, json_format reads as the same message.
    again = oracle(pool, "ListAgentDispatchResponse")
    json_format.Parse(encode(ours), again)
    assert again == theirs


def test_requests_with_thread_id_are_written_as_json_format_reads_them(
    pool: descriptor_pool.DescriptorPool,
) -> None:
    for ours, name in (
        (
            CreateAgentDispatchRequest(agent_name="a", room="r", thread_id="AT_9"),
            "CreateAgentDispatchRequest",
        ),
        (RoomAgentDispatch(agent_name="a", thread_id="AT_9"), "RoomAgentDispatch"),
    ):
        theirs = oracle(pool, name)
        json_format.Parse(encode(ours), theirs)
        assert theirs.thread_id == "AT_9"
        assert decode(type(ours), json_format.MessageToJson(theirs).encode()) == ours


def test_an_answer_without_the_newer_keys_decodes_as_before() -> None:
    # The form v1.13.5 writes: the keys are not there at all (not null, not zero).
    body = (
        b'{"id":"AD_1","agent_name":"a","room":"r","metadata":"","state":{"jobs":[],"created_at":"5",'
        b'"deleted_at":"0"},"restart_policy":"JRP_ON_FAILURE","deployment":"","attributes":{}}'
    )
    assert decode(AgentDispatch, body) == general_decode(AgentDispatch, body)
    assert decode(AgentDispatch, body).thread_id == ""
