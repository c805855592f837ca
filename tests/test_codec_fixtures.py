"""Decode the bytes Go's protojson wrote for these messages, value by value.

The fixtures are what livekit-server's marshaller produces (snake_case, every field
present, int64 as strings, enums as names, unset messages as null, unset proto3
``optional`` fields left out). Each is checked against its protobuf text twin, read
with LiveKit's own classes, and against a handful of explicit values.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from conftest import FIXTURES
from google.protobuf import json_format, text_format
from livekit.protocol import agent_dispatch as pb

from dispatch_client import (
    AgentDispatch,
    CreateAgentDispatchRequest,
    JobRestartPolicy,
    JobStatus,
    JobType,
    ListAgentDispatchResponse,
    ParticipantInfoState,
    TrackSource,
    TrackType,
)
from dispatch_client._generated import livekit as lk
from dispatch_client.codec import decode, encode

CASES: list[tuple[str, type[Any], Any]] = [
    ("agent_dispatch_new", AgentDispatch, pb.AgentDispatch),
    ("agent_dispatch_with_jobs", AgentDispatch, pb.AgentDispatch),
    ("list_response_3", ListAgentDispatchResponse, pb.ListAgentDispatchResponse),
    ("create_request_min", CreateAgentDispatchRequest, pb.CreateAgentDispatchRequest),
    ("create_request_full", CreateAgentDispatchRequest, pb.CreateAgentDispatchRequest),
]


@pytest.mark.parametrize(("name", "ours", "theirs"), CASES, ids=[c[0] for c in CASES])
def test_fixture_matches_its_text_twin(name: str, ours: type[Any], theirs: type[Any]) -> None:
    decoded = decode(ours, (FIXTURES / f"{name}.json").read_bytes())
    expected = text_format.Parse((FIXTURES / f"{name}.txtpb").read_text(), theirs())
    assert theirs.FromString(bytes(decoded)) == expected
    # Google's own JSON reader agrees on the same bytes.
    assert json_format.Parse((FIXTURES / f"{name}.json").read_bytes(), theirs()) == expected


def test_empty_list_response() -> None:
    resp = decode(ListAgentDispatchResponse, (FIXTURES / "list_response_empty.json").read_bytes())
    assert resp.agent_dispatches == []
    assert decode(CreateAgentDispatchRequest, (FIXTURES / "create_request_empty.json").read_bytes()) == (
        CreateAgentDispatchRequest()
    )


def test_new_dispatch_values() -> None:
    d = decode(AgentDispatch, (FIXTURES / "agent_dispatch_new.json").read_bytes())
    assert d.id == "AD_3xUq2sZk9WbE"
    assert d.room == "room-ü-42"
    assert d.metadata == (
        '{"user":"Zoë \\"Z\\" O\'Brien","emoji":"🚀"}\n'
        'line two\twith tab, "quotes", back\\slash, <html> & ü 漢字'
    )
    assert d.state is not None
    assert d.state.created_at == 1732000000123456789  # above 2**53: never through a float
    assert d.state.deleted_at == 0
    assert d.state.jobs == []
    assert d.restart_policy is JobRestartPolicy.JRP_ON_FAILURE
    assert d.deployment == ""
    assert d.attributes == {"locale": "fr-CA", "tier": "gold ★"}


def test_jobs_values() -> None:
    d = decode(AgentDispatch, (FIXTURES / "agent_dispatch_with_jobs.json").read_bytes())
    assert d.state is not None
    room_job, publisher_job, participant_job = d.state.jobs

    assert room_job.type is JobType.JT_ROOM
    assert room_job.room is not None
    assert room_job.room.empty_timeout == 4000000003  # uint32 above 2**31
    assert room_job.room.creation_time == 1732000000123456795
    assert [c.mime for c in room_job.room.enabled_codecs] == ["mime-9", "mime-11"]
    assert room_job.room.version is not None
    assert room_job.room.version.ticks == -100018
    assert room_job.participant is None
    assert room_job.state is not None
    assert room_job.state.status is JobStatus.JS_RUNNING
    assert room_job.attributes == {"b-key": "b-val", "job": "a"}

    assert publisher_job.type is JobType.JT_PUBLISHER
    assert publisher_job.room is not None
    assert publisher_job.room.version is None  # null on the wire
    p = publisher_job.participant
    assert p is not None
    assert p.state is ParticipantInfoState.DISCONNECTED
    track = p.tracks[0]
    assert track.type is TrackType.DATA
    assert track.source is TrackSource.SCREEN_SHARE_AUDIO
    assert track.simulcast is True
    assert track.layers[1].ssrc == 4000000043
    mode = track.codecs[0].video_layer_mode
    assert mode is lk.VideoLayerMode.ONE_SPATIAL_LAYER_PER_STREAM_INCOMPLETE_RTCP_SR
    assert p.data_tracks, "the fixture has data tracks"

    # An unset plain message field is null, an unset proto3 optional field is absent: both None.
    raw = orjson.loads((FIXTURES / "agent_dispatch_with_jobs.json").read_bytes())["state"]["jobs"][2]
    assert raw["room"] is None
    assert "participant" not in raw
    assert participant_job.type is JobType.JT_PARTICIPANT
    assert participant_job.room is None
    assert participant_job.participant is None
    assert participant_job.state is not None
    assert participant_job.state.status is JobStatus.JS_FAILED
    assert '"' in participant_job.state.error
    assert "\n" in participant_job.state.error
    assert "\t" in participant_job.state.error


@pytest.mark.parametrize("name", ["create_request_min", "create_request_full", "create_request_empty"])
def test_requests_encode_like_the_go_client(name: str) -> None:
    go_bytes = (FIXTURES / f"{name}.json").read_bytes()
    req = decode(CreateAgentDispatchRequest, go_bytes)
    assert orjson.loads(encode(req)) == orjson.loads(go_bytes)


@pytest.mark.parametrize("name", ["agent_dispatch_with_jobs", "list_response_3", "agent_dispatch_new"])
def test_encode_round_trips_through_google(name: str) -> None:
    ours = ListAgentDispatchResponse if name.startswith("list") else AgentDispatch
    theirs: Any = pb.ListAgentDispatchResponse if name.startswith("list") else pb.AgentDispatch
    decoded = decode(ours, (FIXTURES / f"{name}.json").read_bytes())
    # Strict parse: an unknown or misspelt key in our output would fail here.
    assert json_format.Parse(encode(decoded), theirs()) == theirs.FromString(bytes(decoded))
    assert decode(ours, encode(decoded)) == decoded


def test_map_keys_are_written_sorted_like_go() -> None:
    req = CreateAgentDispatchRequest(room="r", attributes={"tier": "gold", "locale": "fr", "a": "1"})
    assert encode(req) == b'{"room":"r","attributes":{"a":"1","locale":"fr","tier":"gold"}}'


# The fixtures come from protos older than ours: these fields are newer (JobState.reason, and
# those of livekit/protocol v1.54.1), found by a key only their message has.
_NEWER_BY_MESSAGE = {
    "status": {  # JobState
        "reason",
        "accepted_at",
        "assigned_at",
        "attempts",
        "first_started_at",
        "agent_failed_attempts_ns",
        "workers_asked",
    },
    "dispatch_id": {"created_at", "thread_id"},  # Job
    "jobs": {"trigger"},  # AgentDispatchState
    "restart_policy": {"thread_id"},  # AgentDispatch
}


def _without_newer(obj: Any) -> Any:
    if isinstance(obj, dict):
        newer = set().union(*(keys for marker, keys in _NEWER_BY_MESSAGE.items() if marker in obj))
        return {k: _without_newer(v) for k, v in obj.items() if k not in newer}
    if isinstance(obj, list):
        return [_without_newer(v) for v in obj]
    return obj


@pytest.mark.parametrize("name", ["agent_dispatch_new", "agent_dispatch_with_jobs", "list_response_3"])
def test_emit_unpopulated_writes_what_livekit_server_writes(name: str) -> None:
    ours = ListAgentDispatchResponse if name.startswith("list") else AgentDispatch
    go_bytes = (FIXTURES / f"{name}.json").read_bytes()
    written = orjson.loads(encode(decode(ours, go_bytes), emit_unpopulated=True))
    # Same keys, values and key order (orjson keeps the order it read).
    assert orjson.dumps(_without_newer(written)) == orjson.dumps(orjson.loads(go_bytes))


def test_emit_unpopulated_on_an_empty_message() -> None:
    written = orjson.loads(encode(AgentDispatch(), emit_unpopulated=True))
    assert written == {
        "id": "",
        "agent_name": "",
        "room": "",
        "metadata": "",
        "state": None,
        "restart_policy": "JRP_ON_FAILURE",
        "deployment": "",
        "attributes": {},
        "thread_id": "",
    }
