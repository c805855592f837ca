"""Supervisor against the stand-in: each way an agent is lost brings the right events, and one agent."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator

import pytest
from livekit import api

from dispatch_client import AgentDispatchService, CreateAgentDispatchRequest, TwirpError, TwirpErrorCode, sync
from dispatch_client.fleet import (
    EventKind,
    EventStream,
    LossReason,
    Supervisor,
    SupervisorEvent,
    SupervisorOptions,
)
from dispatch_client.testing import LocalCluster, LocalDispatchServer

AGENT = "support"
FAST: SupervisorOptions = {
    "job_timeout": 1.0,
    "check_interval": 0.05,
    "join_timeout": 0.5,
    "leave_timeout": 0.5,
    "room_grace": 3.0,
    "call_timeout": 5.0,
    "backoff": 0.02,
    "max_backoff": 0.2,
}


def req(room: str, agent: str = AGENT) -> CreateAgentDispatchRequest:
    return CreateAgentDispatchRequest(agent_name=agent, room=room)


class Sampler:
    """Samples the agents of a room (the room store's participants) until stopped: the most seen at once."""

    def __init__(self, service: AgentDispatchService, room: str, agent: str = AGENT) -> None:
        self.most = 0
        self.samples = 0
        self._reads = service._room_reads()
        self._room, self._agent = room, agent

    async def run(self) -> None:
        while True:
            agents = await self._reads.agents(self._room, self._agent, 5)
            if isinstance(agents, list):
                self.most = max(self.most, len(agents))
                self.samples += 1
            await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def sampled(service: AgentDispatchService, room: str) -> AsyncIterator[Sampler]:
    sampler = Sampler(service, room)
    task = asyncio.create_task(sampler.run())
    try:
        yield sampler
    finally:
        task.cancel()
        await asyncio.wait([task])
    assert sampler.samples > 0
    assert sampler.most <= 1, "two agents of the kept name were in the room at once"


async def kinds_until(events: EventStream, last: EventKind, timeout: float = 10.0) -> list[SupervisorEvent]:
    """The events up to and including the first of kind ``last``."""
    seen: list[SupervisorEvent] = []
    async with asyncio.timeout(timeout):
        async for event in events:
            seen.append(event)
            if event.kind is last:
                return seen
    raise AssertionError(f"the stream ended before {last}: {[e.kind for e in seen]}")


@pytest.fixture
async def sup(dispatch_service: AgentDispatchService) -> AsyncIterator[Supervisor]:
    async with Supervisor(dispatch_service, **FAST) as started:
        yield started


async def test_a_worker_death_brings_a_new_agent(
    dispatch_server: LocalDispatchServer, dispatch_service: AgentDispatchService, sup: Supervisor
) -> None:
    first = dispatch_server.add_worker(AGENT)
    events = sup.events()
    async with sampled(dispatch_service, "w-1"):
        assert await sup.keep(req("w-1")) is True
        start = await kinds_until(events, EventKind.RUNNING)
        assert [e.kind for e in start] == [EventKind.DISPATCHED, EventKind.RUNNING]
        assert start[1].job is not None
        assert start[1].job.state is not None
        assert start[1].job.state.worker_id == first.worker_id
        assert dispatch_server.kill_worker(first) is True
        second = dispatch_server.add_worker(AGENT)
        after = await kinds_until(events, EventKind.RUNNING)
    assert [e.kind for e in after] == [EventKind.LOST, EventKind.REDISPATCHED, EventKind.RUNNING]
    assert after[0].reason is LossReason.AGENT_LEFT
    assert after[0].dispatch_id == start[0].dispatch_id
    assert after[2].job is not None
    assert after[2].job.state is not None
    assert after[2].job.state.worker_id == second.worker_id
    assert after[2].redispatches == 1
    # The dead worker's dispatch was deleted: the room has the new one only.
    mine = [d.id for d in dispatch_server.rooms()["w-1"] if d.agent_name == AGENT]
    assert mine == [after[1].dispatch_id]


async def test_no_worker_then_one_registers(
    dispatch_server: LocalDispatchServer, dispatch_service: AgentDispatchService, sup: Supervisor
) -> None:
    events = sup.events()
    await sup.keep(req("nj-1"))
    lost = await kinds_until(events, EventKind.LOST)
    assert [e.kind for e in lost] == [EventKind.DISPATCHED, EventKind.LOST]
    assert lost[1].reason is LossReason.NO_JOB
    dispatch_server.add_worker(AGENT)
    after = await kinds_until(events, EventKind.RUNNING)
    assert after[-2].kind is EventKind.REDISPATCHED
    assert [d.id for d in dispatch_server.rooms()["nj-1"] if d.agent_name == AGENT] == [after[-1].dispatch_id]


async def test_a_job_turned_down_is_dispatched_again(
    dispatch_server: LocalDispatchServer, dispatch_service: AgentDispatchService, sup: Supervisor
) -> None:
    refusing = dispatch_server.add_worker(AGENT, answer="reject")
    events = sup.events()
    await sup.keep(req("jf-1"))
    lost = await kinds_until(events, EventKind.LOST)
    assert lost[-1].reason is LossReason.JOB_FAILED
    dispatch_server.remove_worker(refusing)
    dispatch_server.add_worker(AGENT)
    assert (await kinds_until(events, EventKind.RUNNING))[-1].kind is EventKind.RUNNING


async def test_a_dispatch_deleted_by_someone_else_is_made_again(
    dispatch_server: LocalDispatchServer, dispatch_service: AgentDispatchService, sup: Supervisor
) -> None:
    dispatch_server.add_worker(AGENT)
    events = sup.events()
    async with sampled(dispatch_service, "del-1"):
        await sup.keep(req("del-1"))
        running = (await kinds_until(events, EventKind.RUNNING))[-1]
        assert running.dispatch_id is not None
        await dispatch_service.delete_dispatch(running.dispatch_id, "del-1")
        after = await kinds_until(events, EventKind.RUNNING)
    assert [e.kind for e in after] == [EventKind.LOST, EventKind.REDISPATCHED, EventKind.RUNNING]
    assert after[0].reason is LossReason.DISPATCH_DELETED


async def test_a_room_whose_node_died_comes_back_with_its_agent_and_is_kept() -> None:
    async with (
        LocalCluster(2, not_running_wait=0.05, node_liveness=0.3, agent_return=0.6) as cluster,
        AgentDispatchService.open(
            cluster.url, cluster.api_key, cluster.api_secret, urls=cluster.urls[1:]
        ) as svc,
        Supervisor(svc, **FAST) as sup,
    ):
        worker = cluster.add_worker(AGENT)
        events = sup.events()
        async with sampled(svc, "node-1"):
            await sup.keep(req("node-1"))
            await kinds_until(events, EventKind.RUNNING)
            node = cluster.node_of("node-1")
            assert node is not None
            await node.kill()
            after = await kinds_until(events, EventKind.PRESENT)
            # The room came back without its dispatch, its agent in it: no second agent.
            assert [e.kind for e in after] == [EventKind.LOST, EventKind.PRESENT]
            assert after[0].reason is LossReason.DISPATCH_LOST
            # That agent's worker dies: a new dispatch brings a new agent.
            cluster.kill_worker(worker)
            cluster.add_worker(AGENT)
            again = await kinds_until(events, EventKind.RUNNING)
            await node.start()
        assert [e.kind for e in again] == [EventKind.LOST, EventKind.REDISPATCHED, EventKind.RUNNING]
        assert again[0].reason is LossReason.AGENT_LEFT


async def test_a_room_whose_node_died_with_its_worker_is_started_again_elsewhere() -> None:
    async with (
        LocalCluster(2, not_running_wait=0.05, node_liveness=0.3, agent_return=0.6) as cluster,
        AgentDispatchService.open(
            cluster.url, cluster.api_key, cluster.api_secret, urls=cluster.urls[1:]
        ) as svc,
        Supervisor(svc, **FAST) as sup,
    ):
        worker = cluster.add_worker(AGENT)
        events = sup.events()
        async with sampled(svc, "node-2"):
            await sup.keep(req("node-2"))
            await kinds_until(events, EventKind.RUNNING)
            node = cluster.node_of("node-2")
            assert node is not None
            await node.kill()
            cluster.kill_worker(worker)  # its agent leaves: nothing brings the room back
            cluster.add_worker(AGENT)
            after = await kinds_until(events, EventKind.RUNNING)
            back_on = cluster.node_of("node-2")
            await node.start()
        assert [e.kind for e in after] == [EventKind.LOST, EventKind.REDISPATCHED, EventKind.RUNNING]
        assert after[0].reason is LossReason.AGENT_LEFT  # seen in the room store while no node answered
        assert back_on is not None
        assert back_on is not node


async def test_the_budget_counts_only_within_its_window(dispatch_service: AgentDispatchService) -> None:
    options = FAST | {"job_timeout": 0.1, "max_redispatches": 1, "window": 0.01}
    async with Supervisor(dispatch_service, **options) as sup:
        events = sup.events()
        await sup.keep(req("bw-1"))
        for _ in range(3):
            event = await events.wait_for(EventKind.REDISPATCHED, EventKind.GAVE_UP)
            assert event.kind is EventKind.REDISPATCHED


async def test_the_backoff_is_capped_and_jittered_with_the_injected_sleep_and_rand(
    dispatch_service: AgentDispatchService,
) -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        await asyncio.sleep(0)

    options: SupervisorOptions = {**FAST, "job_timeout": 0.05, "max_redispatches": 5}
    async with Supervisor(dispatch_service, **options, sleep=sleep, rand=lambda: 1.0) as sup:
        events = sup.events()
        await sup.keep(req("bo-1"))
        await events.wait_for(EventKind.GAVE_UP)
    # No worker: each dispatch ends NO_JOB and is made again after the backoff (rand 1: the whole wait).
    assert waits == pytest.approx([0.02, 0.04, 0.08, 0.16, 0.2, 0.2])


async def test_a_room_away_longer_than_the_grace_waits_for_its_agent_and_sends_no_second() -> None:
    async with (
        LocalCluster(2, not_running_wait=0.05, node_liveness=0.2, agent_return=1.5) as cluster,
        AgentDispatchService.open(
            cluster.url, cluster.api_key, cluster.api_secret, urls=cluster.urls[1:]
        ) as svc,
        Supervisor(svc, **(FAST | {"room_grace": 0.3})) as sup,
    ):
        cluster.add_worker(AGENT)
        events = sup.events()
        async with sampled(svc, "away-1"):
            await sup.keep(req("away-1"))
            await kinds_until(events, EventKind.RUNNING)
            node = cluster.node_of("away-1")
            assert node is not None
            await node.kill()
            after = await kinds_until(events, EventKind.PRESENT)
            await node.start()
        assert after[0].kind is EventKind.LOST
        assert after[0].reason is LossReason.ROOM_AWAY
        # While no node answers and the store lists its agent, nothing is created: it waits.
        assert {e.kind for e in after[1:-1]} <= {EventKind.RETRYING}
        assert EventKind.REDISPATCHED not in {e.kind for e in after}


async def test_a_failure_that_will_not_pass_gives_the_room_up(dispatch_server: LocalDispatchServer) -> None:
    async with (
        AgentDispatchService.open(
            dispatch_server.url, dispatch_server.api_key, "not-the-secret-" + "x" * 32
        ) as svc,
        Supervisor(svc, **FAST) as sup,
    ):
        events = sup.events()
        await sup.keep(req("f-1"))
        gave_up = await events.wait_for(EventKind.GAVE_UP, EventKind.DISPATCHED)
        assert gave_up.kind is EventKind.GAVE_UP
        assert "unauthenticated" in gave_up.detail
        assert sup.kept() == []
    assert dispatch_server.rooms() == {}


async def test_without_the_room_store_a_room_gone_past_the_grace_counts_as_closed(
    dispatch_server: LocalDispatchServer,
) -> None:
    dispatch_server.add_worker(AGENT)
    grant = api.VideoGrants(room_admin=True, room="u-1")  # no roomList: the store cannot be read
    token = api.AccessToken(dispatch_server.api_key, dispatch_server.api_secret).with_grants(grant).to_jwt()
    async with (
        AgentDispatchService.open(dispatch_server.url, token=token) as svc,
        Supervisor(svc, **(FAST | {"room_grace": 0.3})) as sup,
    ):
        events = sup.events()
        await sup.keep(req("u-1"))
        await events.wait_for(EventKind.RUNNING)
        dispatch_server.close_room("u-1")
        closed = await events.wait_for(EventKind.ROOM_CLOSED, EventKind.LOST, EventKind.REDISPATCHED)
        assert closed.kind is EventKind.ROOM_CLOSED
        assert "cannot be read" in closed.detail
    assert "u-1" not in dispatch_server.rooms()  # not started again


async def test_the_budget_ends_in_gave_up(dispatch_service: AgentDispatchService) -> None:
    async with Supervisor(dispatch_service, **(FAST | {"job_timeout": 0.2, "max_redispatches": 2})) as sup:
        events = sup.events()
        await sup.keep(req("b-1"))
        seen = await kinds_until(events, EventKind.GAVE_UP)
        assert [e.kind for e in seen].count(EventKind.REDISPATCHED) == 2
        assert [e.reason for e in seen if e.kind is EventKind.LOST] == [LossReason.NO_JOB] * 3
        assert "budget" in seen[-1].detail
        assert sup.kept() == []


async def test_release_stops_the_keeping(
    dispatch_server: LocalDispatchServer, dispatch_service: AgentDispatchService, sup: Supervisor
) -> None:
    dispatch_server.add_worker(AGENT)
    events = sup.events()
    await sup.keep(req("r-1"))
    await sup.keep(req("r-2"))
    assert await sup.keep(req("r-1")) is False  # kept already
    await events.wait_for(EventKind.RUNNING, room="r-1")
    await events.wait_for(EventKind.RUNNING, room="r-2")
    assert await sup.release("r-1", AGENT) is True
    assert (await events.wait_for(EventKind.RELEASED)).room == "r-1"
    assert await sup.release("r-1", AGENT) is False
    assert sup.kept() == [("r-2", AGENT)]
    assert [d.agent_name for d in dispatch_server.rooms()["r-1"]] == ["", AGENT]  # not deleted
    assert await sup.release("r-2", AGENT, delete=True) is True
    assert [d.agent_name for d in dispatch_server.rooms()["r-2"]] == [""]


async def test_a_room_that_closed_is_no_longer_kept(
    dispatch_server: LocalDispatchServer, dispatch_service: AgentDispatchService, sup: Supervisor
) -> None:
    dispatch_server.add_worker(AGENT)
    events = sup.events()
    await sup.keep(req("c-1"))
    await events.wait_for(EventKind.RUNNING)
    assert dispatch_server.close_room("c-1") is True
    closed = await events.wait_for(EventKind.ROOM_CLOSED, EventKind.LOST, EventKind.REDISPATCHED)
    assert closed.kind is EventKind.ROOM_CLOSED
    assert sup.kept() == []
    assert "c-1" not in dispatch_server.rooms()  # not started again


@pytest.mark.parametrize(
    "kwargs",
    [
        {"check_interval": 0},
        {"job_timeout": -1},
        {"window": 0},
        {"max_redispatches": -1},
        {"max_redispatches": True},
        {"event_buffer": 0},
        {"backoff": 2.0, "max_backoff": 1.0},
    ],
)
def test_bad_settings_are_refused(dispatch_service: AgentDispatchService, kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="must"):
        Supervisor(dispatch_service, **kwargs)  # type: ignore[arg-type]


async def test_bad_arguments_are_refused_before_anything_is_sent(
    dispatch_server: LocalDispatchServer, sup: Supervisor
) -> None:
    with pytest.raises(ValueError, match="service must be"):
        Supervisor("not a service")  # type: ignore[arg-type]
    for bad in ("room", req(""), req("x", agent="")):
        with pytest.raises(ValueError, match="must be"):
            await sup.keep(bad)  # type: ignore[arg-type]
    for room, agent in (("", AGENT), ("x", "")):
        with pytest.raises(ValueError, match="must be a non-empty string"):
            await sup.release(room, agent)
    with pytest.raises(ValueError, match="maxsize"):
        sup.events(maxsize=0)
    assert dispatch_server.rooms() == {}
    await sup.aclose()
    with pytest.raises(TwirpError) as closed:
        await sup.keep(req("x"))
    assert closed.value.code is TwirpErrorCode.FAILED_PRECONDITION


async def test_each_stream_hears_from_when_it_was_opened_and_drops_the_oldest(
    dispatch_server: LocalDispatchServer,
    dispatch_service: AgentDispatchService,
    caplog: pytest.LogCaptureFixture,
) -> None:
    dispatch_server.add_worker(AGENT)
    caplog.set_level(logging.INFO, logger="dispatch_client.fleet")
    async with Supervisor(dispatch_service, **FAST) as sup:
        early, tiny = sup.events(), sup.events(maxsize=1)
        await sup.keep(req("e-1"))
        await early.wait_for(EventKind.RUNNING)
        late = sup.events()
        await sup.keep(req("e-2"))
        await early.wait_for(EventKind.RUNNING, room="e-2")
        assert (await late.wait_for()).kind is EventKind.DISPATCHED
        assert (await late.wait_for()).room == "e-2"
    # Closed: each stream gives what it still holds, then ends.
    assert [e.kind async for e in tiny] == [EventKind.RUNNING]
    assert tiny.dropped == 3
    assert [e async for e in late] == []
    with pytest.raises(LookupError):
        await early.wait_for(EventKind.GAVE_UP)
    assert any(
        r.name == "dispatch_client.fleet" and r.message.startswith("running: room e-1")
        for r in caplog.records
    )


@pytest.fixture
def blocking(dispatch_server: LocalDispatchServer) -> Iterator[sync.AgentDispatchService]:
    with sync.AgentDispatchService(
        dispatch_server.url, dispatch_server.api_key, dispatch_server.api_secret
    ) as c:
        yield c


async def test_the_blocking_form(
    dispatch_server: LocalDispatchServer, blocking: sync.AgentDispatchService
) -> None:
    first = dispatch_server.add_worker(AGENT)
    kinds: list[EventKind] = []
    loop = asyncio.get_running_loop()

    async def worker_dies() -> None:  # on the server's loop
        dispatch_server.kill_worker(first)
        dispatch_server.add_worker(AGENT)

    def keep_through_a_death() -> None:  # blocking code, in a thread of its own
        with sync.Supervisor(blocking, **FAST) as sup:
            events = sup.events()
            assert sup.keep(req("s-1")) is True
            kinds.append(events.wait_for(EventKind.RUNNING).kind)
            asyncio.run_coroutine_threadsafe(worker_dies(), loop).result()
            kinds.append(events.wait_for(EventKind.LOST).kind)
            kinds.append(events.wait_for(EventKind.RUNNING).kind)
            assert sup.kept() == [("s-1", AGENT)]
            assert sup.release("s-1", AGENT) is True
            assert next(events).kind is EventKind.RELEASED
        assert list(events) == []  # closed: the stream ended

    await asyncio.to_thread(keep_through_a_death)
    assert kinds == [EventKind.RUNNING, EventKind.LOST, EventKind.RUNNING]


async def test_closing_the_blocking_client_stops_its_supervisor(
    dispatch_server: LocalDispatchServer, blocking: sync.AgentDispatchService
) -> None:
    dispatch_server.add_worker(AGENT)

    def keep_then_close_the_client() -> None:
        sup = sync.Supervisor(blocking, **FAST)
        events = sup.events()
        sup.keep(req("sc-1"))
        events.wait_for(EventKind.RUNNING)
        blocking.close()
        assert list(events) == []  # the stream ended with the client's loop
        sup.close()  # harmless now
        with pytest.raises(TwirpError) as closed:
            sup.keep(req("sc-2"))
        assert closed.value.code is TwirpErrorCode.FAILED_PRECONDITION

    await asyncio.to_thread(keep_then_close_the_client)
    with pytest.raises(ValueError, match="client must be"):
        sync.Supervisor("not a client")  # type: ignore[arg-type]
