"""wait_for_job: each way a wait ends, against a server whose dispatch's jobs the test sets.

The same against the real livekit-server and a real worker: tests/test_e2e_wait_for_job.py.
"""

from __future__ import annotations

import aiohttp
import pytest
from fake_livekit import API_KEY, API_SECRET, FakeLiveKit, answer, late
from livekit.protocol import agent as pba
from retrying import STEADY, make

from dispatch_client import (
    AgentDispatchService,
    CreateAgentDispatchRequest,
    JobStatus,
    TwirpError,
    TwirpErrorCode,
    WaitOutcome,
)

NOT_RUNNING = '{"code":"unavailable","msg":"twirp error unknown: no response from servers"}'


class Script:
    """The sleep of the service: records each wait, and at the n-th one does what the test says."""

    def __init__(self, **at: object) -> None:
        self.waits: list[float] = []
        self.at = at

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        step = self.at.get(str(len(self.waits)))
        if callable(step):
            step()


def job(
    fake: FakeLiveKit,
    room: str,
    dispatch_id: str,
    status: pba.JobStatus,
    error: str = "",
    agent: str = "agent-AJ_1",
) -> None:
    state = pba.JobState(status=status, error=error, worker_id="AW_test", participant_identity=agent)
    d = fake.rooms[room][dispatch_id]
    del d.state.jobs[:]
    d.state.jobs.append(pba.Job(id="AJ_1", dispatch_id=dispatch_id, agent_name=d.agent_name, state=state))


async def created(svc: AgentDispatchService) -> str:
    return (await svc.create_dispatch(CreateAgentDispatchRequest(agent_name="a", room="r"))).id


def service(session: aiohttp.ClientSession, url: str, script: Script) -> AgentDispatchService:
    return make(session, url, script, rand=0.0, retry=STEADY)  # type: ignore[arg-type]


async def test_the_job_arrives_and_is_returned(
    session: aiohttp.ClientSession, url: str, fake: FakeLiveKit
) -> None:
    script = Script()
    svc = service(session, url, script)
    dispatch_id = await created(svc)
    script.at = {
        "2": lambda: job(fake, "r", dispatch_id, pba.JS_PENDING),
        "3": lambda: job(fake, "r", dispatch_id, pba.JS_RUNNING),
    }
    found = await svc.wait_for_job(dispatch_id, "r", timeout=5)
    assert (found.id, found.state.status if found.state else None) == ("AJ_1", JobStatus.JS_RUNNING)
    assert found.state is not None
    assert found.state.worker_id == "AW_test"
    # Half of each backoff (rand 0): 0.1 s doubling to 1 s; three waits before the fourth poll found it.
    assert script.waits == [0.05, 0.1, 0.2]


async def test_a_later_state_counts_and_until_can_ask_for_more(
    session: aiohttp.ClientSession, url: str, fake: FakeLiveKit
) -> None:
    script = Script()
    svc = service(session, url, script)
    dispatch_id = await created(svc)
    job(fake, "r", dispatch_id, pba.JS_SUCCESS)
    assert (await svc.wait_for_job(dispatch_id, "r")).id == "AJ_1"
    job(fake, "r", dispatch_id, pba.JS_RUNNING)
    script.at = {"1": lambda: job(fake, "r", dispatch_id, pba.JS_SUCCESS)}
    done = await svc.wait_for_job(dispatch_id, "r", until=JobStatus.JS_SUCCESS)
    assert done.state is not None
    assert done.state.status == JobStatus.JS_SUCCESS


@pytest.mark.parametrize(
    ("status", "outcome"), [(None, WaitOutcome.NO_JOB), (pba.JS_PENDING, WaitOutcome.JOB_PENDING)]
)
async def test_the_deadline_says_what_was_last_seen(
    session: aiohttp.ClientSession,
    url: str,
    fake: FakeLiveKit,
    status: pba.JobStatus | None,
    outcome: WaitOutcome,
) -> None:
    svc = AgentDispatchService(session, url, API_KEY, API_SECRET)  # real waits
    dispatch_id = await created(svc)
    if status is not None:
        job(fake, "r", dispatch_id, status)
    with pytest.raises(TwirpError) as err:
        await svc.wait_for_job(dispatch_id, "r", timeout=0.5)
    assert (err.value.code, err.value.wait_outcome) == (TwirpErrorCode.DEADLINE_EXCEEDED, outcome)
    assert (err.value.job is None) == (status is None)


async def test_a_failed_job_ends_the_wait_with_its_error(
    session: aiohttp.ClientSession, url: str, fake: FakeLiveKit
) -> None:
    svc = service(session, url, Script())
    dispatch_id = await created(svc)
    job(fake, "r", dispatch_id, pba.JS_FAILED, error="the agent crashed")
    with pytest.raises(TwirpError) as err:
        await svc.wait_for_job(dispatch_id, "r")
    assert (err.value.code, err.value.wait_outcome) == (TwirpErrorCode.ABORTED, WaitOutcome.JOB_FAILED)
    assert err.value.job is not None
    assert err.value.job.state is not None
    assert err.value.job.state.error == "the agent crashed"
    assert "the agent crashed" in err.value.message


async def test_a_job_turned_down_ended_without_an_agent(
    session: aiohttp.ClientSession, url: str, fake: FakeLiveKit
) -> None:
    # How livekit-server v1.13.5 shows a job the worker rejected: JS_SUCCESS, no participant.
    svc = service(session, url, Script())
    dispatch_id = await created(svc)
    job(fake, "r", dispatch_id, pba.JS_SUCCESS, agent="")
    with pytest.raises(TwirpError) as err:
        await svc.wait_for_job(dispatch_id, "r")
    assert (err.value.code, err.value.wait_outcome) == (TwirpErrorCode.ABORTED, WaitOutcome.JOB_FAILED)
    assert err.value.message.endswith("ended without an agent: the worker turned it down")


async def test_a_deleted_dispatch_and_a_room_that_stopped(
    session: aiohttp.ClientSession, url: str, fake: FakeLiveKit
) -> None:
    script = Script()
    svc = service(session, url, script)
    dispatch_id = await created(svc)
    script.at = {"1": lambda: fake.rooms["r"].clear()}
    with pytest.raises(TwirpError) as err:
        await svc.wait_for_job(dispatch_id, "r")
    assert (err.value.code, err.value.wait_outcome) == (
        TwirpErrorCode.NOT_FOUND,
        WaitOutcome.DISPATCH_DELETED,
    )
    fake.respond_with(answer(503, NOT_RUNNING, "application/json"))
    with pytest.raises(TwirpError) as err:
        await svc.wait_for_job(dispatch_id, "r")
    assert (err.value.code, err.value.wait_outcome) == (
        TwirpErrorCode.UNAVAILABLE,
        WaitOutcome.ROOM_NOT_RUNNING,
    )
    assert err.value.room_not_running


def rpcs(fake: FakeLiveKit) -> list[str]:
    return [r.path.rsplit("/", 1)[1] for r in fake.requests]


async def test_a_room_that_stopped_is_waited_for_only_while_the_store_has_it(
    session: aiohttp.ClientSession, url: str, fake: FakeLiveKit
) -> None:
    script = Script()
    svc = service(session, url, script)
    dispatch_id = await created(svc)
    not_running = answer(503, NOT_RUNNING, "application/json")
    # Seen, then not running, and the store has no such room: it closed, the wait ends at once.
    no_rooms = answer(200, '{"rooms": []}', "application/json")
    script.at = {"1": lambda: fake.respond_with(not_running, no_rooms)}
    del fake.requests[:]
    with pytest.raises(TwirpError) as err:
        await svc.wait_for_job(dispatch_id, "r", timeout=30, grace=20)
    assert err.value.wait_outcome is WaitOutcome.ROOM_NOT_RUNNING
    assert rpcs(fake) == ["ListDispatch", "ListDispatch", "ListRooms"]
    # Not running while the store has the room (its node went down): polled on, the store read
    # once, and the job is found once the room answers again.
    in_store = answer(200, '{"rooms": [{"sid": "RM_1", "name": "r"}]}', "application/json")
    script.waits, script.at = (
        [],
        {
            "1": lambda: fake.respond_with(not_running, in_store, not_running),
            "3": lambda: job(fake, "r", dispatch_id, pba.JS_RUNNING),
        },
    )
    del fake.requests[:]
    found = await svc.wait_for_job(dispatch_id, "r", timeout=30, grace=20)
    assert found.id == "AJ_1"
    assert rpcs(fake) == ["ListDispatch", "ListDispatch", "ListRooms", "ListDispatch", "ListDispatch"]
    # grace=0: the first "not running" ends the wait, without reading the store.
    dispatch_id = await created(svc)
    script.waits, script.at = [], {"1": lambda: fake.respond_with(not_running)}
    del fake.requests[:]
    with pytest.raises(TwirpError) as err:
        await svc.wait_for_job(dispatch_id, "r", timeout=30, grace=0)
    assert err.value.wait_outcome is WaitOutcome.ROOM_NOT_RUNNING
    assert rpcs(fake) == ["ListDispatch", "ListDispatch"]


async def test_passing_failures_are_not_no_agent(
    session: aiohttp.ClientSession, url: str, fake: FakeLiveKit
) -> None:
    script = Script()
    svc = service(session, url, script)
    dispatch_id = await created(svc)
    # Every poll's attempts fail for a while (a poll retries twice itself), then the job is there.
    fake.respond_with(*[answer(502, "bad gateway")] * 6)
    script.at = {"6": lambda: job(fake, "r", dispatch_id, pba.JS_RUNNING)}
    assert (await svc.wait_for_job(dispatch_id, "r", timeout=5)).id == "AJ_1"
    # Failing to the end: the failure is raised, with no outcome, not "no job".
    fake.respond_with(*[answer(502, "bad gateway")] * 1000)
    real = AgentDispatchService(session, url, API_KEY, API_SECRET)
    with pytest.raises(TwirpError) as err:
        await real.wait_for_job(dispatch_id, "r", timeout=0.5)
    assert (err.value.code, err.value.status, err.value.wait_outcome) == (
        TwirpErrorCode.UNAVAILABLE,
        502,
        None,
    )
    fake.overrides.clear()


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [(("", "r"), {}), (("AD_x", ""), {}), (("AD_x", "r"), {"timeout": 0}), (("AD_x", "r"), {"until": 1})],
)
async def test_bad_arguments_are_value_errors(
    session: aiohttp.ClientSession,
    url: str,
    fake: FakeLiveKit,
    args: tuple[str, str],
    kwargs: dict[str, object],
) -> None:
    svc = service(session, url, Script())
    with pytest.raises(ValueError):  # noqa: PT011 -- each case names a different argument
        await svc.wait_for_job(*args, **kwargs)  # type: ignore[arg-type]
    assert fake.requests == []


async def test_a_poll_cut_off_by_the_deadline_is_not_no_agent(
    session: aiohttp.ClientSession, url: str, fake: FakeLiveKit
) -> None:
    # One poll answered (no job yet), then one that hangs past the wait's deadline: nothing is
    # known of the last moments, so the failure is raised, without an outcome.
    svc = AgentDispatchService(session, url, API_KEY, API_SECRET)
    dispatch_id = await created(svc)
    fake.respond_with(fake.serve, late(5.0))
    with pytest.raises(TwirpError) as err:
        await svc.wait_for_job(dispatch_id, "r", timeout=1.0)
    assert (err.value.code, err.value.wait_outcome) == (TwirpErrorCode.DEADLINE_EXCEEDED, None)
    fake.overrides.clear()


async def test_a_poll_that_could_not_come_back_in_time_is_not_started(
    session: aiohttp.ClientSession, url: str, fake: FakeLiveKit
) -> None:
    # Each poll takes 0.2 s. The fourth would start 0.05 s before the deadline and be cut off
    # by it (a failure, without an outcome, though every poll answered): the wait ends on the
    # third's answer instead.
    svc = AgentDispatchService(session, url, API_KEY, API_SECRET, rand=lambda: 0.0)
    dispatch_id = await created(svc)
    fake.respond_with(*[late(0.2, fake.serve)] * 10)
    with pytest.raises(TwirpError) as err:
        await svc.wait_for_job(dispatch_id, "r", timeout=1.0)
    assert (err.value.code, err.value.wait_outcome) == (TwirpErrorCode.DEADLINE_EXCEEDED, WaitOutcome.NO_JOB)
    assert len(fake.requests) == 1 + 3
    fake.overrides.clear()


async def test_a_servers_deadline_exceeded_is_a_passing_failure(
    session: aiohttp.ClientSession, url: str, fake: FakeLiveKit
) -> None:
    script = Script()
    svc = service(session, url, script)
    dispatch_id = await created(svc)
    fake.respond_with(answer(408, '{"code":"deadline_exceeded","msg":"slow"}', "application/json"))
    script.at = {"1": lambda: job(fake, "r", dispatch_id, pba.JS_RUNNING)}
    assert (await svc.wait_for_job(dispatch_id, "r", timeout=5)).id == "AJ_1"
