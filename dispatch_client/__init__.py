"""dispatch-client: a typed async client for LiveKit's AgentDispatchService over Twirp JSON.

    async with dispatch_client.connect() as dispatch:
        created = await dispatch.create_dispatch(
            dispatch_client.CreateAgentDispatchRequest(agent_name="support", room="call-42")
        )

The client is :class:`AgentDispatchService` (made with :func:`connect`,
:meth:`AgentDispatchService.open`, or on an aiohttp session of your own); every failure of a
call is a :class:`TwirpError`, and :class:`RetryPolicy` says what is tried again. The blocking
client is :mod:`dispatch_client.sync`, the stand-in server for tests :mod:`dispatch_client.testing`.

The messages and enums (``AgentDispatch``, ``CreateAgentDispatchRequest``, ``Job``,
``JobState``, ``JobStatus``, ``Room``, ...) are betterproto2 dataclasses generated from the
``livekit`` protocol's schema, field for field; fields of message type are ``X | None``.
``__version__`` is the package's version.
"""

from ._client.connect import connect
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
from ._transport.retry import RetryPolicy
from ._version import __version__
from .errors import TwirpError, TwirpErrorCode, WaitOutcome
from .service import AgentDispatchService

__all__ = [
    "AgentDispatch",
    "AgentDispatchService",
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
    "RetryPolicy",
    "Room",
    "RoomAgentDispatch",
    "RoomConfiguration",
    "SimulcastCodecInfo",
    "TimedVersion",
    "TrackInfo",
    "TrackSource",
    "TrackType",
    "TwirpError",
    "TwirpErrorCode",
    "VideoLayer",
    "VideoLayerMode",
    "VideoQuality",
    "WaitOutcome",
    "__version__",
    "connect",
]
