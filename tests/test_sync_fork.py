"""dispatch_client.sync across fork: a child (os.fork, multiprocessing's fork) uses the client made
before it and exits; the parent keeps its own. Each case runs in a process of its own, so that a
hang fails the test by its timeout."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest
from local_helpers import KEY, SECRET, server_in_thread

from dispatch_client.testing import LocalDispatchServer

PARENT = """
import os, sys, time
import dispatch_client.sync as sync
from dispatch_client import CreateAgentDispatchRequest
client = sync.AgentDispatchService({url!r}, {key!r}, {secret!r})
made = client.create_dispatch(CreateAgentDispatchRequest(agent_name="a", room={room!r}))
client.list_dispatch({room!r})  # the parent's session holds a connection now

def child_calls():
    started = time.monotonic()
    found = client.list_dispatch({room!r}, timeout=1)
    seconds = round(time.monotonic() - started, 3)
    print("child", [d.id for d in found if d.id == made.id] == [made.id], seconds, flush=True)
    sys.exit(0)

def child_exits():
    sys.exit(0)
"""

WITH_OS_FORK = """
pid = os.fork()
if pid == 0:
    {child}()
for _ in range(300):  # 15 s
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        print("exit", os.waitstatus_to_exitcode(status), flush=True)
        break
    time.sleep(0.05)
else:
    os.kill(pid, 9)
    print("child hung", flush=True)
"""

WITH_MULTIPROCESSING = """
import multiprocessing
process = multiprocessing.get_context("fork").Process(target={child})
process.start()
process.join(15)
if process.is_alive():
    process.kill()
    print("child hung", flush=True)
else:
    print("exit", process.exitcode, flush=True)
"""

AFTER = """
assert client.get_dispatch(made.id, {room!r}, timeout=5) == made  # the parent's client still works
client.close()
"""


@pytest.fixture(scope="module")
def stand_in() -> Iterator[LocalDispatchServer]:
    with server_in_thread() as server:
        yield server


def run_parent(server: LocalDispatchServer, room: str, fork: str, child: str) -> list[str]:
    """The script's lines; it runs in a session of its own, killed with its children on a hang."""
    values = {"url": server.url, "key": KEY, "secret": SECRET, "room": room, "child": child}
    script = "".join(part.format(**values) for part in (PARENT, fork, AFTER))
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=40)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert (proc.returncode, err) == (0, "")
    return out.splitlines()


FORKS = {"os.fork": WITH_OS_FORK, "multiprocessing": WITH_MULTIPROCESSING}


@pytest.mark.parametrize("how", FORKS)
def test_a_forked_child_calls_with_the_parents_client_and_exits(
    stand_in: LocalDispatchServer, how: str, summary: list[str]
) -> None:
    """The child's call never answered (the loop thread is not in the child) and the child never
    exited (its exit handler waited on the same loop)."""
    lines = run_parent(stand_in, "fork-calls", FORKS[how], "child_calls")
    assert lines[-1] == "exit 0"
    [(_, found, seconds)] = [line.split() for line in lines if line.startswith("child")]
    assert found == "True"
    assert float(seconds) < 1  # its own loop and session, not the bounded wait running out
    summary.append(f"sync client after fork ({how}): the child answered in {seconds} s")


@pytest.mark.parametrize("how", FORKS)
def test_a_forked_child_that_makes_no_call_exits(stand_in: LocalDispatchServer, how: str) -> None:
    assert run_parent(stand_in, "fork-exits", FORKS[how], "child_exits")[-1] == "exit 0"
