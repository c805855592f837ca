"""A job's reason, attempts and times, shown by wait_for_job's errors and by the CLI when a server
sends them (livekit/protocol v1.54.1's fields), and not at all when it does not (v1.13.5)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from conftest import FIXTURES

import dispatch_client
from dispatch_client import Job, ListAgentDispatchResponse, TwirpError, WaitOutcome
from dispatch_client._client.job_facts import job_facts
from dispatch_client.cli.output import job_details
from dispatch_client.codec import decode

BODY = (FIXTURES / "livekit-protocol-v1.54.1" / "list_new_fields.json").read_bytes()
OLD = (FIXTURES / "livekit-server-v1.13.5" / "jobs_get_fail.json").read_bytes()


def failed_body() -> bytes:
    answer = orjson.loads(BODY)
    state = answer["agent_dispatches"][0]["state"]["jobs"][0]["state"]
    state.update(status="JS_FAILED", error="the entrypoint raised", participant_identity="")
    return orjson.dumps(answer)


def the_job(body: bytes) -> Job:
    dispatch = decode(ListAgentDispatchResponse, body).agent_dispatches[0]
    assert dispatch.state is not None
    return dispatch.state.jobs[0]


def test_the_facts_of_a_newer_servers_job() -> None:
    assert job_facts(the_job(BODY)) == [
        ("reason", "JSR_RETRYING"),
        ("created", "2026-11-30 00:53:20.123 UTC"),
        ("attempts", "3"),
        ("workers asked", "4294967295"),
        ("assigned", "2026-11-30 00:53:20.200 UTC"),
        ("accepted", "2026-11-30 00:53:20.250 UTC"),
        ("first started", "2026-11-30 00:53:20.100 UTC"),
        ("failed attempts took", "9007199.255 s"),
    ]
    details = job_details(the_job(BODY))
    assert "attempts              3" in details
    assert "first started         2026-11-30 00:53:20.100 UTC" in details


def test_a_v1_13_5_job_shows_as_before() -> None:
    job = the_job(OLD)
    assert job_facts(job) == []
    assert [line.split()[0] for line in job_details(job).splitlines()] == [
        "job",
        "status",
        "type",
        "worker",
        "participant",
        "started",
        "error",
    ]


@pytest.fixture
async def newer_server() -> AsyncIterator[str]:
    async def listed(request: web.Request) -> web.Response:
        return web.Response(body=failed_body(), content_type="application/json")

    app = web.Application()
    app.router.add_post("/twirp/livekit.AgentDispatchService/ListDispatch", listed)
    server = TestServer(app)
    await server.start_server()
    try:
        yield str(server.make_url(""))
    finally:
        await server.close()


async def test_wait_for_job_says_the_reason_attempts_and_times(newer_server: str) -> None:
    secret = "a-secret-of-at-least-thirty-two-bytes-for-hs256"
    async with dispatch_client.connect(newer_server, "key", secret) as svc:
        with pytest.raises(TwirpError) as err:
            await svc.wait_for_job("AD_newfields0001", "call-7", timeout=5)
    assert err.value.wait_outcome is WaitOutcome.JOB_FAILED
    assert err.value.message == (
        "job AJ_newfields0001 of dispatch AD_newfields0001 ended as JS_FAILED: the entrypoint raised"
        " (reason JSR_RETRYING, created 2026-11-30 00:53:20.123 UTC, attempts 3, workers asked 4294967295,"
        " assigned 2026-11-30 00:53:20.200 UTC, accepted 2026-11-30 00:53:20.250 UTC,"
        " first started 2026-11-30 00:53:20.100 UTC, failed attempts took 9007199.255 s)"
    )
