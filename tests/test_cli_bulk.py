"""dispatch-client create --rooms-file: a room per line, JSON per room, a summary, exit statuses,
and the progress bar on a terminal (a pseudo-terminal, with the command as a real process)."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from cli_process import run_cli
from click.testing import CliRunner, Result
from livekit_server import RealServer, unique_room
from local_helpers import KEY, SECRET, server_in_thread

from dispatch_client import AgentDispatchService
from dispatch_client.cli import main
from dispatch_client.testing import LocalDispatchServer

AGENT = "dialer"


@pytest.fixture(scope="module")
def running() -> Iterator[LocalDispatchServer]:
    with server_in_thread(not_running_wait=0.05) as server:
        yield server


@pytest.fixture
def env(running: LocalDispatchServer) -> dict[str, str]:
    return {"LIVEKIT_URL": running.url, "LIVEKIT_API_KEY": KEY, "LIVEKIT_API_SECRET": SECRET}


def cli(env: dict[str, str], *args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env, input=stdin, catch_exceptions=False)


def rooms_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "rooms.txt"
    path.write_text(text)
    return str(path)


def of_agent(server: LocalDispatchServer, room: str) -> list[str]:
    return [d.id for d in server.rooms().get(room, []) if d.agent_name == AGENT]


def test_json_is_one_object_per_room_in_the_files_order(
    tmp_path: Path, env: dict[str, str], running: LocalDispatchServer
) -> None:
    path = rooms_file(tmp_path, "# a campaign\nbulk-json-1\n\n   bulk-json-2  \n# done\nbulk-json-3\n")
    result = cli(env, "create", "--rooms-file", path, "--agent", AGENT, "--rate", "200", "--json")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["room"] for line in lines] == ["bulk-json-1", "bulk-json-2", "bulk-json-3"]
    for line in lines:
        assert (line["outcome"], line["ok"], line["attempts"], line["error"]) == ("dispatched", True, 1, None)
        assert of_agent(running, line["room"]) == [line["dispatch_id"]]
    assert result.stderr.startswith("3 rooms in ")
    assert "3 dispatched; " in result.stderr
    assert "starts/s (limit 200)" in result.stderr
    assert "room/s" not in result.stderr  # no bar: stderr is not a terminal

    again = cli(env, "create", "--rooms-file", path, "--agent", AGENT, "--json")  # run again: nothing new
    assert [json.loads(line)["dispatch_id"] for line in again.stdout.splitlines()] == [
        line["dispatch_id"] for line in lines
    ]


def test_rooms_from_stdin_and_a_summary_in_text(env: dict[str, str], running: LocalDispatchServer) -> None:
    result = cli(env, "create", "--rooms-file", "-", "--agent", AGENT, stdin="bulk-stdin-1\nbulk-stdin-2\n")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("2 rooms in ")
    assert result.stdout.rstrip().endswith("2 dispatched")
    assert result.stderr == ""
    assert [len(of_agent(running, f"bulk-stdin-{i}")) for i in (1, 2)] == [1, 1]


def test_rooms_without_their_agent_exit_1_with_a_line_each(env: dict[str, str]) -> None:
    result = cli(
        env, "create", "--rooms-file", "-", "--agent", AGENT, "--wait", "0.2", stdin="bulk-w-1\nbulk-w-2\n"
    )
    assert result.exit_code == 1
    room_lines = result.stderr.splitlines()[:2]
    assert [line.split(": ", 2)[:2] for line in room_lines] == [
        ["bulk-w-1", "no_agent"],
        ["bulk-w-2", "no_agent"],
    ]
    assert "no worker took it" in room_lines[0]
    assert "2 no_agent" in result.stdout
    assert result.stderr.splitlines()[-1] == "Error: 2 of 2 rooms failed"

    as_json = cli(
        env, "create", "--rooms-file", "-", "--agent", AGENT, "--wait", "0.2", "--json", stdin="bulk-w-3\n"
    )
    assert as_json.exit_code == 1
    [line] = [json.loads(text) for text in as_json.stdout.splitlines()]
    assert (line["outcome"], line["ok"], line["error"]["wait_outcome"]) == ("no_agent", False, "no_job")


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (("--room", "r", "--rooms-file", "-"), "a\n", "give --room or --rooms-file, not both"),
        ((), None, "missing --room (or --rooms-file)"),
        (("--rooms-file", "-"), "a\n# b\nb\na\n", "room 'a' is given twice (lines 1 and 4)"),
        (("--rooms-file", "-"), "\n# nothing\n", "no rooms in it"),
        (("--rooms-file", "-", "--rate", "0"), "a\n", "--rate"),
        (("--rooms-file", "-", "--concurrency", "0"), "a\n", "--concurrency"),
    ],
)
def test_usage_errors_exit_2(
    env: dict[str, str], args: tuple[str, ...], stdin: str | None, message: str
) -> None:
    result = cli(env, "create", "--agent", AGENT, *args, stdin=stdin)
    assert result.exit_code == 2
    assert message in result.stderr


def read_until_exit(proc: subprocess.Popen[bytes], master: int, timeout: float = 60) -> bytes:
    """Everything written to the pseudo-terminal until the process has exited and it is drained."""
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the terminal's last writer is gone
                break
            if not chunk:
                break
            data += chunk
        elif proc.poll() is not None:
            break
    return data


def test_the_progress_bar_shows_on_a_terminal(
    tmp_path: Path, env: dict[str, str], running: LocalDispatchServer
) -> None:
    path = rooms_file(tmp_path, "".join(f"bulk-tty-{i}\n" for i in range(40)))
    command = [sys.executable, "-m", "dispatch_client", "create", "--rooms-file", path, "--agent", AGENT]
    master, slave = os.openpty()  # its size is never set (0 x 0): the bar is still shown
    try:
        with (tmp_path / "stdout").open("wb") as stdout:
            proc = subprocess.Popen(
                [*command, "--rate", "80"],
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=slave,
                env={**os.environ, **env},
            )
        os.close(slave)
        shown = read_until_exit(proc, master).decode(errors="replace")
        assert proc.wait(timeout=30) == 0
    finally:
        os.close(master)
    assert "40/40" in shown
    assert "100%|" in shown
    assert "█" in shown
    assert "room/s" in shown
    assert (tmp_path / "stdout").read_text().startswith("40 rooms in ")  # the summary, on stdout
    assert all(len(of_agent(running, f"bulk-tty-{i}")) == 1 for i in range(40))


async def test_against_the_real_server(livekit: RealServer, tmp_path: Path) -> None:
    rooms = [unique_room("cli-bulk") for _ in range(20)]
    path = rooms_file(tmp_path, "\n".join(rooms) + "\n")
    code, out, err = await run_cli(
        livekit, "create", "--rooms-file", path, "--agent", AGENT, "--rate", "40", "--json"
    )
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["room"] for line in lines] == rooms
    async with aiohttp.ClientSession() as session:
        service = AgentDispatchService(session, livekit.url, livekit.api_key, livekit.api_secret)
        for line in lines:
            listed = await service.list_dispatch(line["room"])
            assert [d.id for d in listed if d.agent_name == AGENT] == [line["dispatch_id"]]
    assert "20 dispatched" in err
