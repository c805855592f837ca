"""The command's one error line says what a room that is not running and an unknown outcome mean."""

from __future__ import annotations

import asyncio
import sys

from fault_proxy import Fault, FaultProxy, every
from livekit_server import RealServer, unique_room


async def dispatch_client(url: str, livekit: RealServer, *args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dispatch_client",
        *args,
        "--url",
        url,
        "--api-key",
        livekit.api_key,
        "--api-secret",
        livekit.api_secret,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, err.decode()


async def test_a_room_that_is_not_running(livekit: RealServer) -> None:
    code, err = await dispatch_client(livekit.url, livekit, "list", "--room", unique_room("cli-none"))
    assert code == 1
    assert err.splitlines() == [
        "Error: unavailable: twirp error unknown: no response from servers (HTTP 503) -- the room is not "
        "running (never created, or closed when it stayed empty)"
    ]


async def test_a_create_whose_outcome_is_unknown(livekit: RealServer) -> None:
    room = unique_room("cli-lost")
    async with FaultProxy(livekit.url, every(1, Fault.DROP_AFTER)) as proxy:
        code, err = await dispatch_client(proxy.url, livekit, "create", "--room", room, "--agent", "a")
    assert code == 1
    [line] = err.splitlines()
    assert line.startswith("Error: unavailable: CreateDispatch: ")
    assert line.endswith(
        " -- it may have been done all the same: check with `dispatch-client list` before repeating it"
    )
    assert proxy.by_rpc["CreateDispatch"] == 1  # never sent again: every check was lost too
