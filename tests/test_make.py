"""`make` builds the real livekit-server itself, and says what to install when it cannot."""

from __future__ import annotations

import re
import shutil
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


def test_a_release_with_pion_forks_fails_in_one_line(tmp_path: Path) -> None:
    # What Go answers for v1.13.6 to v1.13.11 (tried once for v1.13.11: the replace directives), faked.
    go = tmp_path / "go"
    go.write_text(
        "#!/bin/sh\necho 'go: github.com/livekit/livekit-server/cmd/server@v1.13.11:' >&2\n"
        "echo '\tThe go.mod file for the module providing named packages contains one or' >&2\n"
        "echo '\tmore replace directives. It must not contain directives that would cause' >&2\nexit 1\n"
    )
    go.chmod(0o755)
    version = "v1.13.11-faked"
    result = subprocess.run(
        ["make", "--no-print-directory", "livekit-server", f"LIVEKIT_VERSION={version}", f"GO={go}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    # make's own "*** ... Error 1" line (make[1] when make runs this test) is not ours.
    ours = [line for line in result.stderr.splitlines() if not re.match(r"make(\[\d+\])?: \*\*\*", line)]
    assert ours == [
        f"make: livekit-server {version} cannot be built here: its go.mod replaces pion modules with"
        " LiveKit's forks, which go install refuses and the Go module proxy answers with 403 (the tests"
        " use v1.13.5; docs/newer-servers.md)"
    ]
    assert not (ROOT / ".cache" / "livekit-server" / version).exists()


MAKE = ("make", "--no-print-directory", "-s")
FAKE_GO = """#!/bin/sh
# Prints what `go install -v` prints on a first build, then installs a stand-in binary.
for n in $(seq 1 120); do echo "go: downloading example.com/module$n v1.0.$n" >&2; done
for n in $(seq 1 230); do echo "example.com/module$n/pkg" >&2; done
printf '#!/bin/sh\\necho built\\n' > "$GOBIN/server" && chmod +x "$GOBIN/server"
"""


def test_the_livekit_server_build_says_what_it_does_and_shows_progress(tmp_path: Path) -> None:
    go = tmp_path / "go"
    go.write_text(FAKE_GO)
    go.chmod(0o755)
    version = f"{VERSION}-progress-{tmp_path.name}"  # a version with no binary yet, so make builds
    built = ROOT / ".cache" / "livekit-server" / version
    try:
        result = subprocess.run(
            [
                "make",
                "--no-print-directory",
                "-s",
                "livekit-server",
                f"LIVEKIT_VERSION={version}",
                f"GO={go}",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        assert lines[0].startswith(f"livekit-server: building {version} into ")
        assert "the first time takes 5 to 10 minutes" in lines[1]
        progress = [ln.strip() for ln in lines if ln.startswith("  livekit-server: ")]
        assert [p.split(" (")[0] for p in progress[:-1]] == [
            "livekit-server: downloading 1 modules",
            "livekit-server: downloading 50 modules",
            "livekit-server: downloading 100 modules",
            "livekit-server: compiling 1 packages",
            "livekit-server: compiling 100 packages",
            "livekit-server: compiling 200 packages",
        ]
        assert progress[-1].startswith("livekit-server: 120 modules downloaded, 230 packages compiled in ")
        assert lines[-1] == f"livekit-server: built .cache/livekit-server/{version}/livekit-server"
        assert (built / "livekit-server").is_file()
    finally:
        shutil.rmtree(built, ignore_errors=True)


def test_a_failed_go_build_fails_make_and_shows_its_error(tmp_path: Path) -> None:
    go = tmp_path / "go"
    go.write_text(
        '#!/bin/sh\necho "go: downloading example.com/a v1" >&2\necho "go: example.com/a: bad" >&2\nexit 1\n'
    )
    go.chmod(0o755)
    version = f"{VERSION}-failing-{tmp_path.name}"
    try:
        result = subprocess.run(
            [
                "make",
                "--no-print-directory",
                "-s",
                "livekit-server",
                f"LIVEKIT_VERSION={version}",
                f"GO={go}",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode != 0
        assert "go: example.com/a: bad" in result.stderr  # the build log, once it failed
        assert not (ROOT / ".cache" / "livekit-server" / version / "livekit-server").exists()
    finally:
        shutil.rmtree(ROOT / ".cache" / "livekit-server" / version, ignore_errors=True)
