"""LocalCloud: regions sharing one state, LiveKit Cloud's /settings/regions, regions taken down and back."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from local_helpers import KEY, SECRET, token

from dispatch_client import AgentDispatchService, CreateAgentDispatchRequest, RetryPolicy, TwirpError
from dispatch_client._transport.regions import Regions
from dispatch_client.testing import LocalCloud, Outage

REGIONS = ["us", "eu", "ap"]
LIST_PATH = "/twirp/livekit.AgentDispatchService/ListDispatch"


@pytest.fixture
async def cloud() -> AsyncIterator[LocalCloud]:
    async with LocalCloud(REGIONS, api_key=KEY, api_secret=SECRET, not_running_wait=0.05) as running:
        yield running


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def client(session: aiohttp.ClientSession, url: str) -> AgentDispatchService:
    return AgentDispatchService(session, url, KEY, SECRET, retry=RetryPolicy.none(), timeout=5)


async def get_regions(
    session: aiohttp.ClientSession, url: str, authorization: str | None
) -> aiohttp.ClientResponse:
    headers = {} if authorization is None else {"Authorization": authorization}
    async with session.get(url + "/settings/regions", headers=headers, allow_redirects=False) as resp:
        await resp.read()
        return resp


async def test_every_region_sees_one_state(cloud: LocalCloud, session: aiohttp.ClientSession) -> None:
    us, eu, ap = (client(session, cloud.urls[name]) for name in REGIONS)
    created = await us.create_dispatch(CreateAgentDispatchRequest(agent_name="support", room="call-1"))
    listed = await eu.list_dispatch("call-1")
    assert created.id in {d.id for d in listed}
    assert await ap.get_dispatch(created.id, "call-1") == created
    deleted = await ap.delete_dispatch(created.id, "call-1")
    assert deleted.id == created.id
    assert await us.get_dispatch(created.id, "call-1") is None
    assert [d.agent_name for d in cloud.rooms()["call-1"]] == [""]  # the room's default dispatch stays
    assert cloud.close_room("call-1")
    with pytest.raises(TwirpError) as err:
        await eu.list_dispatch("call-1")
    assert err.value.room_not_running


async def test_urls_are_distinct_loopback_ports(cloud: LocalCloud) -> None:
    assert list(cloud.urls) == REGIONS
    assert cloud.url == cloud.urls["us"]
    assert len(set(cloud.urls.values())) == 3
    assert all(url.startswith("http://127.0.0.1:") for url in cloud.urls.values())
    assert (cloud.api_key, cloud.api_secret) == (KEY, SECRET)


async def test_settings_regions_lists_every_region_from_every_region(
    cloud: LocalCloud, session: aiohttp.ClientSession
) -> None:
    expected = {"regions": [{"region": name, "url": cloud.urls[name], "distance": "0"} for name in REGIONS]}
    for url in cloud.urls.values():
        async with session.get(
            url + "/settings/regions", headers={"Authorization": f"Bearer {token()}"}
        ) as resp:
            assert resp.status == 200
            assert resp.content_type == "application/json"
            assert resp.headers["Cache-Control"] == "max-age=60"
            assert await resp.json() == expected


@pytest.mark.parametrize(("max_age", "header"), [(0, "max-age=0"), (5, "max-age=5"), (None, None)])
async def test_the_max_age_is_configurable(
    session: aiohttp.ClientSession, max_age: int | None, header: str | None
) -> None:
    async with LocalCloud(["a", "b"], api_key=KEY, api_secret=SECRET, regions_max_age=max_age) as cloud:
        resp = await get_regions(session, cloud.url, f"Bearer {token()}")
        assert resp.status == 200
        assert resp.headers.get("Cache-Control") == header


@pytest.mark.parametrize(
    ("authorization", "body"),
    [
        (None, "no authorization token"),
        ("Bearer not-a-token", "invalid authorization token"),
        ("Basic abc", "invalid authorization header. Must start with Bearer "),
        (f"Bearer {token(key='APIother')}", "invalid API key: APIother"),
    ],
)
async def test_settings_regions_wants_a_valid_token(
    cloud: LocalCloud, session: aiohttp.ClientSession, authorization: str | None, body: str
) -> None:
    async with session.get(
        cloud.url + "/settings/regions",
        headers={} if authorization is None else {"Authorization": authorization},
    ) as resp:
        assert resp.status == 401
        assert resp.content_type == "text/plain"
        assert await resp.text() == body


async def test_any_grant_will_do_for_settings_regions(
    cloud: LocalCloud, session: aiohttp.ClientSession
) -> None:
    resp = await get_regions(session, cloud.url, f"Bearer {token(video=None)}")
    assert resp.status == 200
    resp = await get_regions(
        session, cloud.url, f"Bearer {token(secret='wrong-secret-0123456789-0123456789')}"
    )
    assert resp.status == 401


async def test_other_routes_are_the_local_servers(cloud: LocalCloud, session: aiohttp.ClientSession) -> None:
    async with session.get(cloud.urls["eu"] + "/") as resp:
        assert (resp.status, await resp.text()) == (200, "OK")
    async with session.get(cloud.urls["eu"] + "/settings") as resp:
        assert (resp.status, await resp.text()) == (404, "404 page not found\n")
    async with session.post(cloud.urls["eu"] + "/settings/regions") as resp:
        assert resp.status == 405


async def test_the_clients_region_discovery_reads_the_cloud(
    cloud: LocalCloud, session: aiohttp.ClientSession
) -> None:
    regions = Regions(("127.0.0.1",))
    got = await regions.origins(session, cloud.urls["eu"], token(), timeout=1)
    assert got == [cloud.urls["us"], cloud.urls["ap"]]


async def test_a_region_taken_down_refuses_connections_and_comes_back(
    cloud: LocalCloud, session: aiohttp.ClientSession
) -> None:
    eu_url = cloud.urls["eu"]
    us, eu = client(session, cloud.urls["us"]), client(session, eu_url)
    created = await eu.create_dispatch(
        CreateAgentDispatchRequest(agent_name="a", room="call-2")
    )  # a pooled connection
    await cloud.down("eu")
    assert cloud.outages() == {"eu": Outage.REFUSE}
    for _ in range(2):  # the pooled connection was closed, and a new one is refused
        with pytest.raises(TwirpError) as err:
            await eu.list_dispatch("call-2")
        assert err.value.status is None
        assert err.value.code == "unavailable"
    with pytest.raises(aiohttp.ClientConnectorError):
        await get_regions(session, eu_url, f"Bearer {token()}")
    assert created.id in {d.id for d in await us.list_dispatch("call-2")}
    await cloud.up("eu")
    assert cloud.urls["eu"] == eu_url
    assert cloud.outages() == {}
    assert created.id in {d.id for d in await eu.list_dispatch("call-2")}


async def test_a_region_can_answer_503_to_everything(
    cloud: LocalCloud, session: aiohttp.ClientSession
) -> None:
    ap = client(session, cloud.urls["ap"])
    await cloud.down("ap", "503")
    assert cloud.outages() == {"ap": Outage.UNAVAILABLE}
    with pytest.raises(TwirpError) as err:
        await ap.create_dispatch(CreateAgentDispatchRequest(agent_name="a", room="call-3"))
    assert (err.value.status, err.value.code, err.value.from_intermediary) == (503, "unavailable", True)
    assert cloud.rooms() == {}
    for path in ("/", "/settings/regions", LIST_PATH):
        async with session.post(
            cloud.urls["ap"] + path, headers={"Authorization": f"Bearer {token()}"}
        ) as resp:
            assert resp.status == 503
    await cloud.down("ap", Outage.REFUSE)  # from one mode to the other
    with pytest.raises(aiohttp.ClientConnectorError):
        await get_regions(session, cloud.urls["ap"], None)
    await cloud.down("ap", Outage.UNAVAILABLE)
    assert (await get_regions(session, cloud.urls["ap"], f"Bearer {token()}")).status == 503
    await cloud.up("ap")
    assert (await get_regions(session, cloud.urls["ap"], f"Bearer {token()}")).status == 200
    created = await ap.create_dispatch(CreateAgentDispatchRequest(agent_name="a", room="call-3"))
    assert [d.id for d in cloud.rooms()["call-3"]][1:] == [created.id]


async def test_workers_serve_the_whole_cloud(cloud: LocalCloud, session: aiohttp.ClientSession) -> None:
    worker = cloud.add_worker("support")
    created = await client(session, cloud.urls["ap"]).create_dispatch(
        CreateAgentDispatchRequest(agent_name="support", room="call-4")
    )
    seen = await client(session, cloud.urls["us"]).get_dispatch(created.id, "call-4")
    assert seen is not None
    assert seen.state is not None
    assert [job.dispatch_id for job in seen.state.jobs] == [created.id]
    assert cloud.remove_worker(worker)


async def test_close_and_start_again_keeps_the_state(session: aiohttp.ClientSession) -> None:
    cloud = LocalCloud(["x", "y"], api_key=KEY, api_secret=SECRET)
    with pytest.raises(RuntimeError, match="not running"):
        _ = cloud.url
    await cloud.start()
    await client(session, cloud.urls["y"]).create_dispatch(
        CreateAgentDispatchRequest(agent_name="a", room="r")
    )
    await cloud.close()
    with pytest.raises(RuntimeError, match="not running"):
        await cloud.down("x")
    async with cloud:
        assert len(await client(session, cloud.urls["x"]).list_dispatch("r")) == 2


@pytest.mark.parametrize(
    ("regions", "max_age"),
    [([], 60), (["a", "a"], 60), (["a", ""], 60), ("ab", 60), (["a"], -1), (["a"], True), (["a"], 1.5)],
)
def test_bad_arguments_are_refused(regions: list[str], max_age: int) -> None:
    with pytest.raises(ValueError, match="regions"):
        LocalCloud(regions, api_key=KEY, api_secret=SECRET, regions_max_age=max_age)


async def test_an_unknown_region_is_named(cloud: LocalCloud) -> None:
    with pytest.raises(ValueError, match="no region 'mars': the regions are us, eu, ap"):
        await cloud.down("mars")
    with pytest.raises(ValueError, match="'sideways'"):
        await cloud.down("eu", "sideways")
    assert cloud.outages() == {}
