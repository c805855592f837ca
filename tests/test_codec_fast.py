"""The fast path of ``decode``: taken for what servers write, equal to the general decoder always.

``decode`` first parses a body with a msgspec struct per message class (dispatch_client/codec/fast.py)
and hands any other form to the general decoder (dispatch_client/codec/general.py). Server output
must never fall back; every other form must give exactly the general decoder's result or error.
"""

from __future__ import annotations

import gc
import subprocess
import sys
from typing import Any

import orjson
import pytest
from conftest import FIXTURES, SERVER_OUTPUT, assert_same_decode_error, full_dispatch
from conftest import general_decode as general

from dispatch_client import (
    AgentDispatch,
    CreateAgentDispatchRequest,
    JobState,
    JobStatus,
    ListAgentDispatchResponse,
    Room,
)
from dispatch_client._generated import livekit as lk
from dispatch_client.codec import GC_PAUSE_BYTES, DecodeError, decode, encode
from dispatch_client.codec.fast import FALLBACK, struct_decoder


def struct_tier(cls: type[Any], data: bytes) -> Any:
    """The fast path alone: raises one of FALLBACK where ``decode`` would fall back."""
    fast = struct_decoder(cls)
    assert fast is not None
    return fast(data)


def falls_back(cls: type[Any], data: bytes) -> bool:
    try:
        struct_tier(cls, data)
    except FALLBACK:
        return True
    return False


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        *SERVER_OUTPUT,
        ("create_request_full", CreateAgentDispatchRequest),
        ("create_request_empty", CreateAgentDispatchRequest),
    ],
)
def test_go_output_is_read_by_the_struct_tier(name: str, cls: type[Any]) -> None:
    data = (FIXTURES / f"{name}.json").read_bytes()
    got, expected = struct_tier(cls, data), general(cls, data)
    assert got == expected
    assert repr(got) == repr(expected)  # same enum members, same ints, same None/empty containers


@pytest.mark.parametrize("name", ["agent_dispatch_new", "agent_dispatch_with_jobs"])
def test_objects_are_complete_messages(name: str) -> None:
    d = struct_tier(AgentDispatch, (FIXTURES / f"{name}.json").read_bytes())
    built = AgentDispatch(**{f: getattr(d, f) for f in AgentDispatch.__dataclass_fields__})
    assert vars(d) == vars(built)  # every attribute, _unknown_fields included
    assert AgentDispatch.parse(bytes(d)) == d
    assert repr(d) == repr(built)


def test_our_own_output_in_both_shapes_is_read_by_the_struct_tier() -> None:
    msg = ListAgentDispatchResponse(agent_dispatches=[full_dispatch(), full_dispatch()])
    assert struct_tier(ListAgentDispatchResponse, encode(msg, emit_unpopulated=True)) == msg
    assert struct_tier(ListAgentDispatchResponse, encode(msg)) == msg  # defaults left out


@pytest.mark.parametrize(
    "body",
    [
        b'{"future_field": {"x": [1, 2, {"deep": null}]}, "error": "e"}',  # unknown keys are skipped
        b'{"future_number": 1e999, "error": "e"}',  # even numbers no double holds, as protojson does
        b'{"status": "JS_FROM_THE_FUTURE"}',  # an unknown enum name reads as the default
        b'{"started_at": "9223372036854775807", "ended_at": "1732000000000000000"}',  # 19 digits
        b'{"started_at": "0", "ended_at": "-5"}',  # a negative int64 string, via the general converter
        b'{"started_at": "1e3"}',  # exponent form in a string, the same way
        b'{"started_at": "-9223372036854775808", "ended_at": "-922337203685477580"}',  # the minimum
        b"{}",
    ],
)
def test_forms_the_struct_tier_reads_itself(body: bytes) -> None:
    assert struct_tier(JobState, body) == decode(JobState, body)
    if b"1e999" not in body:  # the general path refuses that number (README, known differences)
        assert decode(JobState, body) == general(JobState, body)


@pytest.mark.parametrize(
    ("cls", "body"),
    [
        (JobState, b'{"status": "JS_RUNNING", "startedAt": "5"}'),  # camelCase
        (JobState, b'{"started_at": 5}'),  # int64 as a number
        (JobState, b'{"status": 2}'),  # enum as a number
        (JobState, b'{"status": 99}'),  # a number with no name
        (JobState, b'{"status": null, "error": null, "started_at": null}'),  # null scalars
        (JobState, b'{"started_at": "-9223372036854775809"}'),  # below the minimum
        (JobState, b'{"started_at": "92233720368547758070"}'),  # too many digits
        (Room, b'{"creation_time": "+5"}'),
        (Room, b'{"enabled_codecs": [{"mime": "a"}], "enabledCodecs": []}'),
        (lk.DataTrackFrameEncoding, b'{"well_known": "WELL_KNOWN_FRAME_ENCODING_CDR", "custom": "x"}'),
        (AgentDispatch, b'{"agent_name": "a"} trailing'),
        (AgentDispatch, b"[]"),
        (AgentDispatch, b""),
        (AgentDispatch, b'{"state": {"jobs": [{"state": {"status": "JS_RUNNING", "updated_at": "x"}}]}}'),
    ],
)
def test_other_forms_fall_back_to_the_general_answer(cls: type[Any], body: bytes) -> None:
    assert falls_back(cls, body)
    try:
        expected = general(cls, body)
    except (DecodeError, orjson.JSONDecodeError):
        with pytest.raises(DecodeError):
            decode(cls, body)
    else:
        assert decode(cls, body) == expected


@pytest.mark.parametrize(
    "body",
    [
        b'{"zz": "\xff"}',  # not UTF-8, in a value the first tier skips
        b'{"\xc0\xaf": 1}',  # an overlong encoding, in a key
        b'{"state": {"zz\xed\xa0\x80": 1}}',  # an encoded surrogate, deeper down
        b'{"agent_name": "\xf4\x90\x80\x80"}',  # above U+10FFFF, in a kept value
    ],
)
def test_bytes_that_are_not_utf8_are_refused_wherever_they_stand(body: bytes) -> None:
    assert falls_back(AgentDispatch, body)
    with pytest.raises(DecodeError):
        decode(AgentDispatch, body)
    assert decode(AgentDispatch, '{"zz": "Zoë"}'.encode()) == AgentDispatch()


def test_a_str_body_that_cannot_be_utf8_is_a_decode_error() -> None:
    with pytest.raises(DecodeError):
        decode(JobState, '{"zz": "\ud800"}')


def test_a_huge_number_is_refused_when_the_body_needs_the_general_path() -> None:
    # camelCase sends the body down the general path, whose JSON parser holds numbers as doubles.
    with pytest.raises(DecodeError):
        decode(JobState, b'{"future_number": 1e999, "startedAt": "5"}')


def test_enums_ints_and_containers_have_their_python_types() -> None:
    state = struct_tier(JobState, b'{"status": "JS_RUNNING", "started_at": "1732000000000000000"}')
    assert state.status is JobStatus.JS_RUNNING
    assert type(state.started_at) is int
    assert state.started_at == 1732000000000000000
    a, b = struct_tier(AgentDispatch, b"{}"), struct_tier(AgentDispatch, b"{}")
    a.attributes["k"] = "v"
    assert b.attributes == {}  # defaults are never shared between messages
    assert a.state is None
    # A repeated enum keeps the names it knows, in order, and drops the others.
    perm = struct_tier(
        lk.ParticipantPermission, b'{"can_publish_sources": ["MICROPHONE", "FUTURE_SOURCE", "CAMERA"]}'
    )
    assert perm.can_publish_sources == [lk.TrackSource.MICROPHONE, lk.TrackSource.CAMERA]
    assert perm == general(lk.ParticipantPermission, b'{"can_publish_sources": ["MICROPHONE", "CAMERA"]}')


@pytest.mark.parametrize(
    "body",
    [
        b'{"max_participants": 4294967296}',  # uint32 overflow
        b'{"max_participants": -1}',
        b'{"empty_timeout": 1.5}',
        b'{"creation_time": "007"}',  # leading zeros
        b'{"creation_time": "9223372036854775808"}',  # int64 overflow
        b'{"creation_time": "\xd9\xa3"}',  # a non-ASCII digit
        b'{"creation_time": "5\\n"}',  # a final newline, which int() would skip
        b'{"creation_time": "-5\\n"}',
        b'{"creation_time": " 5"}',
        b'{"creation_time": "1e9999999999999999999"}',  # beyond what decimal holds
        b'{"empty_timeout": "1e-9999999999999999999"}',
        b'{"name": 5}',
        b'{"active_recording": "true"}',
        b'{"version": "null"}',
    ],
)
def test_values_out_of_type_or_range_are_the_general_decoders_errors(body: bytes) -> None:
    assert falls_back(Room, body)
    assert_same_decode_error(Room, body)


def test_a_new_service_has_its_decoders_ready_before_the_first_call() -> None:
    # In a fresh process, so that no earlier test has built them.
    code = """
import asyncio
import aiohttp
from dispatch_client import AgentDispatchService
from dispatch_client.codec import fast

async def main():
    async with aiohttp.ClientSession() as session:
        before = len(fast._DECODERS)
        AgentDispatchService(session, "http://127.0.0.1:9", "key", "a-secret-of-thirty-two-bytes-0123")
        ready = sorted(c.__name__ for c, d in fast._DECODERS.items() if d is not None)
        print(before, *ready)

asyncio.run(main())
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    before, *ready = out.stdout.split()
    assert before == "0"
    assert set(ready) == {
        "AgentDispatch",
        "CreateAgentDispatchRequest",
        "DeleteAgentDispatchRequest",
        "ListAgentDispatchRequest",
        "ListAgentDispatchResponse",
        # RoomService's, read by ensure_dispatch and by the check of a lost create.
        "ListParticipantsRequest",
        "ListParticipantsResponse",
        "ListRoomsRequest",
        "ListRoomsResponse",
    }


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
def test_every_form_reads_as_the_general_decoder_reads_it(body: bytes) -> None:
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
    one = struct_tier(lk.DataTrackFrameEncoding, b'{"custom": "x"}')
    assert (one.custom, one.well_known) == ("x", None)
    # A null member is not set, so the other may be.
    both = struct_tier(lk.DataTrackFrameEncoding, b'{"well_known": null, "custom": "x"}')
    assert (both.custom, both.well_known) == ("x", None)
    # So is a member whose enum name this schema does not know.
    future = b'{"well_known": "WELL_KNOWN_FRAME_ENCODING_FUTURE", "custom": "x"}'
    assert struct_tier(lk.DataTrackFrameEncoding, future) == general(lk.DataTrackFrameEncoding, future)


def test_unknown_enum_name_reads_as_default_on_the_fast_path() -> None:
    state = struct_tier(JobState, b'{"status": "JS_FROM_THE_FUTURE", "error": "e"}')
    assert state.status is JobStatus.JS_PENDING
    assert state.error == "e"


@pytest.mark.parametrize(("old", "new"), [("worker_id", "future_field"), ("worker_id", "workerId")])
def test_as_many_keys_as_fields_but_not_the_same_ones(old: str, new: str) -> None:
    state = JobState(status=JobStatus.JS_RUNNING, started_at=5, worker_id="w", agent_id="a")
    full = orjson.loads(encode(state, emit_unpopulated=True))
    assert len(full) == len(JobState.__dataclass_fields__)
    renamed = orjson.dumps({new if k == old else k: v for k, v in full.items()})
    assert decode(JobState, renamed) == general(JobState, renamed)
    assert decode(JobState, renamed).worker_id == ("" if new == "future_field" else "w")


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
