"""Spans and metrics through the OpenTelemetry API, when it is installed and set up.

A call is a CLIENT span (``livekit.AgentDispatchService/CreateDispatch``) with one child span
per attempt, whose context goes out as ``traceparent``; ``wait_for_job`` and
``ensure_dispatch`` are INTERNAL spans around the calls they make. Without the API installed,
or with no tracer provider set up (the global one is still the API's proxy), nothing is done.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import TYPE_CHECKING, TypeVar

from .._generated.livekit import AgentDispatch, Job
from ..errors import TwirpError
from . import _names as n

if TYPE_CHECKING:
    from opentelemetry.metrics import Histogram, MeterProvider
    from opentelemetry.trace import Span, Tracer, TracerProvider

try:
    from opentelemetry import metrics as _metrics
    from opentelemetry import propagate as _propagate
    from opentelemetry import trace as _trace
except ImportError:  # the otel extra is not installed: nothing is recorded
    _OTEL = False
else:
    _OTEL = True

__all__ = ["Attempt", "Call", "Telemetry", "dispatch_latency", "traced"]

T = TypeVar("T")
Attributes = Mapping[str, str | int | bool]


class Attempt:
    """One attempt's span (or nothing): headers to carry its context, and how it ended."""

    def __init__(self, span: Span | None) -> None:
        self._span = span

    def inject(self, headers: dict[str, str]) -> None:
        if self._span is not None:
            _propagate.inject(headers, context=_trace.set_span_in_context(self._span))

    def answered(self, status: int) -> None:
        if self._span is not None:
            self._span.set_attribute(n.HTTP_STATUS, status)
            if status != 200:  # the call's span says what it meant (its Twirp code)
                self._span.set_attribute(n.ERROR_TYPE, str(status))
                self._span.set_status(_trace.Status(_trace.StatusCode.ERROR, f"HTTP {status}"))

    def failed(self, err: TwirpError) -> None:
        if self._span is not None:
            _failure(self._span, err)


class Call:
    """One call's span and measurements; :meth:`attempt` opens each attempt's."""

    def __init__(self, owner: Telemetry | None, span: Span | None, attributes: dict[str, str]) -> None:
        self._owner, self._span, self._attributes = owner, span, attributes
        self.attempts = 0
        self._started = time.monotonic()

    @contextlib.contextmanager
    def attempt(self, host: str | None, port: int | None) -> Iterator[Attempt]:
        self.attempts += 1
        if self._owner is None or self._span is None:
            yield Attempt(None)
            return
        attributes: dict[str, str | int] = {n.ATTEMPT: self.attempts, **self._attributes}
        if host:
            attributes[n.SERVER_ADDRESS] = host
        if port:
            attributes[n.SERVER_PORT] = port
        tracer = self._owner.tracer()
        assert tracer is not None
        context = _trace.set_span_in_context(self._span)
        name = f"{self._attributes[n.RPC_SERVICE]}/{self._attributes[n.RPC_METHOD]} attempt"
        with tracer.start_as_current_span(
            name, context=context, kind=_trace.SpanKind.CLIENT, attributes=attributes, record_exception=False
        ) as span:
            yield Attempt(span)

    def set(self, attributes: Attributes) -> None:
        if self._span is not None:
            for key, value in attributes.items():
                self._span.set_attribute(key, value)

    def finished(self, err: TwirpError | None) -> None:
        if self._span is not None:
            if self._attributes:  # a Twirp call, not an operation
                self._span.set_attribute(n.ATTEMPTS, self.attempts)
            if err is not None:
                _failure(self._span, err)
        if self._owner is not None:
            code = "ok" if err is None else err.code.value
            dims = {n.RPC_METHOD: self._attributes[n.RPC_METHOD], n.ERROR_CODE: code}
            self._owner._record_call(time.monotonic() - self._started, self.attempts, dims)


def _failure(span: Span, err: TwirpError) -> None:
    span.set_attribute(n.ERROR_TYPE, err.code.value)
    if err.status is not None:
        span.set_attribute(n.HTTP_STATUS, err.status)
    if err.outcome_unknown:
        span.set_attribute(n.OUTCOME_UNKNOWN, True)
    if err.wait_outcome is not None:
        span.set_attribute(n.WAIT_OUTCOME, err.wait_outcome.value)
    span.set_status(_trace.Status(_trace.StatusCode.ERROR, f"{err.code.value}: {err.message}"[:200]))


_NOTHING = Call(None, None, {})


class Telemetry:
    """Where the client's spans and metrics go: OpenTelemetry's global providers, or those given.

    Pass one as ``AgentDispatchService(..., telemetry=Telemetry(...))``; without it the global
    setup is used. Spans carry the Twirp method, the HTTP status, the Twirp code of a failure,
    the attempts and ``outcome_unknown``, and LiveKit's ``lk.agent_name``, ``lk.dispatch_id``
    and ``lk.job_id``; the room name (``lk.pii.room_name``) only with ``room_names=True``.
    ``enabled=False`` records nothing. Needs the ``otel`` extra
    (``pip install "dispatch-client[otel]"``); without it nothing is recorded.
    """

    def __init__(
        self,
        *,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        room_names: bool = False,
        enabled: bool = True,
    ) -> None:
        if not isinstance(room_names, bool) or not isinstance(enabled, bool):
            raise ValueError("room_names and enabled must be True or False")
        self._tracer_provider, self._meter_provider = tracer_provider, meter_provider
        self.room_names, self.enabled = room_names, enabled and _OTEL
        self._tracers: tuple[object, Tracer] | None = None
        self._instruments: tuple[Histogram, Histogram, Histogram] | None = None

    def tracer(self) -> Tracer | None:
        """The tracer to use now, or None when no tracing is set up."""
        if not self.enabled:
            return None
        provider = self._tracer_provider or _trace.get_tracer_provider()
        if isinstance(provider, _trace.ProxyTracerProvider):
            return None  # no SDK set up (yet): spans would go nowhere
        if self._tracers is None or self._tracers[0] is not provider:
            self._tracers = (provider, provider.get_tracer(n.SCOPE))
        return self._tracers[1]

    def _meters(self) -> tuple[Histogram, Histogram, Histogram] | None:
        if not self.enabled:
            return None
        if self._instruments is None:
            meter = (self._meter_provider or _metrics.get_meter_provider()).get_meter(n.SCOPE)
            self._instruments = (
                meter.create_histogram(
                    n.DURATION_METRIC, unit="s", description="Twirp calls, retries included"
                ),
                meter.create_histogram(n.ATTEMPTS_METRIC, unit="{attempt}", description="Attempts per call"),
                meter.create_histogram(
                    n.DISPATCH_LATENCY_METRIC,
                    unit="s",
                    description="From a dispatch's creation to its job running",
                ),
            )
        return self._instruments

    def _record_call(self, seconds: float, attempts: int, dims: dict[str, str]) -> None:
        meters = self._meters()
        if meters is not None:
            meters[0].record(seconds, dims)
            meters[1].record(attempts, dims)

    def _record_dispatch_latency(self, seconds: float, agent_name: str) -> None:
        meters = self._meters()
        if meters is not None and seconds >= 0:
            meters[2].record(seconds, {n.AGENT_NAME: agent_name})

    def call(
        self, service: str, method: str, room: str, attributes: Attributes
    ) -> contextlib.AbstractContextManager[Call]:
        """The span of one Twirp call (a no-op one when nothing is set up). @private"""
        return self._span(
            f"{service}/{method}", "client", room, {n.RPC_SERVICE: service, n.RPC_METHOD: method}, attributes
        )

    def mark(self, name: str, room: str, attributes: Attributes) -> None:
        """A moment worth a span of its own (what a supervisor did), with no duration to speak of. @private"""
        with self.operation(name, room, attributes):
            pass

    def operation(
        self, name: str, room: str, attributes: Attributes
    ) -> contextlib.AbstractContextManager[Call]:
        """The span of a call made of calls (``wait_for_job``, ``ensure_dispatch``, ...). @private"""
        return self._span(f"dispatch_client {name}", "internal", room, {}, attributes)

    @contextlib.contextmanager
    def _span(
        self, name: str, kind: str, room: str, rpc: dict[str, str], attributes: Attributes
    ) -> Iterator[Call]:
        tracer = self.tracer()
        if tracer is None:
            if not self.enabled or not rpc:
                yield _NOTHING
                return
            yield Call(self, None, rpc)  # metrics without spans
            return
        first: dict[str, str | int | bool] = {**attributes}
        if rpc:
            first.update({n.RPC_SYSTEM: "twirp", **rpc})
        if self.room_names:
            first[n.ROOM_NAME] = room
        span_kind = _trace.SpanKind.CLIENT if kind == "client" else _trace.SpanKind.INTERNAL
        with tracer.start_as_current_span(
            name, kind=span_kind, attributes=first, record_exception=False, set_status_on_exception=False
        ) as span:
            carried = {**rpc, n.ROOM_NAME: room} if rpc and self.room_names else rpc  # to the attempts
            yield Call(self if rpc else None, span, carried)


async def traced(
    telemetry: Telemetry,
    name: str,
    room: str,
    attributes: Attributes,
    work: Awaitable[T],
    describe: Callable[[T], Attributes],
) -> T:
    """``await work`` in the span of an operation named ``name``; ``describe`` its result."""
    with telemetry.operation(name, room, attributes) as span:
        try:
            result = await work
        except TwirpError as e:
            span.finished(e)
            raise
        span.set(describe(result))
        span.finished(None)
        return result


def dispatch_latency(telemetry: Telemetry) -> Callable[[AgentDispatch, Job], None]:
    """What records ``lk.job.dispatch_latency`` of a job found running: from the dispatch's
    creation to the job's start, both on the server's clock (nanoseconds)."""

    def running(dispatch: AgentDispatch, job: Job) -> None:
        created = dispatch.state.created_at if dispatch.state is not None else 0
        started = job.state.started_at if job.state is not None else 0
        if created > 0 and started >= created:
            telemetry._record_dispatch_latency((started - created) / 1e9, dispatch.agent_name)

    return running
