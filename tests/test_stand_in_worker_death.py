"""The stand-in's simulated workers that die: their agents leave, their jobs still show running."""

from __future__ import annotations

import asyncio

from dispatch_client import AgentDispatchService, CreateAgentDispatchRequest, JobStatus
from dispatch_client._client.room_state import agents_named
from dispatch_client.testing import LocalCluster, LocalDispatchServer


async def agents(svc: AgentDispatchService, room: str, name: str) -> list[str]:
    found = await svc._room_reads().agents(room, name, 5)
    assert isinstance(found, list)
    return [p.identity for p in agents_named(found, name)]


async def test_a_dead_workers_agents_leave_and_its_jobs_still_show_running(
    dispatch_server: LocalDispatchServer, dispatch_service: AgentDispatchService
) -> None:
    worker = dispatch_server.add_worker("a")
    other = dispatch_server.add_worker("b")
    made = [
        await dispatch_service.create_dispatch(CreateAgentDispatchRequest(agent_name=n, room="r"))
        for n in ("a", "b")
    ]
    jobs = [await dispatch_service.wait_for_job(d.id, "r", timeout=5) for d in made]
    assert await agents(dispatch_service, "r", "a") == [f"agent-{jobs[0].id}"]

    assert dispatch_server.kill_worker(worker) is True
    assert await agents(dispatch_service, "r", "a") == []
    assert await agents(dispatch_service, "r", "b") == [f"agent-{jobs[1].id}"]  # another worker's stays
    still = await dispatch_service.get_dispatch(made[0].id, "r")
    assert still is not None
    assert still.state is not None
    assert [j.state.status for j in still.state.jobs if j.state] == [JobStatus.JS_RUNNING]
    assert dispatch_server.workers() == [other]
    assert dispatch_server.kill_worker(worker) is False  # dead already

    # A dispatch made now gets no job: no worker of the name is registered.
    late = await dispatch_service.create_dispatch(CreateAgentDispatchRequest(agent_name="a", room="r"))
    found = await dispatch_service.get_dispatch(late.id, "r")
    assert found is not None
    assert found.state is not None
    assert found.state.jobs == []


async def test_a_room_whose_node_and_worker_died_does_not_come_back_by_itself() -> None:
    async with LocalCluster(2, not_running_wait=0.05, node_liveness=0.1, agent_return=0.2) as cluster:
        worker = cluster.add_worker("a")
        async with AgentDispatchService.open(
            cluster.url, cluster.api_key, cluster.api_secret, urls=cluster.urls[1:]
        ) as svc:
            made = await svc.create_dispatch(CreateAgentDispatchRequest(agent_name="a", room="r"))
            await svc.wait_for_job(made.id, "r", timeout=5)
            node = cluster.node_of("r")
            assert node is not None
            await node.kill()
            cluster.kill_worker(worker)
            assert await agents(svc, "r", "a") == []  # the store lists no agent of it
            # Past the time its agent would have brought it back: no node runs it.
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 0.5
            while loop.time() < deadline:
                assert cluster.node_of("r") is None
                await asyncio.sleep(0.05)
            assert "r" not in cluster.rooms()
            await node.start()
