"""dispatch-client: a typed async client for LiveKit's AgentDispatchService over Twirp JSON.

async with dispatch_client.connect() as dispatch:
    created = await dispatch.create_dispatch(
        dispatch_client.CreateAgentDispatchRequest(agent_name="support", room="call-42")
    )
"""

from ._generated.livekit import (
    AgentDispatch,
    AgentDispatchState,
    Codec,
    CreateAgentDispatchRequest,
    DataTrackInfo,
    DeleteAgentDispatchRequest,
    DisconnectReason,
    Job,
    JobRestartPolicy,
    JobState,
    JobStateReason,
    JobStatus,
    JobType,
    ListAgentDispatchRequest,
    ListAgentDispatchResponse,
    ParticipantInfo,
    ParticipantInfoKind,
    ParticipantInfoState,
    ParticipantPermission,
    Room,
    TimedVersion,
    TrackInfo,
    TrackSource,
    TrackType,
)
from ._version import __version__
from .errors import TwirpError, TwirpErrorCode
from .service import AgentDispatchService, connect

__all__ = [
    "AgentDispatch",
    "AgentDispatchService",
    "AgentDispatchState",
    "Codec",
    "CreateAgentDispatchRequest",
    "DataTrackInfo",
    "DeleteAgentDispatchRequest",
    "DisconnectReason",
    "Job",
    "JobRestartPolicy",
    "JobState",
    "JobStateReason",
    "JobStatus",
    "JobType",
    "ListAgentDispatchRequest",
    "ListAgentDispatchResponse",
    "ParticipantInfo",
    "ParticipantInfoKind",
    "ParticipantInfoState",
    "ParticipantPermission",
    "Room",
    "TimedVersion",
    "TrackInfo",
    "TrackSource",
    "TrackType",
    "TwirpError",
    "TwirpErrorCode",
    "__version__",
    "connect",
]
