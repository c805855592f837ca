"""Build the API reference (``make docs``): pdoc with the templates of docs/pdoc, then two fixes.

    python -W error tools/api_reference.py -o docs/api dispatch_client dispatch_client.sync ...

pdoc documents the generated messages where ``dispatch_client`` exposes them; here they have a
page of their own, ``dispatch_client.messages`` (the template leaves them off the package's
page), so every link to one goes there. A field's default made by a factory (every field of a
generated message) reads ``= ...``, as in a stub, instead of ``<factory>``.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import pdoc
import pdoc.render

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "docs" / "pdoc"
MESSAGES_PAGE = "dispatch_client/messages.html"
FACTORY = (
    '<span class="o">&lt;</span><span class="n">factory</span><span class="o">&gt;</span>',
    "&lt;factory&gt;",
)


def message_names() -> set[str]:
    """The names the messages page documents."""
    import dispatch_client.messages

    return set(dispatch_client.messages.__all__)


def retarget(html: str, page: Path, out: Path, names: set[str]) -> str:
    """``html`` of ``page`` with its links to a message on the package's page sent to the messages page."""
    depth = len(page.relative_to(out).parts) - 1
    to_root = "../" * depth
    own = page.relative_to(out).as_posix()

    def repl(m: re.Match[str]) -> str:
        target, fragment = m.group(1), m.group(2)
        if fragment.split(".")[0] not in names:
            return m.group(0)
        if target == "" and own != "dispatch_client.html":
            return m.group(0)  # a page's own anchor (the messages page links to itself)
        if own == MESSAGES_PAGE:
            return f'href="#{fragment}"'
        return f'href="{to_root}{MESSAGES_PAGE}#{fragment}"'

    return re.sub(r'href="((?:\.\./)*(?:dispatch_client\.html)?)#([\w.]+)"', repl, html)


def build(out: Path, modules: list[str]) -> list[Path]:
    """Render ``modules`` into ``out``; returns the pages written."""
    pdoc.render.configure(docformat="restructuredtext", template_directory=TEMPLATES)
    pdoc.pdoc(*modules, output_directory=out)
    names = message_names()
    pages = sorted(out.rglob("*.html"))
    for page in pages:
        html = page.read_text(encoding="utf-8")
        for text in FACTORY:
            html = html.replace(text, "...")
        page.write_text(retarget(html, page, out, names), encoding="utf-8")
    return pages


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output-directory", type=Path, required=True)
    parser.add_argument("modules", nargs="+")
    args = parser.parse_args(argv)
    pages = build(args.output_directory, args.modules)
    print(f"api reference: {len(pages)} pages in {args.output_directory}/ (open index.html)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
