"""Every Python example of README.md and docs/*.md runs as written and passes ``mypy --strict``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from doc_examples import ROOT, Example, examples
from livekit_cluster import Redis
from local_helpers import server_in_thread
from mypy import api

ALL = examples()
RUN = [e for e in ALL if e.not_run is None]
# The blocks shown only, each with the reason its marker gives: keep these few.
NOT_RUN: set[str] = set()


def test_the_examples_are_found() -> None:
    assert len(ALL) >= 12
    assert {e.name for e in ALL if e.not_run is not None} == NOT_RUN
    assert all(e.not_run for e in ALL if e.not_run is not None), "a not run marker gives its reason"


def test_a_marker_on_the_line_before_a_fence_says_how_it_runs(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "Text.\n\n<!-- not run: needs a LiveKit Cloud project -->\n```python\nprint(1)\n```\n\n"
        "<!-- run with: redis -->\n```python\nprint(2)\n```\n\n```python\ndef test_x() -> None: ...\n```\n"
        "```\nnot python\n```\n"
    )
    shown, redis, test = examples([page])
    assert (shown.line, shown.not_run, shown.needs) == (4, "needs a LiveKit Cloud project", frozenset())
    assert (redis.line, redis.not_run, redis.needs, redis.is_test) == (9, None, frozenset({"redis"}), False)
    assert (test.not_run, test.is_test, test.code) == (None, True, "def test_x() -> None: ...\n")


@pytest.fixture
def example_env() -> dict[str, str]:
    """What a program example runs with: no LIVEKIT_* of the shell, the tests' Python path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIVEKIT_", "REDIS_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "tests"), *sys.path])
    return env


def run_program(example: Example, path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    with server_in_thread() as server:
        for agent in example.agents:
            server.add_worker(agent, delay=0.05)
        env |= {
            "LIVEKIT_URL": server.url,
            "LIVEKIT_API_KEY": server.api_key,
            "LIVEKIT_API_SECRET": server.api_secret,
        }
        return subprocess.run(
            [sys.executable, "-W", "error", str(path)],
            env=env,
            cwd=path.parent,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


@pytest.mark.parametrize("example", RUN, ids=lambda e: e.name)
def test_the_example_runs(example: Example, tmp_path: Path, example_env: dict[str, str]) -> None:
    path = tmp_path / f"{'test_' if example.is_test else ''}{example.module}.py"
    path.write_text(example.code, encoding="utf-8")
    redis = Redis(tmp_path) if "redis" in example.needs else None
    try:
        if redis is not None:
            with redis.client() as r:
                r.set("{dispatch-client}:keys-kept", "1")  # as a Redis up for long has it
            example_env["REDIS_URL"] = f"redis://{redis.address}/0"
        if example.is_test:
            # As docs/stand-in.md asks of a user's pytest configuration.
            (tmp_path / "pytest.ini").write_text("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
            done = subprocess.run(
                [sys.executable, "-m", "pytest", "-q", "-W", "error", "-p", "no:cacheprovider", str(path)],
                env=example_env,
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
        else:
            done = run_program(example, path, example_env)
    finally:
        if redis is not None:
            redis.close()
    assert done.returncode == 0, f"{example.name} failed:\n{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stderr


def test_every_example_passes_mypy_strict(tmp_path: Path) -> None:
    files = []
    for example in RUN:
        path = tmp_path / f"{example.module}.py"
        path.write_text(example.code, encoding="utf-8")
        files.append(str(path))
    stdout, stderr, status = api.run(
        ["--strict", "--no-error-summary", "--cache-dir", str(ROOT / ".mypy_cache"), *files]
    )
    # Each error at its line of the page: path:N is line N of the block, after the fence's line.
    by_file = {f"{tmp_path}/{e.module}.py": e for e in RUN}

    def where(m: re.Match[str]) -> str:
        example = by_file[m.group(1)]
        return f"{example.page.relative_to(ROOT)}:{example.line + int(m.group(2))}:"

    errors = re.sub(r"^(\S+\.py):(\d+):", where, stdout, flags=re.M)
    assert (status, errors, stderr) == (0, "", "")
