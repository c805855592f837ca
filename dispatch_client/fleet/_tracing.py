"""A supervisor's events as spans: ``dispatch_client supervisor <kind>``, one per event."""

from __future__ import annotations

from ..telemetry._names import AGENT_NAME, DISPATCH_ID, JOB_ID
from ..telemetry._otel import Telemetry
from ._events import SupervisorEvent

__all__ = ["trace_event"]


def trace_event(telemetry: Telemetry, event: SupervisorEvent) -> None:
    """Record ``event`` (its agent, dispatch, job, reason and redispatches so far)."""
    attributes: dict[str, str | int] = {
        AGENT_NAME: event.agent_name,
        "dispatch_client.redispatches": event.redispatches,
    }
    if event.dispatch_id:
        attributes[DISPATCH_ID] = event.dispatch_id
    if event.job is not None:
        attributes[JOB_ID] = event.job.id
    if event.reason is not None:
        attributes["dispatch_client.reason"] = event.reason.value
    telemetry.mark(f"supervisor {event.kind.value}", event.room, attributes)
