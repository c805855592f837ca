"""The CLI's -v/--verbose: the client's decisions (-v) and every attempt (-vv) on stderr."""

from __future__ import annotations

import socket

from click.testing import CliRunner, Result
from local_helpers import KEY, SECRET

from dispatch_client.cli import main


def refusing_url() -> str:
    with socket.socket() as s:  # a port nothing listens on: each attempt is refused
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def run(*args: str) -> Result:
    env = {"LIVEKIT_URL": refusing_url(), "LIVEKIT_API_KEY": KEY, "LIVEKIT_API_SECRET": SECRET}
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def test_verbose_shows_the_retries_and_very_verbose_each_attempt() -> None:
    quiet = run("list", "--room", "r")
    assert quiet.exit_code != 0
    assert "dispatch-client: INFO" not in quiet.stderr
    one = run("-v", "list", "--room", "r")
    infos = [
        line for line in one.stderr.splitlines() if line.startswith("dispatch-client: INFO dispatch_client:")
    ]
    assert infos
    assert "ListDispatch failed" in infos[0]
    assert "attempt 2 of" in infos[0]
    assert "DEBUG" not in one.stderr
    two = run("-vv", "list", "--room", "r")
    assert "dispatch-client: DEBUG dispatch_client: ListDispatch attempt 1: no answer" in two.stderr
    assert SECRET not in one.stderr + two.stderr
    again = run("list", "--room", "r")  # -v of an earlier run does not stay on
    assert "dispatch-client: INFO" not in again.stderr
