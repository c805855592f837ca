"""Join tokens: participant_token's claims and checks, the stand-in's simulated join, join_token's
guard (async, blocking and the CLI), against the stand-in."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import jwt
import pytest
from click.testing import CliRunner
from local_helpers import KEY, SECRET, server_in_thread

from dispatch_client import (
    AgentDispatchService,
    CreateAgentDispatchRequest,
    JobRestartPolicy,
    JobStatus,
    RoomAgentDispatch,
)
from dispatch_client import sync as blocking
from dispatch_client.cli import main
from dispatch_client.testing import LocalDispatchServer
from dispatch_client.tokens import participant_token

NOW = 1_800_000_000


def claims_of(token: str) -> dict[str, object]:
    decoded: dict[str, object] = jwt.decode(
        token, SECRET, algorithms=["HS256"], options={"verify_nbf": False}
    )
    return decoded


def test_the_claims_of_a_join_token() -> None:
    agent = RoomAgentDispatch(
        agent_name="support",
        metadata='{"ticket": 7}',
        restart_policy=JobRestartPolicy.JRP_NEVER,
        attributes={"tier_level": "gold"},
        thread_id="AT_1",
    )
    token = participant_token(
        KEY,
        SECRET,
        identity="alice",
        room="call-1",
        agents=[agent, RoomAgentDispatch(agent_name="notes")],
        name="Alice",
        metadata="m",
        attributes={"a": "1"},
        ttl=120,
        clock=lambda: NOW + 0.7,
    )
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    assert claims_of(token) == {
        "iss": KEY,
        "sub": "alice",
        "nbf": NOW,
        "exp": NOW + 120,
        "name": "Alice",
        "metadata": "m",
        "attributes": {"a": "1"},
        "video": {
            "roomJoin": True,
            "room": "call-1",
            "canPublish": True,
            "canSubscribe": True,
            "canPublishData": True,
        },
        # As Go's protojson writes a RoomConfiguration: lowerCamelCase, defaults left out; map keys kept.
        "roomConfig": {
            "agents": [
                {
                    "agentName": "support",
                    "metadata": '{"ticket": 7}',
                    "restartPolicy": "JRP_NEVER",
                    "attributes": {"tier_level": "gold"},
                    "threadId": "AT_1",
                },
                {"agentName": "notes"},
            ]
        },
    }


def test_without_agents_there_is_no_room_config() -> None:
    claims = claims_of(participant_token(KEY, SECRET, identity="u", room="r", clock=lambda: NOW))
    assert set(claims) == {"iss", "sub", "nbf", "exp", "video"}


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"identity": ""}, "identity must be a non-empty string"),
        ({"room": 5}, "room must be a non-empty string"),
        ({"agents": RoomAgentDispatch(agent_name="a")}, "agents must be a sequence"),
        ({"agents": ["a"]}, "agents[0] must be a RoomAgentDispatch"),
        ({"agents": [RoomAgentDispatch(agent_name="a", deployment="has_underscore")]}, "reserved character"),
        ({"agents": [RoomAgentDispatch(agent_name="a", deployment="x" * 65)]}, "longer than 64 bytes"),
        ({"agents": [RoomAgentDispatch(agent_name="a", attributes={"k": 1})]}, "attributes must map"),  # type: ignore[dict-item]
        ({"ttl": 5}, "ttl must be at least 10"),
        ({"ttl": True}, "ttl must be a positive number"),
        ({"name": 3}, "name must be a string or None"),
        ({"attributes": {"k": None}}, "attributes must map strings to strings"),
    ],
)
def test_bad_arguments_are_value_errors(kwargs: dict[str, object], says: str) -> None:
    args: dict[str, object] = {"identity": "u", "room": "r", **kwargs}
    with pytest.raises(ValueError, match=says.replace("[", r"\[")):
        participant_token(KEY, SECRET, **args)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="api_secret"):
        participant_token(KEY, "", identity="u", room="r")


@pytest.fixture
async def stand_in() -> AsyncIterator[LocalDispatchServer]:
    async with LocalDispatchServer(KEY, SECRET, not_running_wait=0.05) as server:
        yield server


def join_of(server: LocalDispatchServer, identity: str, room: str, *agents: RoomAgentDispatch) -> str:
    return participant_token(
        KEY, SECRET, identity=identity, room=room, agents=agents, clock=lambda: server._clock() / 1e9
    )


async def test_the_stand_in_dispatches_a_tokens_agents_only_when_the_join_starts_the_room(
    stand_in: LocalDispatchServer,
) -> None:
    first = stand_in.join(join_of(stand_in, "a", "r1", RoomAgentDispatch(agent_name="bot", metadata="m")))
    assert [(d.agent_name, d.metadata) for d in first] == [("bot", "m")]  # and no default dispatch
    again = stand_in.join(join_of(stand_in, "b", "r1", RoomAgentDispatch(agent_name="other")))
    assert [d.id for d in again] == [first[0].id]  # a running room ignores the token's agents
    assert [d.agent_name for d in stand_in.join(join_of(stand_in, "c", "r2"))] == [""]
    # Signed by hand: snake_case keys are read too, and an agent whose deployment the server
    # refuses is skipped without a word (participant_token refuses to write it).
    now = int(stand_in._clock() / 1e9)
    claims = {
        "iss": KEY,
        "sub": "d",
        "nbf": now,
        "exp": now + 60,
        "video": {"roomJoin": True, "room": "r3"},
        "roomConfig": {
            "agents": [{"agent_name": "bot", "deployment": "bad_one"}, {"agent_name": "ok", "x": 1}]
        },
    }
    assert [d.agent_name for d in stand_in.join(jwt.encode(claims, SECRET, algorithm="HS256"))] == ["ok"]
    assert stand_in.leave("r1", "a")
    assert not stand_in.leave("r1", "a")
    with pytest.raises(ValueError, match="refuses the join"):
        stand_in.join(participant_token(KEY, "another-secret-" * 3, identity="x", room="r1"))


async def test_the_stand_ins_agent_runs_for_a_join(stand_in: LocalDispatchServer) -> None:
    stand_in.add_worker("bot", delay=0.01)
    made = stand_in.join(join_of(stand_in, "a", "r", RoomAgentDispatch(agent_name="bot")))
    async with stand_in.connect() as svc:
        job = await svc.wait_for_job(made[0].id, "r", timeout=5)
    assert job.state is not None
    assert job.state.status is JobStatus.JS_RUNNING


async def test_join_token_leaves_a_new_room_to_the_token(stand_in: LocalDispatchServer) -> None:
    async with stand_in.connect() as svc:
        token = await svc.join_token("a", "fresh", agents=[RoomAgentDispatch(agent_name="bot", metadata="m")])
    assert stand_in.rooms() == {}  # nothing was made: the join starts the room with the agent
    assert [(d.agent_name, d.metadata) for d in stand_in.join(token)] == [("bot", "m")]


async def test_join_token_dispatches_into_a_running_room_once(stand_in: LocalDispatchServer) -> None:
    async with stand_in.connect() as svc:
        await svc.create_dispatch(CreateAgentDispatchRequest(agent_name="other", room="busy"))
        agents = [RoomAgentDispatch(agent_name="bot", metadata="m", attributes={"k": "v"})]
        token = await svc.join_token("a", "busy", agents=agents)
        await svc.join_token("b", "busy", agents=agents)  # the agent is there: nothing more is made
        listed = stand_in.join(token)
    bots = [d for d in listed if d.agent_name == "bot"]
    assert [(d.metadata, d.attributes) for d in bots] == [("m", {"k": "v"})]
    assert sorted(d.agent_name for d in listed) == ["", "bot", "other"]


async def test_join_token_checks_before_anything_is_sent(stand_in: LocalDispatchServer) -> None:
    async with stand_in.connect() as svc:
        with pytest.raises(ValueError, match="identity"):
            await svc.join_token("", "r", agents=[RoomAgentDispatch(agent_name="bot")])
    token = participant_token(KEY, SECRET, identity="u", room="r")
    async with AgentDispatchService.open(stand_in.url, token=token) as presigned:
        with pytest.raises(ValueError, match="pre-signed token"):
            await presigned.join_token("a", "r")
    assert stand_in.rooms() == {}


@pytest.fixture(scope="module")
def threaded() -> Iterator[LocalDispatchServer]:
    with server_in_thread(not_running_wait=0.05) as server:
        yield server


def test_the_blocking_client_and_the_cli(threaded: LocalDispatchServer) -> None:
    with blocking.AgentDispatchService(threaded.url, KEY, SECRET) as client:
        client.create_dispatch(CreateAgentDispatchRequest(agent_name="other", room="sync-busy"))
        client.join_token("a", "sync-busy", agents=[RoomAgentDispatch(agent_name="bot")])
        assert sorted(d.agent_name for d in client.list_dispatch("sync-busy")) == ["", "bot", "other"]
    env = {"LIVEKIT_URL": threaded.url, "LIVEKIT_API_KEY": KEY, "LIVEKIT_API_SECRET": SECRET}
    runner = CliRunner()
    args = [
        "token",
        "--room",
        "cli-busy",
        "--identity",
        "u",
        "--agent",
        "bot",
        "--agent",
        "notes",
        "--ttl",
        "60",
    ]
    client_args = ["create", "--room", "cli-busy", "--agent", "other"]
    assert runner.invoke(main, client_args, env=env, catch_exceptions=False).exit_code == 0
    made = runner.invoke(main, args, env=env, catch_exceptions=False)
    assert made.exit_code == 0, made.output
    claims = claims_of(made.stdout.strip())
    assert claims["sub"] == "u"
    assert claims["exp"] == claims["nbf"] + 60  # type: ignore[operator]
    assert claims["roomConfig"] == {"agents": [{"agentName": "bot"}, {"agentName": "notes"}]}
    listed = runner.invoke(main, ["list", "--room", "cli-busy", "--json"], env=env, catch_exceptions=False)
    assert '"bot"' in listed.stdout
    assert '"notes"' in listed.stdout
    # Without --agent nothing is sent: no URL needed.
    offline = runner.invoke(
        main, ["token", "--room", "r", "--identity", "u", "--api-key", KEY, "--api-secret", SECRET], env={}
    )
    assert offline.exit_code == 0
    assert "roomConfig" not in claims_of(offline.stdout.strip())
    short = runner.invoke(main, ["token", "--room", "r", "--identity", "u", "--ttl", "5"], env=env)
    assert short.exit_code == 2
