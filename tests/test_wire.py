"""What goes on the wire: method, path, headers, token claims and body, seen by a real server."""

from __future__ import annotations

import aiohttp
import orjson
import pytest
from fake_livekit import API_KEY, API_SECRET, FakeLiveKit
from google.protobuf import json_format
from livekit.protocol import agent_dispatch as pb

import dispatch_client
from dispatch_client import AgentDispatchService, CreateAgentDispatchRequest, JobRestartPolicy

SERVICE_PATH = "/twirp/livekit.AgentDispatchService/"


async def test_request_line_headers_and_body(service: AgentDispatchService, fake: FakeLiveKit) -> None:
    req = CreateAgentDispatchRequest(
        agent_name="support",
        room="call-42",
        metadata='{"a": "ü 🚀 <b>&"}\n',
        restart_policy=JobRestartPolicy.JRP_NEVER,
        deployment="prod",
        attributes={"CamelKey": "v", "b": "ü"},
    )
    await service.create_dispatch(req)
    [rec] = fake.requests
    assert rec.method == "POST"
    assert rec.path == SERVICE_PATH + "CreateDispatch"
    assert rec.headers["Content-Type"] == "application/json"
    assert rec.headers["Accept"] == "application/json"
    assert rec.headers["User-Agent"].startswith(f"dispatch-client/{dispatch_client.__version__} ")
    assert 9000 < int(rec.headers["X-Twirp-Timeout-Ms"]) <= 10000  # the 10 s default, less what passed
    # The body is what Go's Twirp JSON client sends: proto names, defaults left out.
    assert orjson.loads(rec.body) == {
        "agent_name": "support",
        "room": "call-42",
        "metadata": '{"a": "ü 🚀 <b>&"}\n',
        "restart_policy": "JRP_NEVER",
        "deployment": "prod",
        "attributes": {"CamelKey": "v", "b": "ü"},
    }
    # ...and LiveKit's own classes parse it strictly (unknown fields rejected) to the same values.
    parsed = json_format.Parse(rec.body, pb.CreateAgentDispatchRequest())
    assert parsed == pb.CreateAgentDispatchRequest.FromString(bytes(req))


async def test_defaults_are_left_out(service: AgentDispatchService, fake: FakeLiveKit) -> None:
    await service.create_dispatch(CreateAgentDispatchRequest(room="r"))
    await service.list_dispatch("r")
    await service.get_dispatch("AD_1", "r")
    bodies = [orjson.loads(r.body) for r in fake.requests]
    assert bodies == [{"room": "r"}, {"room": "r"}, {"dispatch_id": "AD_1", "room": "r"}]
    assert [r.path.rsplit("/", 1)[1] for r in fake.requests] == [
        "CreateDispatch",
        "ListDispatch",
        "ListDispatch",
    ]


async def test_delete_body(service: AgentDispatchService, fake: FakeLiveKit) -> None:
    with pytest.raises(dispatch_client.TwirpError):
        await service.delete_dispatch("AD_abc", "room-1")
    [rec] = fake.requests
    assert rec.path == SERVICE_PATH + "DeleteDispatch"
    assert orjson.loads(rec.body) == {"dispatch_id": "AD_abc", "room": "room-1"}


async def test_token_claims(service: AgentDispatchService, fake: FakeLiveKit) -> None:
    await service.list_dispatch("room-a")
    await service.list_dispatch("room-b")
    claims = [r.claims for r in fake.requests]
    for room, c in zip(["room-a", "room-b"], claims, strict=True):
        assert c is not None
        assert c["iss"] == API_KEY
        assert c["video"] == {"roomAdmin": True, "room": room}
        assert isinstance(c["nbf"], int)
        assert isinstance(c["exp"], int)
        assert c["exp"] - c["nbf"] == 600
    auth = fake.requests[0].headers["Authorization"]
    assert auth.startswith("Bearer ")


@pytest.mark.parametrize(
    ("suffix", "prefix"),
    [
        ("", ""),
        ("/", ""),
        ("/livekit", "/livekit"),
        ("/livekit/", "/livekit"),
        ("/a/b", "/a/b"),
    ],
)
async def test_url_forms(
    session: aiohttp.ClientSession, fake: FakeLiveKit, url: str, suffix: str, prefix: str
) -> None:
    for scheme_url in (url, url.replace("http://", "ws://", 1)):
        svc = AgentDispatchService(session, scheme_url.rstrip("/") + suffix, API_KEY, API_SECRET)
        assert await svc.list_dispatch("r") == []
    assert [r.path for r in fake.requests] == [prefix + SERVICE_PATH + "ListDispatch"] * 2


def test_wss_maps_to_https(session: aiohttp.ClientSession) -> None:
    svc = AgentDispatchService(session, "wss://example.livekit.cloud/", API_KEY, API_SECRET)
    assert svc.url == "https://example.livekit.cloud"
    svc = AgentDispatchService(session, "WS://host:7880/pre/", API_KEY, API_SECRET)
    assert svc.url == "http://host:7880/pre"


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "host:7880",
        "ftp://host",
        "https://",
        "https://h/?q=1",
        "https://h/#f",
        "https://user:pw@h",
        "https://h:port",
        "http://[::1",
        "https://" + "a" * 64 + ".example",
        None,
    ],
)
def test_bad_urls(session: aiohttp.ClientSession, bad: str | None) -> None:
    with pytest.raises(ValueError, match="url"):
        AgentDispatchService(session, bad, API_KEY, API_SECRET)  # type: ignore[arg-type]


@pytest.mark.parametrize(("key", "secret"), [("", API_SECRET), (API_KEY, "")])
def test_empty_credentials(session: aiohttp.ClientSession, key: str, secret: str) -> None:
    with pytest.raises(ValueError, match="api_"):
        AgentDispatchService(session, "https://h", key, secret)


async def test_per_call_timeout_header(service: AgentDispatchService, fake: FakeLiveKit) -> None:
    await service.list_dispatch("r", timeout=2.5)
    assert 2000 < int(fake.requests[0].headers["X-Twirp-Timeout-Ms"]) <= 2500


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf")])
async def test_bad_timeouts(service: AgentDispatchService, fake: FakeLiveKit, bad: float) -> None:
    with pytest.raises(ValueError, match="timeout"):
        await service.list_dispatch("r", timeout=bad)
    assert fake.requests == []
