"""OpenTelemetry traces and metrics of the client's calls (the ``otel`` extra).

Spans and metrics go to OpenTelemetry's global providers once an SDK is set up there, or to
those of a :class:`Telemetry` given as ``AgentDispatchService(..., telemetry=...)``; with no
SDK set up, or without the extra installed, nothing is recorded and nothing is sent. The names
are in docs/observability.md.
"""

from ._otel import Telemetry

__all__ = ["Telemetry"]
