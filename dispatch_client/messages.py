"""The messages and enums of LiveKit's ``AgentDispatchService``, as betterproto2 dataclasses.

Generated from the ``livekit`` protocol's schema, field for field (``proto/``, ``make
generate``); every name here is importable from :mod:`dispatch_client` too.

    from dispatch_client import CreateAgentDispatchRequest, JobStatus

    req = CreateAgentDispatchRequest(agent_name="support", room="call-42", metadata='{"lang": "en"}')

Every field is optional: one left out holds its proto3 default (``""``, ``0``, ``False``, an
empty list or dict, an enum's zero value), shown as ``= ...`` in the signatures below; a field
of message type defaults to ``None`` and is typed ``X | None``, as the server may send ``null``.
The calls send and read them as proto3 JSON (docs/wire.md).
"""

from ._generated.livekit import (
    AgentDispatch,
    AgentDispatchState,
    AgentDispatchTrigger,
    AudioTrackFeature,
    BackupCodecPolicy,
    ClientInfoCapability,
    Codec,
    CreateAgentDispatchRequest,
    DataTrackFrameEncoding,
    DataTrackFrameEncodingWellKnownFrameEncoding,
    DataTrackInfo,
    DataTrackSchemaEncoding,
    DataTrackSchemaEncodingWellKnownSchemaEncoding,
    DataTrackSchemaId,
    DeleteAgentDispatchRequest,
    DisconnectReason,
    EncryptionType,
    Job,
    JobRestartPolicy,
    JobState,
    JobStateReason,
    JobStatus,
    JobType,
    ListAgentDispatchRequest,
    ListAgentDispatchResponse,
    PacketTrailerFeature,
    ParticipantInfo,
    ParticipantInfoKind,
    ParticipantInfoKindDetail,
    ParticipantInfoState,
    ParticipantPermission,
    Room,
    RoomAgentDispatch,
    RoomConfiguration,
    SimulcastCodecInfo,
    TimedVersion,
    TrackInfo,
    TrackSource,
    TrackType,
    VideoLayer,
    VideoLayerMode,
    VideoQuality,
)

__all__ = [
    "AgentDispatch",
    "AgentDispatchState",
    "AgentDispatchTrigger",
    "AudioTrackFeature",
    "BackupCodecPolicy",
    "ClientInfoCapability",
    "Codec",
    "CreateAgentDispatchRequest",
    "DataTrackFrameEncoding",
    "DataTrackFrameEncodingWellKnownFrameEncoding",
    "DataTrackInfo",
    "DataTrackSchemaEncoding",
    "DataTrackSchemaEncodingWellKnownSchemaEncoding",
    "DataTrackSchemaId",
    "DeleteAgentDispatchRequest",
    "DisconnectReason",
    "EncryptionType",
    "Job",
    "JobRestartPolicy",
    "JobState",
    "JobStateReason",
    "JobStatus",
    "JobType",
    "ListAgentDispatchRequest",
    "ListAgentDispatchResponse",
    "PacketTrailerFeature",
    "ParticipantInfo",
    "ParticipantInfoKind",
    "ParticipantInfoKindDetail",
    "ParticipantInfoState",
    "ParticipantPermission",
    "Room",
    "RoomAgentDispatch",
    "RoomConfiguration",
    "SimulcastCodecInfo",
    "TimedVersion",
    "TrackInfo",
    "TrackSource",
    "TrackType",
    "VideoLayer",
    "VideoLayerMode",
    "VideoQuality",
]
