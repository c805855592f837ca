"""dispatch-client: a typed async client for LiveKit's AgentDispatchService over Twirp JSON.

    async with dispatch_client.connect() as dispatch:
        created = await dispatch.create_dispatch(
            dispatch_client.CreateAgentDispatchRequest(agent_name="support", room="call-42")
        )

- :class:`AgentDispatchService`: the client (create, list, get and delete dispatches, wait
  for an agent's job, ensure one dispatch per agent, dispatch to many rooms);
  :func:`connect` makes one for an ``async with`` block, from the ``LIVEKIT_*`` settings
- :class:`TwirpError`: every failure of a call (:class:`TwirpErrorCode`,
  :class:`WaitOutcome`); :class:`RetryPolicy`: what is tried again
- :mod:`dispatch_client.sync`: the blocking client · :mod:`dispatch_client.testing`: the
  stand-in server and pytest fixtures · :mod:`dispatch_client.fleet`: many processes and
  many rooms · :mod:`dispatch_client.messages`: the messages and enums, also importable
  from here

``__version__`` is the package's version.
"""

from ._client.connect import connect
from ._transport.retry import RetryPolicy
from ._version import __version__
from .errors import TwirpError, TwirpErrorCode, WaitOutcome
from .messages import (
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
from .service import AgentDispatchService

# In the reference's order: the client and its errors, then the messages (their own page).
__all__ = [  # noqa: RUF022
    "AgentDispatchService",
    "connect",
    "TwirpError",
    "TwirpErrorCode",
    "WaitOutcome",
    "RetryPolicy",
    "__version__",
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
