"""The package's layout: the import graph of its own modules, read with ``ast``, has no cycle.

Every ``import`` and ``from ... import`` counts, at any depth (one inside a function is still a
dependency, only a later one), except those under ``if TYPE_CHECKING:``, which never run.
``from package import name`` is an edge to the submodule when ``name`` is one, else to the
package. The parent packages Python initialises on the way are not edges: they are not what a
module chose to depend on.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import dispatch_client

PACKAGE = Path(dispatch_client.__file__).parent
# Where a cycle fails this test: every cycle through a module under one of these (all of them).
CHECKED = ("dispatch_client",)

Graph = dict[str, set[str]]


def modules(root: Path) -> dict[str, tuple[Path, bool]]:
    """Every module under the package at ``root``: dotted name -> (file, is a package)."""
    found: dict[str, tuple[Path, bool]] = {}
    # os.walk, to follow the link that _generated is (Path.rglob does not, before 3.13).
    files = [
        Path(d, f) for d, _, names in os.walk(root, followlinks=True) for f in names if f.endswith(".py")
    ]
    for path in sorted(files):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        found[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return found


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If) and _type_checking_only(node):
            yield from _imports(ast.Module(body=node.orelse, type_ignores=[]))
        else:
            yield from _imports(node)


def import_graph(root: Path) -> Graph:
    """Module -> the package's own modules it imports."""
    mods = modules(root)
    graph: Graph = {}
    for name, (path, is_package) in mods.items():
        package = name if is_package else name.rpartition(".")[0]
        deps: set[str] = set()
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                deps.update(alias.name for alias in node.names if alias.name in mods)
                continue
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                if f"{source}.{alias.name}" in mods:
                    deps.add(f"{source}.{alias.name}")
                elif source in mods:
                    deps.add(source)
        graph[name] = deps - {name}
    return graph


def cycles(graph: Graph) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's, without recursion)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    work: list[tuple[str, Iterator[str]]] = []  # the depth-first path, each with its edges left

    def enter(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        work.append((v, iter(sorted(graph.get(v, ())))))

    for start in sorted(graph):
        if start in index:
            continue
        enter(start)
        while work:
            v, edges = work[-1]
            w = next(edges, None)
            if w is not None:
                if w not in index:
                    enter(w)
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                component: list[str] = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    component.append(w)
                    if w == v:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_graph_is_read_from_every_module() -> None:
    graph = import_graph(PACKAGE)
    assert "dispatch_client" in graph
    assert "dispatch_client.codec.decoder" in graph
    assert "dispatch_client.codec.fast" in graph["dispatch_client.codec.decoder"]
    assert "dispatch_client._generated.livekit" in graph["dispatch_client.codec.plan"]
    assert "dispatch_client.codec" in graph["dispatch_client._transport.call"]


def test_no_import_cycle_goes_through_the_checked_modules() -> None:
    checked = [c for c in cycles(import_graph(PACKAGE)) if any(m.startswith(CHECKED) for m in c)]
    assert checked == []


def test_the_codec_imports_nothing_of_the_package_outside_it_but_generated_code() -> None:
    graph = import_graph(PACKAGE)
    outside = {
        (m, d)
        for m, deps in graph.items()
        if m.startswith("dispatch_client.codec")
        for d in deps
        if not d.startswith(("dispatch_client.codec", "dispatch_client._generated"))
    }
    assert outside == set()


def _package(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / "pkg" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "pkg"


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (
            {"__init__.py": "", "a.py": "from . import b\n", "b.py": "from .a import x\n"},
            [["pkg.a", "pkg.b"]],
        ),
        (  # an import inside a function still counts
            {"__init__.py": "", "a.py": "import pkg.b\n", "b.py": "def f():\n    from .sub import c\n"}
            | {"sub/__init__.py": "", "sub/c.py": "from ..a import y\n"},
            [["pkg.a", "pkg.b", "pkg.sub.c"]],
        ),
        (  # a package importing its submodule, which imports a sibling: no cycle
            {"__init__.py": "from .a import x\n", "a.py": "from . import b\n", "b.py": "X = 1\n"},
            [],
        ),
        (  # imports only for the type checker never run
            {"__init__.py": "", "a.py": "from . import b\n"}
            | {"b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import a\n"},
            [],
        ),
    ],
)
def test_cycles_are_found_wherever_the_import_stands(
    tmp_path: Path, files: dict[str, str], expected: list[list[str]]
) -> None:
    assert cycles(import_graph(_package(tmp_path, files))) == expected
