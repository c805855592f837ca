"""Where a node list comes from (``url`` with commas, ``urls=``, ``LIVEKIT_URL``), in every way a
service is made (the constructor, ``open``, ``connect``, the blocking client), and how bad ones
are refused: ValueError, before anything is sent."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import aiohttp
import pytest
from local_helpers import KEY, SECRET, server_in_thread
from node_helpers import NODES, Seen, StubNode

import dispatch_client
from dispatch_client import AgentDispatchService, CreateAgentDispatchRequest, TwirpError
from dispatch_client.sync import AgentDispatchService as BlockingService
from dispatch_client.testing import LocalCloud

LIST = "/twirp/livekit.AgentDispatchService/ListDispatch"


@pytest.fixture
async def cloud() -> AsyncIterator[LocalCloud]:
    async with LocalCloud(NODES, KEY, SECRET, not_running_wait=0.05) as c:
        yield c


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def create(room: str) -> CreateAgentDispatchRequest:
    return CreateAgentDispatchRequest(agent_name="a", room=room)


async def test_livekit_url_may_list_the_nodes_with_commas(
    cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    n1, n2, n3 = (cloud.urls[name] for name in NODES)
    monkeypatch.setenv("LIVEKIT_URL", f" {n1} ,{n2.replace('http://', 'ws://')},{n3}/ ")
    await cloud.down("n1")
    async with AgentDispatchService.open(api_key=KEY, api_secret=SECRET) as svc:
        assert (svc.url, svc.urls) == (n1, (n1, n2, n3))
        assert repr(svc) == f"AgentDispatchService(urls={[n1, n2, n3]!r})"
        created = await svc.create_dispatch(create("r"))
    async with dispatch_client.connect(api_key=KEY, api_secret=SECRET) as svc:
        assert svc.urls == (n1, n2, n3)
        assert await svc.get_dispatch(created.id, "r") == created


async def test_urls_without_url_leave_livekit_url_unread(
    cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    n1, n2, n3 = (cloud.urls[name] for name in NODES)
    monkeypatch.setenv("LIVEKIT_URL", "http://127.0.0.1:1")  # arguments win over the environment
    async with dispatch_client.connect(api_key=KEY, api_secret=SECRET, urls=[n2, n3]) as svc:
        assert svc.urls == (n2, n3)
        await svc.create_dispatch(create("r"))
    # ``url`` comes first, then the nodes of ``urls`` not given yet.
    async with aiohttp.ClientSession() as session:
        svc = AgentDispatchService(session, n3, KEY, SECRET, urls=[n1, f"{n3}/", n2, n1])
        assert svc.urls == (n3, n1, n2)
        one = AgentDispatchService(session, n3, KEY, SECRET)
        assert (one.urls, repr(one)) == ((n3,), f"AgentDispatchService(url={n3!r})")


async def test_each_node_keeps_its_own_path_prefix(cloud: LocalCloud) -> None:
    seen = Seen()
    async with aiohttp.ClientSession(trace_configs=[seen.config()]) as session:
        n1, n2 = cloud.urls["n1"], cloud.urls["n2"]
        svc = AgentDispatchService(session, n1 + "/a", KEY, SECRET, urls=[n2 + "/b"])
        await cloud.down("n1")
        with pytest.raises(TwirpError) as err:
            await svc.list_dispatch("r")  # the stand-in serves no prefix: Go's plain 404 from n2
    assert err.value.status == 404
    assert [s.path for s in seen.sent] == ["/a" + LIST, "/b" + LIST]


def test_the_blocking_client_takes_the_nodes(monkeypatch: pytest.MonkeyPatch) -> None:
    dead = f"http://127.0.0.1:{closed_port()}"
    with server_in_thread(not_running_wait=0.05) as server:
        with BlockingService(dead, KEY, SECRET, urls=[server.url]) as client:
            assert client.url == dead
            created = client.create_dispatch(create("r"))
        monkeypatch.setenv("LIVEKIT_URL", f"{dead},{server.url}")
        with BlockingService(api_key=KEY, api_secret=SECRET) as client:
            assert client.get_dispatch(created.id, "r") == created


@pytest.mark.parametrize(
    ("url", "urls", "match"),
    [
        ("{live},,{live2}", (), "empty entry"),
        ("{live},", (), "empty entry"),
        ("{live}, nope", (), "url must look like"),
        ("{live}", "{live2}", "list or tuple of URL strings, got str"),
        ("{live}", [b"http://127.0.0.1:2"], r"urls\[0\] must be a string"),
        ("{live}", ["{live2},{live2}"], r"urls\[0\] holds a comma"),
        ("{live}", ["{live2}", "ftp://127.0.0.1"], r"urls\[1\]: url must look like"),
        ("{live}", ["{live2}?x=1"], r"urls\[0\]: url must not carry"),
        ("{live}", ["http://127.0.0.1:0"], r"urls\[0\]: url has port 0"),
        ("https://127.0.0.1:1", ["http://127.0.0.1:2"], "every node must be; not: http://127.0.0.1:2"),
        ("wss://127.0.0.1:1", ["ws://127.0.0.1:2"], "every node must be"),
    ],
)
async def test_bad_node_urls_are_refused_before_anything_is_sent(
    url: str, urls: object, match: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with StubNode.twirp("internal", 500, "") as live, StubNode.twirp("internal", 500, "") as live2:
        url, urls = str(fill(url, live.url, live2.url)), fill(urls, live.url, live2.url)
        async with aiohttp.ClientSession() as session:
            with pytest.raises(ValueError, match=match):
                AgentDispatchService(session, url, KEY, SECRET, urls=urls)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match=match):
            AgentDispatchService.open(url, KEY, SECRET, urls=urls)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match=match):
            BlockingService(url, KEY, SECRET, urls=urls)  # type: ignore[arg-type]
        if urls == ():
            monkeypatch.setenv("LIVEKIT_URL", url)
            with pytest.raises(ValueError, match=match):
                async with dispatch_client.connect(api_key=KEY, api_secret=SECRET):
                    pass
    assert (live.hits, live2.hits) == (0, 0)


def fill(value: object, live: str, live2: str) -> object:
    if isinstance(value, str):
        return value.format(live=live, live2=live2)
    if isinstance(value, list):
        return [fill(item, live, live2) for item in value]
    return value


async def test_several_nodes_need_failover(cloud: LocalCloud) -> None:
    with pytest.raises(ValueError, match="failover=False"):
        AgentDispatchService.open(cloud.urls["n1"], KEY, SECRET, urls=[cloud.urls["n2"]], failover=False)
    one = AgentDispatchService.open(cloud.urls["n1"], KEY, SECRET, urls=[cloud.urls["n1"]], failover=False)
    assert one.urls == (cloud.urls["n1"],)
    await one.aclose()
