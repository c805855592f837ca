"""The command's one error line says what a room that is not running and an unknown outcome mean."""

from __future__ import annotations

from cli_process import run_cli
from fault_proxy import Fault, FaultProxy, every
from livekit_server import RealServer, unique_room


async def test_a_room_that_is_not_running(livekit: RealServer) -> None:
    code, _, err = await run_cli(livekit, "list", "--room", unique_room("cli-none"))
    assert code == 1
    assert err.splitlines() == [
        "Error: unavailable: twirp error unknown: no response from servers (HTTP 503): no node runs the "
        "room (it never started or it closed; in a cluster, its node may be down or Redis away)"
    ]


async def test_a_create_whose_outcome_is_unknown(livekit: RealServer) -> None:
    room = unique_room("cli-lost")
    async with FaultProxy(livekit.url, every(1, Fault.DROP_AFTER)) as proxy:
        code, _, err = await run_cli(livekit, "create", "--room", room, "--agent", "a", url=proxy.url)
    assert code == 1
    [line] = err.splitlines()
    assert line.startswith("Error: unavailable: CreateDispatch: ")
    assert line.endswith(
        " -- it may have been done all the same: check with `dispatch-client list` before repeating it"
    )
    assert proxy.by_rpc["CreateDispatch"] == 1  # never sent again: every check was lost too
