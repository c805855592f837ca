"""The dispatch-client command, as processes, against the real livekit-server; `make run`'s demo too."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from e2e_helpers import DISPATCH_ID, WRONG_SECRET, is_default_dispatch, one_attempt
from livekit_server import RealServer, unique_room

SCRIPT = Path(sys.executable).with_name("dispatch-client")  # what `make run` runs


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The command with only the given LIVEKIT_* settings in its environment."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("LIVEKIT_")}
    return subprocess.run(
        [str(SCRIPT), *args],
        env={**full, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def flags(livekit: RealServer, secret: str | None = None) -> tuple[str, ...]:
    return ("--url", livekit.url, "--api-key", livekit.api_key, "--api-secret", secret or livekit.api_secret)


def env_of(livekit: RealServer) -> dict[str, str]:
    return {
        "LIVEKIT_URL": livekit.url,
        "LIVEKIT_API_KEY": livekit.api_key,
        "LIVEKIT_API_SECRET": livekit.api_secret,
    }


def ok_json(result: subprocess.CompletedProcess[str]) -> Any:
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    return json.loads(result.stdout)


def failed(result: subprocess.CompletedProcess[str]) -> str:
    """The one line a failed command prints, after checking it exits 1 with nothing on stdout."""
    assert (result.returncode, result.stdout) == (1, ""), result
    [line] = result.stderr.splitlines()
    return line


def test_the_four_calls_with_flags_as_json(livekit: RealServer) -> None:
    room = unique_room("cli-json")
    created = ok_json(
        run(
            *("create", "--room", room, "--agent", "cli-agent", "--metadata", '{"n": 1} é'),
            *(
                "--attribute",
                "a=1",
                "--attribute",
                "b=x=y",
                "--deployment",
                "blue",
                "--restart-policy",
                "never",
            ),
            *("--json", *flags(livekit)),
        )
    )
    assert DISPATCH_ID.fullmatch(created["id"])
    assert (created["agent_name"], created["room"], created["metadata"]) == ("cli-agent", room, '{"n": 1} é')
    assert (created["attributes"], created["deployment"]) == ({"a": "1", "b": "x=y"}, "blue")
    assert (created["restart_policy"], created["state"]["deleted_at"]) == ("JRP_NEVER", "0")
    assert int(created["state"]["created_at"]) > 0

    listed = ok_json(run("list", "--room", room, "--json", *flags(livekit)))["agent_dispatches"]
    assert created in listed
    [default] = [d for d in listed if d["id"] != created["id"]]
    assert (default["agent_name"], default["restart_policy"]) == ("", "JRP_ON_FAILURE")

    assert ok_json(run("get", "--room", room, "--id", created["id"], "--json", *flags(livekit))) == created
    # The delete answer is the dispatch as it was: livekit-server does not set deleted_at.
    assert ok_json(run("delete", "--room", room, "--id", created["id"], "--json", *flags(livekit))) == created
    gone = failed(run("get", "--room", room, "--id", created["id"], *flags(livekit)))
    assert gone == f"Error: not_found: room {room!r} has no dispatch {created['id']!r}"


def test_settings_from_the_environment_and_tables(livekit: RealServer) -> None:
    room = unique_room("cli-table")
    env = env_of(livekit)
    created = run("create", "--room", room, "--agent", "tabled", "--attribute", "tier=gold", env=env)
    assert (created.returncode, created.stderr) == (0, "")
    fields = dict(line.split(None, 1) for line in created.stdout.splitlines() if " " in line.strip())
    assert DISPATCH_ID.fullmatch(fields["id"])
    assert (fields["agent"], fields["room"], fields["attributes"]) == ("tabled", room, "tier=gold")
    assert (fields["deleted"], fields["jobs"]) == ("-", "0")

    listed = run("list", "--room", room, env=env)
    assert listed.returncode == 0
    header, *rows = listed.stdout.splitlines()
    assert header.split()[:2] == ["ID", "AGENT"]
    assert sorted(row.split()[1] for row in rows) == ["-", "tabled"]  # the default dispatch has no agent
    assert {row.split()[0] for row in rows} >= {fields["id"]}

    unknown = failed(run("delete", "--room", room, "--id", "AD_nothere2345", env=env))
    assert unknown == "Error: not_found: twirp error unknown: dispatch ID not found (HTTP 404)"
    refused = failed(run("create", "--room", room, "--agent", "a", "--deployment", "a_b", env=env))
    assert refused == (
        "Error: invalid_argument: twirp error unknown: deployment contains reserved character '_' (HTTP 400)"
    )


def test_python_m_with_a_wrong_secret(livekit: RealServer) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "dispatch_client", "list", "--room", "r", *flags(livekit, WRONG_SECRET)],
        env={k: v for k, v in os.environ.items() if not k.startswith("LIVEKIT_")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert failed(result) == (
        "Error: unauthenticated: the server did not accept the token: check the API key and secret "
        "(invalid token: [redacted], error: token signature is invalid: signature is invalid) (HTTP 401)"
    )


async def test_the_demo_against_the_real_server(livekit: RealServer, session: aiohttp.ClientSession) -> None:
    """`make run` with LIVEKIT_* set: every step, the server's default dispatch explained, ours cleaned up."""
    room = unique_room("cli-demo")
    result = run("demo", "--room", room, env=env_of(livekit))
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    out = result.stdout
    assert out.startswith(f"==> Using the LiveKit server at {livekit.url}\n")
    for step in ("1. Create", "2. Create", "3. List", "4. Get", "5. Delete", "6. List", "7. Clean up"):
        assert f"\n==> {step}" in out
    assert out.rstrip().endswith("Done.")
    svc = one_attempt(session, livekit.url, livekit.api_key, livekit.api_secret)
    [left] = await svc.list_dispatch(room)  # only what the server made for the new room
    assert is_default_dispatch(left, room)
    note = f"({left.id}, with no agent name, is the server's default dispatch for a new room)"
    assert out.count(note) == 2  # under both lists


@pytest.mark.parametrize("runs", [2])
async def test_the_demo_as_json_twice_in_one_room(
    livekit: RealServer, session: aiohttp.ClientSession, runs: int
) -> None:
    room = unique_room("cli-demo-json")
    for _ in range(runs):  # the second run finds the room running, with the default dispatch still in it
        doc = ok_json(run("demo", "--room", room, "--json", env=env_of(livekit)))
        assert (doc["server"], doc["room"]) == (livekit.url, room)
        steps = doc["steps"]
        assert [s["step"] for s in steps] == ["create", "create", "list", "get", "delete", "list", "delete"]
        greeter, support = steps[0]["result"], steps[1]["result"]
        first_list = steps[2]["result"]["agent_dispatches"]
        assert sorted(d["agent_name"] for d in first_list) == ["", "greeter", "support"]
        assert greeter in first_list
        assert support in first_list
        assert steps[3]["result"] == greeter
        assert steps[4]["result"] == support
        assert sorted(d["agent_name"] for d in steps[5]["result"]["agent_dispatches"]) == ["", "greeter"]
        assert steps[6]["result"] == greeter
    svc = one_attempt(session, livekit.url, livekit.api_key, livekit.api_secret)
    assert [d.agent_name for d in await svc.list_dispatch(room)] == [""]
