"""The dispatch-client command: click's runner for breadth, real processes for the entry points."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from fake_livekit import unused_port
from local_helpers import KEY, SECRET, server_in_thread

from dispatch_client.cli import main
from dispatch_client.cli.demo import run_demo
from dispatch_client.testing import LocalDispatchServer

SCRIPT = Path(sys.executable).with_name("dispatch-client")


@pytest.fixture(scope="module")
def running() -> Iterator[LocalDispatchServer]:
    # livekit-server waits 3 s before its answer for a room that is not running; the same answer sooner.
    with server_in_thread(not_running_wait=0.05) as server:
        yield server


@pytest.fixture
def env(running: LocalDispatchServer) -> dict[str, str]:
    return {"LIVEKIT_URL": running.url, "LIVEKIT_API_KEY": KEY, "LIVEKIT_API_SECRET": SECRET}


def cli(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def test_create_get_list_delete_as_json(env: dict[str, str]) -> None:
    created = cli(
        env,
        *("create", "--room", "cli-1", "--agent", "bot", "--metadata", '{"x": 1}'),
        *("--attribute", "a=1", "--attribute", "b=x=y", "--deployment", "blue", "--restart-policy", "never"),
        "--json",
    )
    assert created.exit_code == 0, created.output
    dispatch = json.loads(created.stdout)
    assert (dispatch["agent_name"], dispatch["room"], dispatch["metadata"]) == ("bot", "cli-1", '{"x": 1}')
    assert (dispatch["attributes"], dispatch["deployment"]) == ({"a": "1", "b": "x=y"}, "blue")
    assert dispatch["restart_policy"] == "JRP_NEVER"
    assert dispatch["state"]["deleted_at"] == "0"

    got = cli(env, "get", "--room", "cli-1", "--id", dispatch["id"], "--json")
    assert (got.exit_code, json.loads(got.stdout)) == (0, dispatch)
    listed = cli(env, "list", "--room", "cli-1", "--json")
    assert listed.exit_code == 0
    [default, again] = json.loads(listed.stdout)["agent_dispatches"]  # livekit-server's default dispatch
    assert (default["agent_name"], again) == ("", dispatch)
    deleted = cli(env, "delete", "--room", "cli-1", "--id", dispatch["id"], "--json")
    assert deleted.exit_code == 0
    assert json.loads(deleted.stdout) == dispatch  # as it was: deleted_at stays "0"
    assert json.loads(cli(env, "list", "--room", "cli-1", "--json").stdout) == {"agent_dispatches": [default]}


def test_tables_by_default(env: dict[str, str]) -> None:
    created = cli(env, "create", "--room", "cli-2", "--agent", "bot", "--metadata", "line\nbreak")
    assert created.exit_code == 0
    fields = dict(
        line.split(None, 1) for line in created.stdout.splitlines() if not line.startswith("restart")
    )
    assert fields["agent"] == "bot"
    assert fields["metadata"] == "line\\nbreak"
    assert "restart policy  on-failure" in created.stdout
    listed = cli(env, "list", "--room", "cli-2")
    header, *rows = listed.stdout.splitlines()
    assert header.split() == ["ID", "AGENT", "DEPLOYMENT", "RESTART", "CREATED", "JOBS", "METADATA"]
    [row] = [r for r in rows if r.startswith(fields["id"])]
    assert row.split()[:4] == [fields["id"], "bot", "-", "on-failure"]


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("get", "--room", "cli-3", "--id", "AD_nothere0000"), "not_found"),
        (("delete", "--room", "cli-3", "--id", "AD_nothere0000"), "not_found"),
        (("list", "--room", "never-used"), "unavailable"),
        (("create", "--room", "cli-3", "--agent", "a", "--deployment", "a_b"), "invalid_argument"),
        (
            ("list", "--room", "cli-3", "--api-secret", "a-wrong-secret-that-is-long-enough-0123456789"),
            "unauthenticated",
        ),
        # The development secret is short: pyjwt's warning about it is not a second line.
        (("list", "--room", "cli-3", "--api-secret", "secret"), "unauthenticated"),
    ],
)
def test_server_errors_exit_1_with_one_line(env: dict[str, str], args: tuple[str, ...], code: str) -> None:
    cli(env, "create", "--room", "cli-3", "--agent", "seed")
    result = cli(env, *args)
    assert result.exit_code == 1
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith(f"Error: {code}: ")


def test_a_short_secret_of_ones_own_is_warned_about(env: dict[str, str]) -> None:
    # Only the development secret is short by design; a short secret of one's own is worth a line.
    cli(env, "create", "--room", "cli-4", "--agent", "seed")
    result = cli(env, "list", "--room", "cli-4", "--api-secret", "short-secret")
    assert result.exit_code == 1
    warning, error = result.stderr.splitlines()
    assert warning.startswith("warning: The HMAC key is 12 bytes long")
    assert error.startswith("Error: unauthenticated: ")


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("create", "--agent", "a"), "--room"),
        (("create", "--room", "r", "--agent", "a", "--attribute", "novalue"), "KEY=VALUE"),
        (("create", "--room", "r", "--agent", "a", "--restart-policy", "always"), "always"),
        (("list", "--room", ""), "room_name"),
        (("list", "--room", "r", "--url", "ftp://example.com"), "url"),
        (("list", "--room", "r", "--timeout", "0"), "timeout"),
        (("frobnicate",), "frobnicate"),
        (("serve", "--host", "", "--port", "0"), "host"),
    ],
)
def test_usage_errors_exit_2(env: dict[str, str], args: tuple[str, ...], says: str) -> None:
    result = cli(env, *args)
    assert result.exit_code == 2
    assert says in result.stderr
    assert "Traceback" not in result.output


def test_settings_come_from_flags_or_the_environment(running: LocalDispatchServer) -> None:
    missing = cli({}, "list", "--room", "r")
    assert (missing.exit_code, "LIVEKIT_URL" in missing.stderr) == (2, True)
    flags = ("--url", running.url, "--api-key", KEY, "--api-secret", SECRET)
    created = cli({}, "create", "--room", "cli-4", "--agent", "a", *flags, "--json")
    assert created.exit_code == 0
    partial = cli({"LIVEKIT_URL": running.url, "LIVEKIT_API_KEY": KEY}, "list", "--room", "cli-4")
    assert (partial.exit_code, "LIVEKIT_API_SECRET" in partial.stderr) == (2, True)


def test_every_command_has_help(env: dict[str, str]) -> None:
    top = cli(env, "--help")
    for command in ("create", "list", "get", "delete", "serve", "demo"):
        assert command in top.stdout
        result = cli(env, command, "--help")
        assert result.exit_code == 0
        assert "--json" in result.stdout
        if command != "serve":
            assert "LIVEKIT_URL" in result.stdout


def test_demo_against_a_given_server(env: dict[str, str], running: LocalDispatchServer) -> None:
    result = cli(env, "demo", "--room", "demo-cli", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert (doc["server"], doc["room"]) == (running.url, "demo-cli")
    assert [s["step"] for s in doc["steps"]] == [
        "create",
        "create",
        "list",
        "get",
        "delete",
        "list",
        "delete",
    ]
    # Each list holds livekit-server's default dispatch of the room too.
    assert len(doc["steps"][2]["result"]["agent_dispatches"]) == 3
    assert len(doc["steps"][5]["result"]["agent_dispatches"]) == 2
    assert [d.agent_name for d in running.rooms()["demo-cli"]] == [""]  # it cleaned up after itself


def test_demo_starts_its_own_server() -> None:
    result = cli({}, "demo")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Started a local dispatch server at http://127.0.0.1:" in out
    for step in ("1. Create", "2. Create", "3. List", "4. Get", "5. Delete", "6. List", "7. Clean up"):
        assert f"==> {step}" in out
    assert out.rstrip().endswith("Done.")


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    for name in ("LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET"):
        if env is None or name not in env:
            full_env.pop(name, None)
    return subprocess.run(args, env=full_env, capture_output=True, text=True, timeout=60, check=False)


def test_python_m_and_the_console_script(env: dict[str, str]) -> None:
    created = run(
        sys.executable, "-m", "dispatch_client", "create", "--room", "proc", "--agent", "a", "--json", env=env
    )
    assert (created.returncode, created.stderr) == (0, "")
    dispatch = json.loads(created.stdout)
    listed = run(str(SCRIPT), "list", "--room", "proc", "--json", env=env)
    assert listed.returncode == 0
    assert json.loads(listed.stdout)["agent_dispatches"][1:] == [dispatch]
    assert run(str(SCRIPT), "--version").stdout.startswith("dispatch-client, version ")


def test_connection_refused_is_one_line_and_exit_1() -> None:
    flags = ("--url", f"http://127.0.0.1:{unused_port()}", "--api-key", KEY, "--api-secret", SECRET)
    result = run(str(SCRIPT), "list", "--room", "r", *flags)
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("Error: unavailable: ")
    assert "Traceback" not in result.stderr


def test_serve_with_the_development_defaults() -> None:
    proc = subprocess.Popen(
        [str(SCRIPT), "serve", "--port", "0", "--json"],
        env={k: v for k, v in os.environ.items() if not k.startswith("LIVEKIT_")},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        announced = json.loads(proc.stdout.readline())
        assert announced["api_key"] == "devkey"
        dev = {"LIVEKIT_URL": announced["url"], "LIVEKIT_API_KEY": "devkey", "LIVEKIT_API_SECRET": "secret"}
        created = run(str(SCRIPT), "create", "--room", "served", "--agent", "a", "--json", env=dev)
        assert created.returncode == 0, created.stderr
        assert json.loads(created.stdout)["room"] == "served"
        assert created.stderr == ""  # nothing about the development secret being short
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert "Traceback" not in err


@pytest.mark.parametrize("failing_step", [2, 4, 6])
async def test_demo_deletes_what_it_created_when_a_step_fails(failing_step: int) -> None:
    class StepFailed(Exception):
        pass

    def echo(line: str) -> None:
        if line.startswith(f"\n==> {failing_step}."):
            raise StepFailed(line)

    async with LocalDispatchServer(KEY, SECRET) as server, server.connect() as service:
        with pytest.raises(StepFailed):
            await run_demo(service, "demo-fails", echo)
        assert [d.agent_name for d in await service.list_dispatch("demo-fails")] == [""]


# Runs the command with SIGINT at its default, as a terminal's Ctrl-C finds it: a process started
# with SIGINT ignored (a background job of a shell script, nohup) keeps ignoring it, and so did
# the command under such a pytest, running to its --timeout.
DEFAULT_SIGINT = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv(sys.argv[1], sys.argv[1:])"
)


def test_ctrl_c_during_a_call_exits_130() -> None:
    """Ctrl-C printed click's "Aborted!" and exited 1."""
    silent = socket.create_server(("127.0.0.1", 0))
    silent.settimeout(60)
    port = silent.getsockname()[1]
    flags = ("--url", f"http://127.0.0.1:{port}", "--api-key", KEY, "--api-secret", SECRET)
    proc = subprocess.Popen(
        [sys.executable, "-c", DEFAULT_SIGINT, str(SCRIPT), "list", "--room", "r", "--timeout", "60", *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    conn: socket.socket | None = None
    try:
        conn, _ = silent.accept()
        conn.recv(1)  # the request is sent: the call waits for its answer
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:  # nothing of it is left for later tests, whatever failed
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        if conn is not None:
            conn.close()
        silent.close()
    assert proc.returncode == 130
    assert err.strip() == "Interrupted."


def test_a_repeated_attribute_key_is_a_usage_error(env: dict[str, str]) -> None:
    """The last of two values for one key was kept silently."""
    result = CliRunner().invoke(
        main, ["create", "--room", "r", "--agent", "a", "--attribute", "k=1", "--attribute", "k=2"], env=env
    )
    assert result.exit_code == 2
    assert "attribute 'k' is given twice" in result.output


def test_serve_describes_its_json_and_hints_at_commands_that_work() -> None:
    """Serve's --json was described as proto3 JSON; its hint listed a room that no create
    had started, which a server imitating livekit-server v1.13.5 answers with a 503."""
    help_text = CliRunner().invoke(main, ["serve", "--help"]).output
    assert "proto3" not in help_text
    assert '{"url": ..., "api_key": ...}' in help_text
    proc = subprocess.Popen(
        [str(SCRIPT), "serve", "--port", "0"],
        env={k: v for k, v in os.environ.items() if not k.startswith("LIVEKIT_")},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(4)]
        [export] = [line for line in lines if line.startswith("Try: export ")]
        hinted = lines[lines.index(export) + 1].strip()
        shell = f"{export.removeprefix('Try: ').strip()}; {hinted}"
        path = f"{SCRIPT.parent}{os.pathsep}{os.environ['PATH']}"
        done = subprocess.run(["bash", "-c", shell], env={"PATH": path}, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert "my-agent" in done.stdout
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)


def test_a_secret_that_is_not_utf8_is_a_usage_error_naming_the_variable(env: dict[str, str]) -> None:
    """From the shell: exit 2 with a line naming LIVEKIT_API_SECRET, not the value."""
    secret = "tail-of-the-secret-" + b"\xff".decode("utf-8", "surrogateescape")
    result = CliRunner().invoke(main, ["list", "--room", "r"], env={**env, "LIVEKIT_API_SECRET": secret})
    assert result.exit_code == 2
    assert "LIVEKIT_API_SECRET" in result.output
    assert "tail-of-the-secret" not in result.output


def test_serve_with_a_simulated_worker_and_a_request_log() -> None:
    proc = subprocess.Popen(
        [str(SCRIPT), "serve", "--port", "0", "--json", "--worker", "support:0.05", "--log"],
        env={k: v for k, v in os.environ.items() if not k.startswith("LIVEKIT_")},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        announced = json.loads(proc.stdout.readline())
        dev = {"LIVEKIT_URL": announced["url"], "LIVEKIT_API_KEY": "devkey", "LIVEKIT_API_SECRET": "secret"}
        created = run(str(SCRIPT), "create", "--room", "served", "--agent", "support", "--wait", "5", env=dev)
        assert created.returncode == 0, created.stderr
        assert "JS_RUNNING" in created.stdout
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0
    lines = [ln for ln in err.splitlines() if " POST " in ln]
    assert re.fullmatch(
        r"\d\d:\d\d:\d\d POST /twirp/livekit\.AgentDispatchService/CreateDispatch 200 [\d.]+ ms "
        r"id=AD_\w{12} room=served agent=support",
        lines[0],
    )
    # The wait's polls: gets of the dispatch, each listing it.
    polls = [ln for ln in lines if "/ListDispatch " in ln]
    assert polls
    assert all(" 200 " in ln and ln.endswith(" dispatches=1") for ln in polls)
    assert "secret" not in err.lower().replace("api secret", "")


@pytest.mark.parametrize("spec", ["support:soon", ":1", "support:-1"])
def test_serve_refuses_a_bad_worker(spec: str) -> None:
    result = run(str(SCRIPT), "serve", "--port", "0", "--worker", spec)
    assert result.returncode == 2
    assert "--worker" in result.stderr
