"""Our JSON reader against Go's protojson, case by case, and what a newer server may send."""

from __future__ import annotations

import base64
import json
from typing import Any

import orjson
import pytest
from conftest import FIXTURES
from google.protobuf import text_format
from livekit.protocol import agent, agent_dispatch, models

from dispatch_client import (
    AgentDispatch,
    Job,
    JobStatus,
    ListAgentDispatchResponse,
    ParticipantInfo,
    ParticipantInfoKindDetail,
)
from dispatch_client._generated import livekit as lk
from dispatch_client.codec import DecodeError, decode, encode
from dispatch_client.codec.values import value_decoder

ALL_CASES = json.loads((FIXTURES / "accept_cases.json").read_text())
# Cases for messages outside the dispatch service's closure (metrics, blobs) are not ours to read.
CASES = [c for c in ALL_CASES if hasattr(lk, c["message"].removeprefix("livekit."))]

# Where we knowingly read differently from protojson, and what we do instead.
DEVIATIONS: dict[str, str] = {
    # The JSON parser keeps the last of two identical keys; protojson refuses the body.
    "create/duplicate_key_same_spelling": "last wins",
    "create/duplicate_attributes_field": "last wins",
    "create/duplicate_map_key": "last wins",
    # Integers written with a fraction part are read through a double: exact only up to 2**53.
    "dispatch/int64_number_with_dot_zero": "rounded",
}


def _theirs(name: str) -> Any:
    short = name.removeprefix("livekit.")
    for module in (agent_dispatch, agent, models):
        if hasattr(module, short):
            return getattr(module, short)
    raise LookupError(name)


def test_the_cases_cover_our_messages() -> None:
    assert len(CASES) >= 90
    assert {c["message"] for c in CASES} >= {
        "livekit.CreateAgentDispatchRequest",
        "livekit.DeleteAgentDispatchRequest",
        "livekit.ListAgentDispatchRequest",
        "livekit.AgentDispatch",
        "livekit.Job",
        "livekit.Room",
    }
    assert set(DEVIATIONS) <= {c["name"] for c in CASES}


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_reads_like_protojson(case: dict[str, Any]) -> None:
    ours = getattr(lk, case["message"].removeprefix("livekit."))
    theirs = _theirs(case["message"])
    body = base64.b64decode(case["body_base64"])
    verdict = case["protojson_unmarshal"]
    deviation = DEVIATIONS.get(case["name"])

    if deviation == "refused" or (not verdict["ok"] and deviation is None):
        with pytest.raises(DecodeError):
            decode(ours, body)
        return
    got = decode(ours, body)
    if deviation == "last wins":
        last: dict[str, Any] = {}
        for key, value in json.loads(body, object_pairs_hook=list):
            last[key] = dict(value) if isinstance(value, list) else value
        assert got == decode(ours, orjson.dumps(last))
        return
    want = text_format.Parse(verdict["prototext"], theirs())
    if deviation == "rounded":
        assert got.state.created_at == int(float(want.state.created_at))
        return
    assert theirs.FromString(bytes(got)) == want


def test_unknown_fields_are_ignored_at_every_depth() -> None:
    body = {
        "id": "AD_1",
        "brand_new_field": {"nested": [1, {"x": None}]},
        "state": {
            "jobs": [{"id": "AJ_1", "future": "x", "state": {"status": "JS_RUNNING", "later": 1}}],
            "created_at": "1",
            "newer_ts": "2",
        },
    }
    d = decode(AgentDispatch, orjson.dumps(body))
    assert d.id == "AD_1"
    assert d.state is not None
    assert d.state.jobs[0].state is not None
    assert d.state.jobs[0].state.status is JobStatus.JS_RUNNING


def test_unknown_enum_name_reads_as_the_field_left_out() -> None:
    job = decode(Job, b'{"id": "AJ_1", "type": "JT_FROM_THE_FUTURE", "state": {"status": "JS_NEW_STATE"}}')
    assert job.id == "AJ_1"
    assert job.type is lk.JobType.JT_ROOM  # the zero value, as if absent
    assert job.state is not None
    assert job.state.status is JobStatus.JS_PENDING


def test_unknown_enum_names_are_dropped_from_lists() -> None:
    p = decode(ParticipantInfo, b'{"kind_details": ["CLOUD_AGENT", "FUTURE_KIND", "FORWARDED"]}')
    assert p.kind_details == [ParticipantInfoKindDetail.CLOUD_AGENT, ParticipantInfoKindDetail.FORWARDED]


def test_unknown_enum_numbers_are_kept_and_written_back() -> None:
    job = decode(Job, b'{"state": {"status": 9}}')
    assert job.state is not None
    assert int(job.state.status) == 9
    assert isinstance(job.state.status, JobStatus)
    assert orjson.loads(encode(job)) == {"state": {"status": 9}}


def test_names_from_a_newer_schema_still_decode() -> None:
    # JS_CANCELLED and JobState.reason are newer than the fixtures' server; both read fine.
    job = decode(Job, b'{"state": {"status": "JS_CANCELLED", "reason": "JSR_RETRYING"}}')
    assert job.state is not None
    assert job.state.status is JobStatus.JS_CANCELLED
    assert job.state.reason is lk.JobStateReason.JSR_RETRYING


def test_camel_case_and_numbers() -> None:
    body = (
        b'{"agentDispatches": [{"agentName": "a", "restartPolicy": 1, "state": '
        b'{"createdAt": 1732000000123456789, "deletedAt": "-5", "jobs": [{"dispatchId": "AD_1", '
        b'"enableRecording": true, "room": {"emptyTimeout": "4000000003", "creationTimeMs": 7}}]}}]}'
    )
    [d] = decode(ListAgentDispatchResponse, body).agent_dispatches
    assert d.agent_name == "a"
    assert d.restart_policy is lk.JobRestartPolicy.JRP_NEVER
    assert d.state is not None
    assert d.state.created_at == 1732000000123456789
    assert d.state.deleted_at == -5
    job = d.state.jobs[0]
    assert job.dispatch_id == "AD_1"
    assert job.enable_recording is True
    assert job.room is not None
    assert (job.room.empty_timeout, job.room.creation_time_ms) == (4000000003, 7)


def test_null_means_default_everywhere() -> None:
    body = (
        b'{"id": null, "state": {"jobs": null, "created_at": null}, "attributes": null, '
        b'"restart_policy": null}'
    )
    d = decode(AgentDispatch, body)
    assert d == AgentDispatch(state=lk.AgentDispatchState())


@pytest.mark.parametrize(
    "body",
    [
        b'{"state": {"created_at": "18446744073709551616"}}',
        b'{"state": {"jobs": {}}}',
        b'{"attributes": {"k": 1}}',
        b'{"state": "x"}',
        b'{"id": 5}',
    ],
)
def test_wrong_types_are_decode_errors_naming_the_field(body: bytes) -> None:
    with pytest.raises(DecodeError) as err:
        decode(AgentDispatch, body)
    first_key = next(iter(orjson.loads(body)))
    assert str(err.value).startswith(first_key + ":")


def test_int64_limits() -> None:
    top = decode(lk.TimedVersion, b'{"unix_micro": "9223372036854775807"}')
    assert top.unix_micro == 2**63 - 1
    with pytest.raises(DecodeError):
        decode(lk.TimedVersion, b'{"unix_micro": "9223372036854775808"}')
    assert orjson.loads(encode(top)) == {"unix_micro": "9223372036854775807"}


@pytest.mark.parametrize(
    "text",
    ["9" * 5000, "1e999999999", "-1e999999999", "1" + "0" * 70, "1e-999999999"],
)
def test_hostile_integer_strings_fail_fast(text: str) -> None:
    # Neither a huge exponent nor a huge digit string may build a huge integer.
    with pytest.raises(DecodeError, match="created_at"):
        decode(lk.AgentDispatchState, orjson.dumps({"created_at": text}))


def test_integers_beyond_64_bits_are_refused() -> None:
    with pytest.raises(DecodeError):
        decode(lk.AgentDispatchState, b'{"created_at": 123456789012345678901234567890}')


def test_two_members_of_a_oneof_are_refused() -> None:
    assert decode(lk.DataTrackSchemaEncoding, b'{"custom": "x"}').custom == "x"
    assert decode(lk.DataTrackSchemaEncoding, b'{"custom": "x", "well_known": null}').custom == "x"
    with pytest.raises(DecodeError, match="oneof"):
        decode(lk.DataTrackSchemaEncoding, b'{"custom": "x", "wellKnown": 1}')


@pytest.mark.parametrize(
    "literal", [b"-9223372036854775809", b"9223372036854775808", b"18446744073709551616", b"1e19"]
)
def test_out_of_range_int64_literals_are_refused(literal: bytes) -> None:
    with pytest.raises(DecodeError):
        decode(lk.AgentDispatchState, b'{"created_at": ' + literal + b"}")


def test_int64_limits_as_numbers() -> None:
    low = decode(lk.AgentDispatchState, b'{"created_at": -9223372036854775808}')
    assert low.created_at == -(2**63)
    assert decode(lk.TimedVersion, b'{"unix_micro": 1.732e18}').unix_micro == 1732 * 10**15


def test_plans_are_safe_to_build_from_many_threads() -> None:
    import subprocess
    import sys

    # A fresh interpreter, so that no plan exists yet when the threads start.
    probe = (
        "import sys, threading\n"
        "from dispatch_client.codec import decode\n"
        "from dispatch_client import ListAgentDispatchResponse\n"
        "body = open(sys.argv[1], 'rb').read()\n"
        "barrier = threading.Barrier(16)\n"
        "seen = []\n"
        "def run():\n"
        "    barrier.wait()\n"
        "    seen.append(decode(ListAgentDispatchResponse, body))\n"
        "threads = [threading.Thread(target=run) for _ in range(16)]\n"
        "[t.start() for t in threads]; [t.join() for t in threads]\n"
        "print(len(seen), all(s == seen[0] for s in seen), seen[0].agent_dispatches[1].id)\n"
    )
    fixture = str(FIXTURES / "list_response_3.json")
    for _ in range(5):
        out = subprocess.run(
            [sys.executable, "-c", probe, fixture], check=True, capture_output=True, text=True
        )
        assert out.stdout.split() == ["16", "True", "AD_9LkQ2mNw7RtY"]


@pytest.mark.parametrize("proto_type", ["float", "double"])
@pytest.mark.parametrize("value", [10**400, -(10**400)])
def test_an_integer_beyond_any_double_is_a_decode_error(proto_type: str, value: int) -> None:
    # No field of this schema is a float, and orjson reads such literals as doubles; msgspec,
    # which parses what the general converter sees on the fast path, keeps them as ints.
    conv = value_decoder(proto_type, None, lambda cls: cls)
    with pytest.raises(DecodeError):
        conv(value)
    assert conv(10**20) == 1e20
