"""The attribute and instrument names: OpenTelemetry's RPC conventions, LiveKit's ``lk.*``
registry, and this client's own under ``dispatch_client.``."""

from __future__ import annotations

__all__ = [
    "AGENT_NAME",
    "ATTEMPT",
    "ATTEMPTS",
    "ATTEMPTS_METRIC",
    "DISPATCH_ID",
    "DISPATCH_LATENCY_METRIC",
    "DURATION_METRIC",
    "ERROR_CODE",
    "ERROR_TYPE",
    "HTTP_STATUS",
    "JOB_ID",
    "OUTCOME_UNKNOWN",
    "ROOM_NAME",
    "RPC_METHOD",
    "RPC_SERVICE",
    "RPC_SYSTEM",
    "SCOPE",
    "SERVER_ADDRESS",
    "SERVER_PORT",
    "WAIT_OUTCOME",
]

SCOPE = "dispatch_client"  # the instrumentation scope of every span and instrument

RPC_SYSTEM = "rpc.system"  # "twirp"
RPC_SERVICE = "rpc.service"  # "livekit.AgentDispatchService", "livekit.RoomService"
RPC_METHOD = "rpc.method"
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"
HTTP_STATUS = "http.response.status_code"
ERROR_TYPE = "error.type"  # the Twirp code of a failure, as on the wire

# LiveKit's registry; the room name is personal data, recorded only when asked for.
AGENT_NAME = "lk.agent_name"
DISPATCH_ID = "lk.dispatch_id"
JOB_ID = "lk.job_id"
ROOM_NAME = "lk.pii.room_name"
DISPATCH_LATENCY_METRIC = "lk.job.dispatch_latency"

# This client's own.
ERROR_CODE = "dispatch_client.twirp_code"  # "ok" on success: the metrics' code dimension
ATTEMPT = "dispatch_client.attempt"  # the attempt's number, from 1
ATTEMPTS = "dispatch_client.attempts"  # on a call's span: how many it made
OUTCOME_UNKNOWN = "dispatch_client.outcome_unknown"
WAIT_OUTCOME = "dispatch_client.wait_outcome"
DURATION_METRIC = "rpc.client.call.duration"  # seconds, by method and code
ATTEMPTS_METRIC = "dispatch_client.call.attempts"
