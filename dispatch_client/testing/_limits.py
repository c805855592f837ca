"""livekit-server v1.13.5's checks of a create, its limits, and the form of its errors from past Twirp."""

from __future__ import annotations

from .._generated.livekit import CreateAgentDispatchRequest
from ..errors import TwirpError, TwirpErrorCode

__all__ = [
    "MAX_ATTRIBUTES_BYTES",
    "MAX_DEPLOYMENT_BYTES",
    "MAX_METADATA_BYTES",
    "ROOM_ERROR_PREFIX",
    "check_create",
    "room_error",
]

MAX_METADATA_BYTES = 512 * 1024
MAX_ATTRIBUTES_BYTES = 64 * 1024
MAX_DEPLOYMENT_BYTES = 64
# livekit-server turns every error of the room's handler (and of its own checks that are not
# Twirp errors) into a Twirp error whose message starts with the text of an "unknown" one.
ROOM_ERROR_PREFIX = "twirp error unknown: "


def room_error(code: TwirpErrorCode, message: str) -> TwirpError:
    """An error as livekit-server writes one that came from past its Twirp layer."""
    return TwirpError(code, ROOM_ERROR_PREFIX + message)


def _check_deployment(deployment: str) -> None:
    data = deployment.encode()
    if len(data) > MAX_DEPLOYMENT_BYTES:
        raise room_error(TwirpErrorCode.INVALID_ARGUMENT, f"deployment exceeds {MAX_DEPLOYMENT_BYTES} bytes")
    for position, byte in enumerate(data):  # bytes, not characters: UTF-8 beyond ASCII is allowed
        if byte == ord("_"):
            raise room_error(TwirpErrorCode.INVALID_ARGUMENT, "deployment contains reserved character '_'")
        if byte <= 0x20 or byte == 0x7F:
            raise room_error(
                TwirpErrorCode.INVALID_ARGUMENT,
                f"deployment contains whitespace or control byte at position {position}",
            )


def check_create(req: CreateAgentDispatchRequest) -> None:
    """livekit-server's checks of a create, in its order; neither ``room`` nor ``agent_name`` is checked."""
    _check_deployment(req.deployment)
    if len(req.metadata.encode()) > MAX_METADATA_BYTES:
        raise room_error(TwirpErrorCode.INVALID_ARGUMENT, "metadata size exceeds limits")
    attributes_size = sum(len(k.encode()) + len(v.encode()) for k, v in req.attributes.items())
    if attributes_size > MAX_ATTRIBUTES_BYTES:
        raise room_error(TwirpErrorCode.INVALID_ARGUMENT, "attribute size exceeds limits")
