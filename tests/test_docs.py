"""The documentation: docstrings of the public API, the pdoc pages' links, the Markdown pages' links."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pdoc.doc
import pdoc.extract
import pytest
import tomllib
from reference_pages import ROOT, build, doc_modules, reader_text

PAGES = doc_modules()
# The modules whose names users import (a plugin module is named to pytest, not imported).
PUBLIC = tuple(name for name in PAGES if not name.endswith("pytest_plugin"))

# Not hand-written here: the generated messages and what they and TwirpError inherit.
FOREIGN = ("dispatch_client._generated", "betterproto2", "builtins", "enum")


def undocumented(doc: pdoc.doc.Module | pdoc.doc.Class, seen: set[str]) -> list[str]:
    """Public members of ``doc`` without a docstring, recursing into classes.

    Classes, functions and methods (inherited ones too) always count; ``__init__`` is described
    by its class's docstring. A variable or property counts where a docstring can be written for
    it in a public module: assigned in that module's own source, or in a class defined there (an
    imported constant is described by its module's docstring, a field of a class from a private
    module by its class's).
    """
    missing = []
    for member in doc.members.values():
        if member.name.startswith("_") or member.taken_from[0].startswith(FOREIGN):
            continue
        if member.fullname in seen:
            continue
        seen.add(member.fullname)
        if isinstance(member, pdoc.doc.Variable) and not (
            member.taken_from[0] in PUBLIC
            and (
                isinstance(doc, pdoc.doc.Class) or member.name in pdoc.doc_ast.walk_tree(doc.obj).annotations
            )
        ):
            continue
        if not member.docstring.strip():
            missing.append(member.fullname)
        if isinstance(member, pdoc.doc.Class):
            missing += undocumented(member, seen)
    return missing


@pytest.mark.parametrize("name", PUBLIC)
def test_every_public_name_has_a_docstring(name: str) -> None:
    module = pdoc.doc.Module(pdoc.extract.load_module(name))
    assert module.docstring.strip(), f"{name} has no module docstring"
    assert undocumented(module, set()) == []


@pytest.fixture(scope="module")
def api_pages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The API reference as ``make docs`` builds it, into a directory of this test's."""
    return build(tmp_path_factory.mktemp("api"))


class Anchors(HTMLParser):
    """The ids a page defines and the hrefs it links to (scripts are not parsed for tags)."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for key, value in attrs:
            if key in ("id", "name") and value:
                self.ids.add(value)
            elif key == "href" and value:
                self.hrefs.append(value)


def parse(page: Path) -> Anchors:
    parser = Anchors()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser


def test_the_api_reference_has_a_page_per_module(api_pages: Path) -> None:
    for name in PAGES:
        assert (api_pages / (name.replace(".", "/") + ".html")).is_file(), name
    assert (api_pages / "index.html").is_file()


def test_the_service_page_shows_what_it_inherits_from_its_private_base(api_pages: Path) -> None:
    ids = parse(api_pages / "dispatch_client.html").ids
    for name in ("open", "aclose", "url", "create_dispatch", "wait_for_job", "ensure_dispatch"):
        assert f"AgentDispatchService.{name}" in ids


def test_every_local_link_of_the_api_reference_resolves(api_pages: Path) -> None:
    pages = {page: parse(page) for page in api_pages.rglob("*.html")}
    broken = []
    checked = 0
    for page, anchors in pages.items():
        for href in anchors.hrefs:
            url = urlsplit(href)
            if url.scheme or url.netloc:
                continue  # pdoc.dev and other sites: not ours to check
            target = (page.parent / unquote(url.path)).resolve() if url.path else page
            if target not in pages:
                broken.append(f"{page.relative_to(api_pages)}: {href} (no such page)")
            elif url.fragment and url.fragment not in pages[target].ids:
                broken.append(f"{page.relative_to(api_pages)}: {href} (no such anchor)")
            checked += 1
    assert broken == []
    assert checked > 500  # the pages do link to each other


def slug(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading."""
    text = re.sub(r"[`*_\[\]()]|<[^>]+>", lambda m: "_" if m.group() == "_" else "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def headings(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    return {slug(m.group(1)) for m in re.finditer(r"^#+ (.+)$", text, re.M)}


MARKDOWN = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]


def source_url() -> str:
    """The repository's URL, declared once: pyproject.toml's project.urls Source."""
    return str(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]["Source"])


def links(page: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    return re.findall(r"\]\(([^)\s]+)\)", text)


def in_repository(href: str) -> str | None:
    """The path of the repository a link under the Source URL points at (``blob/main/docs/x.md#y``
    is ``docs/x.md#y``); None for a link elsewhere."""
    base = source_url().rstrip("/") + "/"
    m = re.fullmatch(re.escape(base) + r"(?:blob|tree)/main/(.*)", href)
    return m.group(1) if m else None


def test_the_readme_links_absolutely_as_a_package_index_shows_it() -> None:
    # The README is the package's description on an index, where a relative link leads nowhere.
    readme = links(ROOT / "README.md")
    assert [h for h in readme if not urlsplit(h).scheme and not h.startswith("#")] == []
    assert sum(in_repository(h) is not None for h in readme) >= 20
    assert source_url() in (ROOT / "README.md").read_text()  # the clone and git install lines


@pytest.mark.parametrize("page", MARKDOWN, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_of_the_markdown_pages_resolves(page: Path) -> None:
    broken = []
    for href in links(page):
        url = urlsplit(in_repository(href) or href)
        if url.scheme or url.netloc:
            continue
        # A link under the Source URL is checked as the repository path it names.
        here = ROOT if in_repository(href) is not None else page.parent
        target = (here / url.path).resolve() if url.path else page
        if not target.exists():
            broken.append(f"{href} (no such file)")
        elif url.fragment and target.suffix == ".md" and url.fragment not in headings(target):
            broken.append(f"{href} (no such heading)")
    assert broken == []


def test_the_slugs_are_githubs() -> None:
    assert slug("One dispatch per agent: `ensure_dispatch`") == "one-dispatch-per-agent-ensure_dispatch"
    assert slug("Where JSON loses: large responses") == "where-json-loses-large-responses"
    assert slug("Why this and not `livekit-api`") == "why-this-and-not-livekit-api"


# What no page may show a reader: the options as a private TypedDict, private names (a dotted path
# through a private module, the private base class), and what pdoc leaves when a docstring's markup
# is not what it reads (a `~` of Sphinx's short form, a paragraph of `::`, a factory's repr).
FAULTS = {
    "**options": re.compile(r"\*\*options"),
    "private path": re.compile(r"\b[A-Za-z]\w*(?:\.\w+)*\._[a-z]\w*"),
    "private class": re.compile(r"\b(?:ServiceBase|Options|LoopThread|Transport)\b"),
    "Sphinx ~": re.compile(r"~dispatch_client"),
    "stray ::": re.compile(r"(?:^|\s)::(?:\s|$)"),
    "<factory>": re.compile(r"<factory>"),
    "rst role": re.compile(r":(?:class|meth|func|mod|attr|data):"),
}


def test_no_page_shows_options_private_names_or_markup_faults(api_pages: Path) -> None:
    found = []
    pages = sorted(api_pages.rglob("*.html"))
    assert len(pages) == len(PAGES) + 1  # and index.html
    for page in pages:
        text = reader_text(page)
        for fault, pattern in FAULTS.items():
            found += [
                f"{page.relative_to(api_pages)}: {fault}: {m.group()!r}" for m in pattern.finditer(text)
            ]
    assert found == []


def test_every_parameter_list_names_one_parameter_an_item(api_pages: Path) -> None:
    # pdoc reads a :param name up to the last colon of its line: a colon in the text breaks it.
    html = (api_pages / "dispatch_client.html").read_text(encoding="utf-8")
    names = re.findall(r"<li><strong>(.*?)</strong>", html)
    assert {"url", "coordinator"} <= set(names)
    assert [n for n in names if not n.isidentifier()] == []


def test_the_messages_have_a_page_of_their_own(api_pages: Path) -> None:
    import dispatch_client.messages

    root = parse(api_pages / "dispatch_client.html")
    messages = parse(api_pages / "dispatch_client" / "messages.html")
    assert set(dispatch_client.messages.__all__) <= messages.ids
    assert not set(dispatch_client.messages.__all__) & root.ids
    # The package's page links to them there, as every other page does.
    assert "dispatch_client/messages.html#AgentDispatch" in root.hrefs
    assert "#AgentDispatch" not in root.hrefs
    assert "../dispatch_client.html#Job" not in parse(api_pages / "dispatch_client" / "sync.html").hrefs
