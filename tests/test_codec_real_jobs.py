"""Bodies livekit-server v1.13.5 wrote for dispatches with a real worker's jobs, decoded value for value.

Recorded by tools/capture_job_fixtures.py (see the fixtures' README). No server is needed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import betterproto2
import pytest

from dispatch_client import JobStatus, JobType, ListAgentDispatchResponse
from dispatch_client.codec import decode

FIXTURES = Path(__file__).parent / "fixtures" / "livekit-server-v1.13.5"
MANIFEST = json.loads((FIXTURES / "jobs_manifest.json").read_text())
BODIES = sorted(MANIFEST["exchanges"])


def _same(decoded: Any, raw: Any, where: str) -> None:
    """Every field of the server's JSON (it writes all of them, set or not) against the decoded message."""
    if isinstance(raw, dict):
        assert decoded is not None, where
        for key, value in raw.items():
            _same(getattr(decoded, key), value, f"{where}.{key}")
    elif isinstance(raw, list):
        assert len(decoded) == len(raw), where
        for i, (d, r) in enumerate(zip(decoded, raw, strict=True)):
            _same(d, r, f"{where}[{i}]")
    elif isinstance(decoded, betterproto2.Enum):
        assert decoded.name == raw, where
    elif isinstance(decoded, int) and isinstance(raw, str):  # proto3 JSON writes 64-bit integers as strings
        assert decoded == int(raw), where
    elif raw is None:
        assert decoded is None, where
    else:
        assert decoded == raw, where


@pytest.mark.parametrize("name", BODIES)
def test_every_field_decodes_as_the_server_wrote_it(name: str) -> None:
    body = (FIXTURES / name).read_bytes()
    decoded = decode(ListAgentDispatchResponse, body)
    _same(decoded, json.loads(body), name)


def _job_states(name: str) -> list[tuple[JobStatus, str, bool]]:
    decoded = decode(ListAgentDispatchResponse, (FIXTURES / name).read_bytes())
    return [
        (job.state.status, job.state.error, bool(job.state.participant_identity))
        for dispatch in decoded.agent_dispatches
        if dispatch.state is not None
        for job in dispatch.state.jobs
        if job.state is not None
    ]


def test_what_the_jobs_show() -> None:
    running = (JobStatus.JS_RUNNING, "", True)
    assert _job_states("jobs_get_stay.json") == [running]
    # Finished and failed jobs keep the snapshot taken when the worker accepted them.
    assert _job_states("jobs_get_finish.json") == [running]
    assert _job_states("jobs_get_fail.json") == [running]
    assert _job_states("jobs_get_reject.json") == [(JobStatus.JS_SUCCESS, "", False)]
    listed = decode(ListAgentDispatchResponse, (FIXTURES / "jobs_list.json").read_bytes())
    jobs = {d.agent_name: d.state.jobs for d in listed.agent_dispatches if d.state is not None}
    assert jobs[""] == []
    (job,) = jobs["fixture-agent"]
    assert job.type is JobType.JT_ROOM
    assert job.state is not None
    assert job.state.participant_identity == "agent-" + job.id
