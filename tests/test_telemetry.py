"""OpenTelemetry: the spans and metrics of a create with one retry and of a wait_for_job,
recorded by the SDK's in-memory exporters, and the traceparent the server received."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from fake_livekit import FakeLiveKit, answer
from fault_proxy import Fault, FaultProxy
from livekit.protocol import agent as pba
from livekit_server import RealServer, unique_room
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from retrying import STEADY, Sleeps, make

from dispatch_client import AgentDispatchService, CreateAgentDispatchRequest, TwirpError
from dispatch_client.fleet import EventKind, Supervisor
from dispatch_client.telemetry import Telemetry
from dispatch_client.testing import LocalDispatchServer

BUSY = answer(429, '{"code":"resource_exhausted","msg":"slow down"}', "application/json")


@dataclass
class Recorded:
    spans: InMemorySpanExporter
    metrics: InMemoryMetricReader
    telemetry: Telemetry

    def finished(self) -> list[ReadableSpan]:
        return list(self.spans.get_finished_spans())

    def points(self, name: str) -> list[HistogramDataPoint]:
        data = self.metrics.get_metrics_data()
        assert data is not None
        found: list[HistogramDataPoint] = []
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        found += [p for p in metric.data.data_points if isinstance(p, HistogramDataPoint)]
        return found


def recorded(room_names: bool = False) -> Recorded:
    spans, reader = InMemorySpanExporter(), InMemoryMetricReader()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    telemetry = Telemetry(
        tracer_provider=tracer_provider, meter_provider=MeterProvider([reader]), room_names=room_names
    )
    return Recorded(spans, reader, telemetry)


@pytest.fixture
def otel() -> Iterator[Recorded]:
    r = recorded()
    yield r
    r.spans.clear()


def attrs(span: ReadableSpan) -> dict[str, object]:
    return dict(span.attributes or {})


def dims(point: HistogramDataPoint) -> dict[str, object]:
    return dict(point.attributes or {})


async def test_a_create_with_one_retry_and_a_wait(
    session: aiohttp.ClientSession, url: str, fake: FakeLiveKit, otel: Recorded
) -> None:
    svc = make(session, url, Sleeps(), retry=STEADY, telemetry=otel.telemetry)
    fake.respond_with(BUSY)
    made = await svc.create_dispatch(CreateAgentDispatchRequest(agent_name="support", room="call-1"))
    assert [r.path.rsplit("/", 1)[1] for r in fake.requests] == ["CreateDispatch", "CreateDispatch"]
    # A job running 1.5 s after the dispatch was made (the server's clock, nanoseconds).
    d = fake.rooms["call-1"][made.id]
    state = pba.JobState(
        status=pba.JS_RUNNING, participant_identity="agent-1", started_at=d.state.created_at + 1_500_000_000
    )
    d.state.jobs.append(pba.Job(id="AJ_1", dispatch_id=made.id, agent_name="support", state=state))
    job = await svc.wait_for_job(made.id, "call-1", timeout=5)
    assert job.id == "AJ_1"

    spans = otel.finished()
    by_name: dict[str, list[ReadableSpan]] = {}
    for s in spans:
        by_name.setdefault(s.name, []).append(s)
    create = by_name["livekit.AgentDispatchService/CreateDispatch"]
    assert len(create) == 1
    call = create[0]
    assert call.kind is SpanKind.CLIENT
    assert attrs(call) == {
        "rpc.system": "twirp",
        "rpc.service": "livekit.AgentDispatchService",
        "rpc.method": "CreateDispatch",
        "lk.agent_name": "support",
        "lk.dispatch_id": made.id,
        "dispatch_client.attempts": 2,
    }
    assert call.status.status_code is StatusCode.UNSET
    attempts = sorted(
        by_name["livekit.AgentDispatchService/CreateDispatch attempt"], key=lambda s: s.start_time or 0
    )
    assert [attrs(a)["dispatch_client.attempt"] for a in attempts] == [1, 2]
    assert [attrs(a)["http.response.status_code"] for a in attempts] == [429, 200]
    assert attrs(attempts[0])["error.type"] == "429"
    assert attempts[0].status.status_code is StatusCode.ERROR
    for a in attempts:
        assert a.parent is not None
        assert a.parent.span_id == call.context.span_id
        assert a.kind is SpanKind.CLIENT
    # Each attempt's context went out as traceparent.
    sent = [r.headers.get("traceparent") for r in fake.requests[:2]]
    assert sent == [
        f"00-{a.context.trace_id:032x}-{a.context.span_id:016x}-{a.context.trace_flags:02x}" for a in attempts
    ]
    # The wait: an INTERNAL span over the list calls it made.
    (wait,) = by_name["dispatch_client wait_for_job"]
    assert wait.kind is SpanKind.INTERNAL
    assert attrs(wait) == {"lk.dispatch_id": made.id, "lk.job_id": "AJ_1"}
    polls = by_name["livekit.AgentDispatchService/ListDispatch"]
    assert polls
    assert all(p.parent is not None and p.parent.span_id == wait.context.span_id for p in polls)
    assert all("lk.pii.room_name" not in attrs(s) for s in spans)

    durations = {
        (dims(p)["rpc.method"], dims(p)["dispatch_client.twirp_code"]): p
        for p in otel.points("rpc.client.call.duration")
    }
    assert durations[("CreateDispatch", "ok")].count == 1
    tries = {dims(p)["rpc.method"]: p for p in otel.points("dispatch_client.call.attempts")}
    assert (tries["CreateDispatch"].count, tries["CreateDispatch"].sum) == (1, 2)
    (latency,) = otel.points("lk.job.dispatch_latency")
    assert (latency.count, latency.sum, dict(latency.attributes or {})) == (
        1,
        1.5,
        {"lk.agent_name": "support"},
    )


async def test_a_failure_is_recorded_with_its_code_and_outcome(
    session: aiohttp.ClientSession, url: str, fake: FakeLiveKit, otel: Recorded
) -> None:
    svc = make(session, url, Sleeps(), retry=STEADY, telemetry=otel.telemetry)
    lost = answer(502, "<html>bad gateway</html>", "text/html")
    fake.respond_with(lost, answer(500, '{"code":"internal","msg":"down"}', "application/json"))
    with pytest.raises(TwirpError) as err:
        await svc.create_dispatch(CreateAgentDispatchRequest(agent_name="a", room="r"))
    assert err.value.outcome_unknown
    calls = [s for s in otel.finished() if s.name == "livekit.AgentDispatchService/CreateDispatch"]
    assert len(calls) == 1
    assert attrs(calls[0])["dispatch_client.outcome_unknown"] is True
    assert attrs(calls[0])["error.type"] == err.value.code.value
    assert calls[0].status.status_code is StatusCode.ERROR
    codes = {
        dims(p)["dispatch_client.twirp_code"]
        for p in otel.points("rpc.client.call.duration")
        if dims(p)["rpc.method"] == "CreateDispatch"
    }
    assert codes == {err.value.code.value}


async def test_room_names_only_when_asked_for(
    session: aiohttp.ClientSession, url: str, fake: FakeLiveKit
) -> None:
    otel = recorded(room_names=True)
    svc = make(session, url, Sleeps(), telemetry=otel.telemetry)
    await svc.list_dispatch("call-7")
    spans = otel.finished()
    assert [s.name for s in spans] == [
        "livekit.AgentDispatchService/ListDispatch attempt",
        "livekit.AgentDispatchService/ListDispatch",
    ]
    assert all(attrs(s)["lk.pii.room_name"] == "call-7" for s in spans)


async def test_no_sdk_set_up_sends_no_traceparent(
    session: aiohttp.ClientSession, url: str, fake: FakeLiveKit
) -> None:
    svc = make(session, url, Sleeps())  # the global providers: the API's proxies, no SDK
    await svc.list_dispatch("r")
    assert "traceparent" not in fake.requests[0].headers
    off = recorded()
    off.telemetry = Telemetry(tracer_provider=TracerProvider(), enabled=False)
    svc = make(session, url, Sleeps(), telemetry=off.telemetry)
    await svc.list_dispatch("r")
    assert "traceparent" not in fake.requests[1].headers


def test_bad_telemetry_is_a_value_error(session: aiohttp.ClientSession, url: str) -> None:
    with pytest.raises(ValueError, match="telemetry"):
        make(session, url, Sleeps(), telemetry=object())
    with pytest.raises(ValueError, match="room_names"):
        Telemetry(room_names="yes")  # type: ignore[arg-type]


async def test_the_real_server_receives_the_attempts_traceparent(
    livekit: RealServer, session: aiohttp.ClientSession, otel: Recorded
) -> None:
    room = unique_room("traced")
    async with FaultProxy(livekit.url, lambda i, rpc: Fault.PASS) as proxy:  # records what it passes on
        svc = AgentDispatchService(
            session, proxy.url, livekit.api_key, livekit.api_secret, telemetry=otel.telemetry
        )
        made = await svc.create_dispatch(CreateAgentDispatchRequest(agent_name="traced", room=room))
        assert [d.id for d in await svc.list_dispatch(room) if d.agent_name == "traced"] == [made.id]
    spans = {s.name: s for s in otel.finished()}
    for rpc in ("CreateDispatch", "ListDispatch"):
        attempt = spans[f"livekit.AgentDispatchService/{rpc} attempt"]
        got = [h.get("traceparent") for r, h in proxy.received if r == rpc]
        ctx = attempt.context
        assert got == [f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{ctx.trace_flags:02x}"]
        assert attrs(attempt)["http.response.status_code"] == 200
        assert attrs(spans[f"livekit.AgentDispatchService/{rpc}"])["dispatch_client.attempts"] == 1


def test_without_opentelemetry_installed_calls_work_and_send_no_traceparent(tmp_path: Path) -> None:
    script = tmp_path / "no_otel.py"
    script.write_text(
        """
import asyncio, sys
sys.modules["opentelemetry"] = None  # as if the otel extra were not installed
from aiohttp import web
import dispatch_client
from dispatch_client.fleet import EventKind, Supervisor
from dispatch_client.telemetry import Telemetry
from dispatch_client.testing import LocalDispatchServer

async def main() -> None:
    seen = []
    async def handler(request: web.Request) -> web.Response:
        seen.append(request.headers.get("traceparent"))
        return web.json_response({"agentDispatches": []})
    app = web.Application()
    app.router.add_post("/twirp/livekit.AgentDispatchService/ListDispatch", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    async with dispatch_client.connect(f"http://127.0.0.1:{port}", "key", "a-secret-of-thirty-two-bytes-0123",
                                       telemetry=Telemetry()) as svc:
        print(len(await svc.list_dispatch("r")), seen, sys.modules["opentelemetry"] is None)
    await runner.cleanup()

asyncio.run(main())
"""
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=False
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.split() == ["0", "[None]", "True"]


async def test_a_supervisors_events_are_spans(dispatch_server: LocalDispatchServer, otel: Recorded) -> None:
    worker = dispatch_server.add_worker("kept")
    async with (
        AgentDispatchService.open(
            dispatch_server.url, dispatch_server.api_key, dispatch_server.api_secret, telemetry=otel.telemetry
        ) as svc,
        Supervisor(
            svc,
            job_timeout=1.0,
            check_interval=0.05,
            join_timeout=0.5,
            leave_timeout=0.5,
            room_grace=3.0,
            backoff=0.02,
            max_backoff=0.2,
        ) as sup,
    ):
        events = sup.events()
        await sup.keep(CreateAgentDispatchRequest(agent_name="kept", room="kept-1"))
        running = await events.wait_for(EventKind.RUNNING, timeout=10)
        dispatch_server.kill_worker(worker)
        dispatch_server.add_worker("kept")
        lost = await events.wait_for(EventKind.LOST, timeout=10)
    marks = {s.name: s for s in otel.finished() if s.name.startswith("dispatch_client supervisor ")}
    assert {"dispatch_client supervisor dispatched", "dispatch_client supervisor running"} <= set(marks)
    run = attrs(marks["dispatch_client supervisor running"])
    assert running.job is not None
    assert (run["lk.agent_name"], run["lk.dispatch_id"], run["lk.job_id"]) == (
        "kept",
        running.dispatch_id,
        running.job.id,
    )
    assert lost.reason is not None
    assert attrs(marks["dispatch_client supervisor lost"])["dispatch_client.reason"] == lost.reason.value
    # The supervisor's calls are spans too.
    assert any(s.name == "dispatch_client ensure_dispatch" for s in otel.finished())
