"""dispatch-client create --wait: the job when a worker runs it, one clear line when none does."""

from __future__ import annotations

import json
import time

from cli_process import run_cli
from livekit_server import RealServer, unique_room


async def test_no_worker_ends_at_the_wait_with_one_line(livekit: RealServer) -> None:
    room = unique_room("cli-wait")
    started = time.monotonic()
    code, out, err = await run_cli(
        livekit, "create", "--room", room, "--agent", "nobody-runs-this", "--wait", "1.5", "--json"
    )
    elapsed = time.monotonic() - started
    assert code == 1
    dispatch = json.loads(out.splitlines()[0])  # the dispatch was made, and is shown first
    assert dispatch["room"] == room
    assert err.splitlines() == [
        f"Error: deadline_exceeded: no job for dispatch {dispatch['id']} within 1.5 s: no worker took it: "
        "no agent came: is an agent worker running, registered under the dispatch's agent_name?"
    ]
    assert elapsed < 1.5 + 5  # the wait, plus starting Python twice over


async def test_wait_takes_an_optional_number(livekit: RealServer) -> None:
    code, _, err = await run_cli(livekit, "create", "--room", "r", "--agent", "a", "--wait", "0")
    assert code == 2
    assert "--wait" in err
