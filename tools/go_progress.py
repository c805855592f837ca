"""Progress of a ``go install -v`` on its output (stdin): a line per phase, not one per module.

    go install -v ... 2>&1 | python3 tools/go_progress.py livekit-server [--quiet]

Go prints ``go: downloading MODULE VERSION`` for each module it fetches, then the import path of
each package as it compiles it. This prints the first of each, then one line every ``EVERY`` of
them with the time so far, and a summary at the end; anything else (an error) is passed through
as it is (not with ``--quiet``: the Makefile shows them, or says in one line why the release
cannot be built, once the build failed). Standard library only: it runs before the project's
virtualenv exists.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Iterable
from typing import TextIO

EVERY = {"downloading": 50, "compiling": 100}
PACKAGE = re.compile(r"^[\w.-]+(?:/[\w.~+-]+)*$")


def progress(lines: Iterable[str], out: TextIO, name: str, *, quiet: bool = False) -> int:
    """Write the progress of ``lines`` to ``out``; returns how many lines were passed through
    (written unless ``quiet``: the caller then shows them itself when the build fails)."""
    started = time.monotonic()
    counts = {"downloading": 0, "compiling": 0}
    passed = 0

    def say(phase: str, what: str) -> None:
        took = time.monotonic() - started
        out.write(
            f"  {name}: {phase} {counts[phase]} {'modules' if phase == 'downloading' else 'packages'}"
            f" ({took:.0f} s; now {what})\n"
        )
        out.flush()

    for raw in lines:
        line = raw.rstrip("\n")
        if line.startswith("go: downloading "):
            phase, what = "downloading", line.removeprefix("go: downloading ")
        elif PACKAGE.match(line):
            phase, what = "compiling", line
        else:
            if not quiet:
                out.write(line + "\n")
                out.flush()
            passed += 1
            continue
        counts[phase] += 1
        if counts[phase] == 1 or counts[phase] % EVERY[phase] == 0:
            say(phase, what)
    took = time.monotonic() - started
    out.write(
        f"  {name}: {counts['downloading']} modules downloaded, {counts['compiling']} packages compiled"
        f" in {took:.0f} s\n"
    )
    return passed


def main(argv: list[str]) -> int:
    name = argv[1] if len(argv) > 1 else "go"
    progress(sys.stdin, sys.stdout, name, quiet="--quiet" in argv[2:])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
