"""`make` builds the real livekit-server itself, and says what to install when it cannot."""

from __future__ import annotations

import subprocess
from pathlib import Path

from livekit_server import DEFAULT_BINARY, ROOT, VERSION


def test_without_go_make_stops_with_one_line_naming_it(tmp_path: Path) -> None:
    missing = f"{VERSION}-not-built"  # a version with no binary in the cache, so make must build
    result = subprocess.run(
        ["make", "--no-print-directory", "livekit-server", f"LIVEKIT_VERSION={missing}", f"GO={tmp_path}/go"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    first = result.stderr.splitlines()[0]
    assert first.startswith("make: go not found: install Go 1.26 or newer")
    assert not (ROOT / ".cache" / "livekit-server" / missing).exists()


def test_the_pinned_server_is_what_the_tests_run() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert f"LIVEKIT_VERSION := {VERSION}\n" in makefile
    assert DEFAULT_BINARY.is_file()
    version = subprocess.run([str(DEFAULT_BINARY), "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.strip() == f"livekit-server version {VERSION.removeprefix('v')}"
