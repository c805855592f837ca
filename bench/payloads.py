"""The messages the benchmark sends and receives, built once in both encodings.

A dispatch here looks like one from a busy room: three jobs, each with a room snapshot,
a participant with one published track, and a job state. The same message is written as
binary protobuf (what livekit-api reads) and as JSON exactly as livekit-server writes it
(proto names, every field, int64 as strings), which is what this client reads.
"""

from __future__ import annotations

from livekit.protocol import agent as pb_agent
from livekit.protocol import agent_dispatch as pb_dispatch
from livekit.protocol import models as pb_models

from dispatch_client import AgentDispatch, CreateAgentDispatchRequest, ListAgentDispatchResponse
from dispatch_client.codec import encode

SMALL_ROOM = "bench-n1"
LARGE_ROOM = "bench-n100"  # the server answers the 100-dispatch list for this room


def _participant(i: int) -> pb_models.ParticipantInfo:
    return pb_models.ParticipantInfo(
        sid=f"PA_{i:012d}",
        identity=f"caller-{i}",
        state=pb_models.ParticipantInfo.ACTIVE,
        joined_at=1_732_000_000 + i,
        joined_at_ms=1_732_000_000_000 + i,
        name=f"Caller {i}",
        version=7,
        metadata='{"crm_id": 4711}',
        permission=pb_models.ParticipantPermission(
            can_subscribe=True, can_publish=True, can_publish_data=True
        ),
        region="eu-central",
        kind=pb_models.ParticipantInfo.SIP,
        attributes={"sip.callID": f"call-{i}", "sip.phoneNumber": "+4930123456"},
        tracks=[
            pb_models.TrackInfo(
                sid=f"TR_{i:012d}",
                type=pb_models.AUDIO,
                name="microphone",
                mime_type="audio/opus",
                source=pb_models.TrackSource.MICROPHONE,
                stereo=False,
                stream="camera",
                codecs=[pb_models.SimulcastCodecInfo(mime_type="audio/opus", mid="0", cid="mic")],
            )
        ],
    )


def _room(i: int) -> pb_models.Room:
    return pb_models.Room(
        sid=f"RM_{i:012d}",
        name=f"support-{i}",
        empty_timeout=300,
        departure_timeout=20,
        max_participants=10,
        creation_time=1_732_000_000,
        creation_time_ms=1_732_000_000_123,
        metadata="{}",
        num_participants=2,
        active_recording=False,
        enabled_codecs=[pb_models.Codec(mime="audio/opus"), pb_models.Codec(mime="video/VP8")],
        version=pb_models.TimedVersion(unix_micro=1_732_000_000_123_456, ticks=3),
    )


def _dispatch(i: int) -> pb_dispatch.AgentDispatch:
    jobs = []
    for j in range(3):
        n = i * 3 + j
        jobs.append(
            pb_agent.Job(
                id=f"AJ_{n:012d}",
                dispatch_id=f"AD_{i:012d}",
                type=pb_agent.JT_PARTICIPANT if j else pb_agent.JT_ROOM,
                room=_room(i),
                participant=_participant(n),
                agent_name="receptionist",
                metadata='{"greeting": "hello"}',
                state=pb_agent.JobState(
                    status=pb_agent.JS_RUNNING,
                    started_at=1_732_000_000_000_000_000 + n,
                    updated_at=1_732_000_000_500_000_000 + n,
                    participant_identity=f"agent-{n}",
                    worker_id=f"AW_{n:08d}",
                    agent_id=f"AG_{n:08d}",
                ),
            )
        )
    return pb_dispatch.AgentDispatch(
        id=f"AD_{i:012d}",
        agent_name="receptionist",
        room=f"support-{i}",
        metadata='{"queue": "billing"}',
        state=pb_dispatch.AgentDispatchState(jobs=jobs, created_at=1_732_000_000_000_000_000 + i),
    )


def list_response(n: int) -> tuple[bytes, bytes]:
    """A ListAgentDispatchResponse with ``n`` dispatches as (binary, server JSON)."""
    binary = pb_dispatch.ListAgentDispatchResponse(agent_dispatches=[_dispatch(i) for i in range(n)])
    data = binary.SerializeToString()
    return data, encode(ListAgentDispatchResponse.parse(data), emit_unpopulated=True)


def dispatch() -> tuple[bytes, bytes]:
    """A new AgentDispatch, as CreateDispatch answers, as (binary, server JSON)."""
    d = pb_dispatch.AgentDispatch(
        id="AD_000000000001",
        agent_name="receptionist",
        room=SMALL_ROOM,
        metadata='{"queue": "billing"}',
        state=pb_dispatch.AgentDispatchState(created_at=1_732_000_000_000_000_000),
    )
    data = d.SerializeToString()
    return data, encode(AgentDispatch.parse(data), emit_unpopulated=True)


_METADATA = '{"queue": "billing", "caller": "+4930123456"}'
_ATTRIBUTES = {"tier": "gold", "locale": "de"}


def our_create_request() -> CreateAgentDispatchRequest:
    return CreateAgentDispatchRequest(
        room=SMALL_ROOM, agent_name="receptionist", metadata=_METADATA, attributes=dict(_ATTRIBUTES)
    )


def their_create_request() -> pb_dispatch.CreateAgentDispatchRequest:
    return pb_dispatch.CreateAgentDispatchRequest(
        room=SMALL_ROOM, agent_name="receptionist", metadata=_METADATA, attributes=dict(_ATTRIBUTES)
    )
