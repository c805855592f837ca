"""The Python examples of README.md and docs/*.md, as the tests run them.

Every fenced ``python`` block is an example. One is a program (run with ``python``, against a
stand-in server given to it as ``LIVEKIT_URL``, ``LIVEKIT_API_KEY`` and ``LIVEKIT_API_SECRET``,
with a simulated worker for each ``agent_name="..."`` it names) or a test file (one that
defines ``test_`` functions: run with pytest). An HTML comment on the line before the fence
changes that:

- ``<!-- not run: REASON -->``: shown only, neither run nor type-checked (the reason says why);
- ``<!-- run with: redis -->``: run with ``REDIS_URL`` set to a real redis-server of its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```python\n(.*?)^```$", re.M | re.S)
MARKER = re.compile(r"<!--\s*(not run|run with):\s*(.*?)\s*-->\s*$")
SERVICES = {"redis"}


@dataclass(frozen=True)
class Example:
    """One fenced block: where it is, its code, and its marker (if any)."""

    page: Path
    line: int
    code: str
    not_run: str | None = None  # the reason given
    needs: frozenset[str] = frozenset()

    @property
    def name(self) -> str:
        """``docs/jobs.md:9``: the page and the line of its fence."""
        return f"{self.page.relative_to(ROOT) if self.page.is_relative_to(ROOT) else self.page}:{self.line}"

    @property
    def module(self) -> str:
        """A module name for its file: the page and the line, ``jobs_9``."""
        stem = re.sub(r"\W", "_", self.page.stem.lower())
        return f"{stem}_{self.line}"

    @property
    def is_test(self) -> bool:
        return re.search(r"^(async )?def test_", self.code, re.M) is not None

    @property
    def agents(self) -> list[str]:
        """The agent names it dispatches, for which the stand-in runs simulated workers."""
        return sorted(set(re.findall(r"""agent_name=["']([\w-]+)["']""", self.code)))


def examples(pages: list[Path] = PAGES) -> list[Example]:
    """The fenced ``python`` blocks of ``pages``, in order."""
    found = []
    for page in pages:
        text = page.read_text(encoding="utf-8")
        for m in FENCE.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            before = text[: m.start()].rstrip("\n").rsplit("\n", 1)[-1]
            marker = MARKER.search(before)
            not_run, needs = None, frozenset[str]()
            if marker and marker.group(1) == "not run":
                not_run = marker.group(2)
            elif marker:
                needs = frozenset(s.strip() for s in marker.group(2).split(","))
                assert needs <= SERVICES, f"{page.name}:{line}: unknown service in {marker.group(0)}"
            found.append(Example(page, line, m.group(1), not_run, needs))
    return found
