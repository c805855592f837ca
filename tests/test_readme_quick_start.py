"""The README's quick start, as a new user runs it: the stand-in from its command line, then the
quick start's code with the README's settings, reaching "agent running"."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from doc_examples import ROOT, examples

README = (ROOT / "README.md").read_text(encoding="utf-8")


def readme_settings() -> dict[str, str]:
    """The LIVEKIT_* variables of the README's export line."""
    [line] = re.findall(r"^export (LIVEKIT_URL=.*)$", README, re.M)
    return dict(pair.split("=", 1) for pair in line.split())


def test_the_quick_start_reaches_a_running_agent_with_the_stand_in_alone(tmp_path: Path) -> None:
    # The command on the line after the settings.
    [serve_line] = re.findall(r"^export LIVEKIT_URL=.*\n(dispatch-client serve .*)$", README, re.M)
    assert serve_line == "dispatch-client serve --worker support --log"
    settings = readme_settings()
    assert settings["LIVEKIT_URL"] == "http://127.0.0.1:7880"  # serve's default address
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEKIT_")} | settings
    # As the README says, but on a free port, so that tests running at once do not collide.
    args = [*serve_line.split()[1:], "--port", "0", "--json"]
    server = subprocess.Popen(
        [sys.executable, "-m", "dispatch_client", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        announced = json.loads(server.stdout.readline())
        quick_start = examples()[0]
        assert quick_start.name.startswith("README.md:")  # the first block: the quick start
        script = tmp_path / "quick_start.py"
        script.write_text(quick_start.code, encoding="utf-8")
        done = subprocess.run(
            [sys.executable, "-W", "error", str(script)],
            env=env | {"LIVEKIT_URL": announced["url"]},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        server.send_signal(signal.SIGINT)
        _, log = server.communicate(timeout=30)
    assert done.returncode == 0, done.stderr
    running, listed = done.stdout.splitlines()
    assert re.fullmatch(r"agent running: AJ_\w{12}", running)
    assert listed == "['', 'support']"  # livekit-server's default dispatch, then the agent's
    assert done.stderr == ""
    # The request log: the create, the polls of the wait, the list and the delete, one line each.
    rpcs = re.findall(r"^\d\d:\d\d:\d\d POST /twirp/livekit\.AgentDispatchService/(\w+) 200 ", log, re.M)
    assert rpcs[0] == "CreateDispatch"
    assert rpcs[-1] == "DeleteDispatch"
    assert "room=call-42 agent=support" in log
    assert settings["LIVEKIT_API_SECRET"] not in log
    assert server.returncode == 0
