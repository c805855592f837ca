"""The compiled decoders: taken for what servers write, and equal to the general decoder always.

``decode`` runs every message through a decoder compiled per class (dispatch_client/_fastpath),
which hands whatever is not in the simple form to the general decoder. These tests check
both halves of that promise: server output never falls back, and every other form gives
exactly the result, or exactly the error, that the general decoder gives.
"""

from __future__ import annotations

import gc
from typing import Any

import orjson
import pytest
from conftest import FIXTURES, SERVER_OUTPUT, assert_same_decode_error, full_dispatch
from conftest import general_decode as general

from dispatch_client import AgentDispatch, JobState, JobStatus, ListAgentDispatchResponse, Room
from dispatch_client._codec import GC_PAUSE_BYTES, DecodeError, decode, encode, plan_of
from dispatch_client._generated import livekit as lk


def fast_without_fallback(cls: type[Any], data: bytes) -> Any:
    fallbacks: list[Any] = []

    def record(obj: Any) -> Any:
        fallbacks.append(obj)
        return plan_of(cls).decode(obj)

    decoder, _ = plan_of(cls).compile_fast(record)
    result = decoder(orjson.loads(data))
    assert fallbacks == [], "the compiled decoder fell back to the general one"
    return result


@pytest.mark.parametrize(("name", "cls"), SERVER_OUTPUT)
def test_go_server_output_never_falls_back(name: str, cls: type[Any]) -> None:
    data = (FIXTURES / f"{name}.json").read_bytes()
    assert fast_without_fallback(cls, data) == general(cls, data)


def test_output_in_our_own_schema_shape_never_falls_back() -> None:
    # Every field present, in declaration order: the single-unpacking path of each class.
    msg = ListAgentDispatchResponse(agent_dispatches=[full_dispatch(), full_dispatch()])
    data = encode(msg, emit_unpopulated=True)
    assert fast_without_fallback(ListAgentDispatchResponse, data) == msg
    # Defaults left out, as a client writes them.
    assert fast_without_fallback(ListAgentDispatchResponse, encode(msg)) == msg


def test_objects_are_complete_messages() -> None:
    d = decode(AgentDispatch, (FIXTURES / "agent_dispatch_new.json").read_bytes())
    built = AgentDispatch(**{f: getattr(d, f) for f in AgentDispatch.__dataclass_fields__})
    assert vars(d) == vars(built)  # every attribute, _unknown_fields included
    assert AgentDispatch.parse(bytes(d)) == d
    assert repr(d) == repr(built)


@pytest.mark.parametrize(
    "body",
    [
        b'{"status": "JS_RUNNING", "startedAt": "5"}',  # camelCase
        b'{"started_at": 5}',  # int64 as a number
        b'{"started_at": "-5"}',  # negative
        b'{"started_at": "9000000000000000000"}',  # 19 digits, still in range
        b'{"started_at": "9223372036854775807"}',  # the maximum
        b'{"started_at": "1e3"}',  # exponent form
        b'{"status": 2}',  # enum as a number
        b'{"status": 99}',  # a number with no name
        b'{"status": "JS_FROM_THE_FUTURE"}',  # an unknown name
        b'{"status": null, "error": null, "started_at": null}',
        b'{"future_field": {"x": [1, 2]}, "error": "e"}',  # unknown key
        b"{}",
    ],
)
def test_other_forms_read_as_the_general_decoder_reads_them(body: bytes) -> None:
    assert decode(JobState, body) == general(JobState, body)


@pytest.mark.parametrize(
    ("cls", "body"),
    [
        (JobState, b'{"started_at": "007"}'),
        (JobState, b'{"started_at": "9223372036854775808"}'),
        (JobState, b'{"started_at": "\xd9\xa3"}'),  # an Arabic-Indic digit: isdigit() says yes
        (JobState, b'{"started_at": " 5"}'),
        (JobState, b'{"error": 5}'),
        (JobState, b'{"status": true}'),
        (JobState, b'{"error": "a", "error_": 1, "started_at": "x"}'),
        (Room, b'{"version": []}'),
        (Room, b'{"enabled_codecs": {"mime": {}}}'),
        (Room, b'{"enabled_codecs": "ab"}'),
        (Room, b'{"enabled_codecs": [null]}'),
        (Room, b'{"enabled_codecs": [{"mime": 1}]}'),
        (Room, b'{"max_participants": 4294967296}'),
        (Room, b'{"max_participants": -1}'),
        (AgentDispatch, b'{"state": {"jobs": [{"state": {"status": "JS_RUNNING", "updated_at": "x"}}]}}'),
        (AgentDispatch, b'{"agent_name": "a", "agentName": "b"}'),
        (AgentDispatch, b"[]"),
        (AgentDispatch, b'{"attributes": {"a": 1}}'),
        (AgentDispatch, b'{"attributes": {"a": "x", "b": null}}'),
        (AgentDispatch, b'{"attributes": ["a"]}'),
        (lk.DataTrackInfo, b'{"schema": {}, "frame_encoding": {}, "sid": 1}'),
        (lk.DataTrackFrameEncoding, b'{"well_known": "WELL_KNOWN_FRAME_ENCODING_CDR", "custom": "x"}'),
    ],
)
def test_errors_are_the_general_decoders_errors(cls: type[Any], body: bytes) -> None:
    assert_same_decode_error(cls, body)


def test_oneof_members_on_the_fast_path() -> None:
    one = fast_without_fallback(lk.DataTrackFrameEncoding, b'{"custom": "x"}')
    assert (one.custom, one.well_known) == ("x", None)
    # A null member is not set, so the other may be.
    both = fast_without_fallback(lk.DataTrackFrameEncoding, b'{"well_known": null, "custom": "x"}')
    assert (both.custom, both.well_known) == ("x", None)
    # So is a member whose enum name this schema does not know.
    future = b'{"well_known": "WELL_KNOWN_FRAME_ENCODING_FUTURE", "custom": "x"}'
    assert fast_without_fallback(lk.DataTrackFrameEncoding, future) == general(
        lk.DataTrackFrameEncoding, future
    )


def test_unknown_enum_name_reads_as_default_on_the_fast_path() -> None:
    body = b'{"status": "JS_FROM_THE_FUTURE", "error": "e"}'
    state = fast_without_fallback(JobState, body)
    assert state.status is JobStatus.JS_PENDING
    assert state.error == "e"


def test_fresh_containers_per_message() -> None:
    # Defaults that are lists or dicts must never be shared between decoded messages.
    a, b = decode(AgentDispatch, b"{}"), decode(AgentDispatch, b"{}")
    a.attributes["k"] = "v"
    assert b.attributes == {}
    assert a.state is None


def test_garbage_collector_is_paused_for_large_bodies_only_and_resumed() -> None:
    big = encode(ListAgentDispatchResponse(agent_dispatches=[full_dispatch()] * 20))
    assert len(big) >= GC_PAUSE_BYTES

    def collections() -> int:
        return int(gc.get_stats()[0]["collections"])

    assert gc.isenabled()
    # The same work without the pause does run the collector...
    before = collections()
    general(ListAgentDispatchResponse, big)
    assert collections() > before
    # ...while decode() does not, and leaves it running.
    before = collections()
    assert len(decode(ListAgentDispatchResponse, big).agent_dispatches) == 20
    assert collections() == before
    assert gc.isenabled()
    # A failure resumes it too.
    with pytest.raises(DecodeError):
        decode(ListAgentDispatchResponse, big[:-1])
    assert gc.isenabled()
    # A collector the caller turned off stays off.
    gc.disable()
    try:
        decode(ListAgentDispatchResponse, big)
        assert not gc.isenabled()
    finally:
        gc.enable()


@pytest.mark.parametrize(("old", "new"), [("worker_id", "future_field"), ("worker_id", "workerId")])
def test_as_many_keys_as_fields_but_not_the_same_ones(old: str, new: str) -> None:
    state = JobState(status=JobStatus.JS_RUNNING, started_at=5, worker_id="w", agent_id="a")
    full = orjson.loads(encode(state, emit_unpopulated=True))
    assert len(full) == len(JobState.__dataclass_fields__)
    renamed = orjson.dumps({new if k == old else k: v for k, v in full.items()})
    assert decode(JobState, renamed) == general(JobState, renamed)
    assert decode(JobState, renamed).worker_id == ("" if new == "future_field" else "w")
