"""The API reference built as ``make docs`` builds it, and what a reader sees on its pages."""

from __future__ import annotations

import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def doc_modules() -> tuple[str, ...]:
    """The Makefile's DOC_MODULES: the modules the API reference has a page for, in its order."""
    text = (ROOT / "Makefile").read_text().replace("\\\n", " ")
    [line] = [ln for ln in text.splitlines() if ln.startswith("DOC_MODULES :=")]
    return tuple(line.split(":=", 1)[1].split())


def build(out: Path) -> Path:
    """The reference of every DOC_MODULES module, written into ``out``."""
    subprocess.run(
        [
            sys.executable,
            "-W",
            "error",
            str(ROOT / "tools" / "api_reference.py"),
            "-o",
            str(out),
            *doc_modules(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return out


class Reading(HTMLParser):
    """A page's text as a reader sees it: no scripts, styles or source listings ("View Source")."""

    HIDDEN = ("script", "style")

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip: list[str] = []  # the tags open since a hidden element started

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = (dict(attrs).get("class") or "").split()
        hidden = self._skip or tag in self.HIDDEN or "source-listing" in classes
        if hidden and tag not in ("br", "wbr", "input", "img", "meta", "link"):
            self._skip.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if self._skip and self._skip[-1] == tag:
            self._skip.pop()

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def reader_text(page: Path) -> str:
    """The text ``page`` shows, outside source listings."""
    parser = Reading()
    parser.feed(page.read_text(encoding="utf-8"))
    return "".join(parser.parts)
