"""The built distribution: everything under dispatch_client, beside LiveKit's own packages."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

import dispatch_client

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the working tree, as a fresh clone has it (no venv, caches or built files)."""
    src = tmp_path_factory.mktemp("src") / "dispatch-client"
    shutil.copytree(
        ROOT,
        src,
        symlinks=True,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "*cache*", "build", "dist", "*.egg-info", "__pycache__", "api"
        ),
    )
    return src


@pytest.fixture(scope="module")
def wheel(source: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = source
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", out, src],
        check=True,
        capture_output=True,
    )
    [built] = out.glob("dispatch_client-*.whl")
    return built


def test_wheel_holds_only_dispatch_client(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    dist_info = f"dispatch_client-{dispatch_client.__version__}.dist-info/"
    assert all(n.startswith(("dispatch_client/", dist_info)) for n in names), names
    for required in (
        "dispatch_client/py.typed",
        "dispatch_client/__init__.py",
        "dispatch_client/_generated/__init__.py",
        "dispatch_client/_generated/message_pool.py",
        "dispatch_client/_generated/livekit/__init__.py",
        "dispatch_client/testing/__init__.py",
        "dispatch_client/testing/pytest_plugin.py",
        "dispatch_client/cli/__init__.py",
        "dispatch_client/cli/main.py",
        "dispatch_client/codec/__init__.py",
        "dispatch_client/_transport/call.py",
        "dispatch_client/_client/base.py",
        "dispatch_client/_auth/signer.py",
        "dispatch_client/__main__.py",
    ):
        assert required in names
    entry_points = zipfile.ZipFile(wheel).read(dist_info + "entry_points.txt").decode()
    assert "dispatch-client = dispatch_client.cli:main" in entry_points
    assert "[pytest11]\ndispatch_client.testing.pytest_plugin = dispatch_client.testing.pytest_plugin" in (
        entry_points
    )
    meta = Parser().parsestr(zipfile.ZipFile(wheel).read(dist_info + "METADATA").decode())
    assert meta["Version"] == dispatch_client.__version__
    assert meta["Requires-Python"] == ">=3.11"
    assert "betterproto2==0.10.0" in meta.get_all("Requires-Dist", [])


def test_installs_beside_livekit_api(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", target, wheel],
        check=True,
        capture_output=True,
    )
    # bin/ holds the dispatch-client console script; no package but ours lands at the top level.
    top_level = sorted(p.name for p in target.iterdir() if not p.name.endswith(".dist-info"))
    assert top_level == ["bin", "dispatch_client"]
    assert [p.name for p in (target / "bin").iterdir()] == ["dispatch-client"]
    # This venv has livekit-api and livekit-protocol installed; both must import next to us.
    probe = (
        "import dispatch_client, livekit.api, livekit.protocol.agent_dispatch as lp\n"
        "from dispatch_client import AgentDispatch\n"
        "print(dispatch_client.__file__)\n"
        "print(AgentDispatch.__module__)\n"
        "print(lp.AgentDispatch.DESCRIPTOR.full_name)\n"
        "import importlib.util\n"
        "print(importlib.util.find_spec('generated'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", probe],
        env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        check=True,
        capture_output=True,
        text=True,
    )
    file, module, upstream, generated = done.stdout.splitlines()
    assert file.startswith(str(target))
    assert module == "dispatch_client._generated.livekit"
    assert upstream == "livekit.AgentDispatch"
    assert generated == "None"


ROOM_READS = {"ListRoomsRequest", "ListRoomsResponse", "ListParticipantsRequest", "ListParticipantsResponse"}


def test_public_surface() -> None:
    from dispatch_client._generated import livekit

    # Encryption and ClientInfo exist only to scope the enums EncryptionType and ClientInfoCapability.
    # RoomService's list messages carry the client's own reads of the room store, not a call of its API.
    private = {"Encryption", "ClientInfo"} | ROOM_READS
    assert set(livekit.__all__) - private <= set(dispatch_client.__all__)
    assert not private & set(dispatch_client.__all__)
    assert set(livekit.__all__) >= ROOM_READS
    for name in dispatch_client.__all__:
        assert hasattr(dispatch_client, name), name
    assert {"AgentDispatchService", "connect", "TwirpError", "TwirpErrorCode"} <= set(dispatch_client.__all__)


def test_the_metadata_a_package_index_shows(wheel: Path) -> None:
    dist_info = f"dispatch_client-{dispatch_client.__version__}.dist-info/"
    meta = Parser().parsestr(zipfile.ZipFile(wheel).read(dist_info + "METADATA").decode())
    urls = dict(u.split(", ", 1) for u in meta.get_all("Project-URL", []))
    assert set(urls) >= {"Homepage", "Source", "Documentation", "Changelog", "Issues"}
    assert all(u.startswith(urls["Source"]) for u in urls.values())
    classifiers = meta.get_all("Classifier", [])
    assert "Development Status :: 4 - Beta" in classifiers
    assert "Programming Language :: Python :: 3.11" in classifiers
    assert "Typing :: Typed" in classifiers
    assert meta["Author"] or meta["Author-email"]
    assert meta["License-Expression"] == "Apache-2.0"
    assert meta["Description-Content-Type"] == "text/markdown"
    # The description is the README, whose links work from the index's page too.
    assert f"]({urls['Source']}/blob/main/docs/calls.md)" in meta.get_payload()


def test_the_sdist_holds_the_docs_and_not_the_built_reference(source: Path, tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "build", "--sdist", "--no-isolation", "--outdir", str(tmp_path), str(source)],
        check=True,
        capture_output=True,
    )
    [sdist] = tmp_path.glob("dispatch_client-*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    docs = {p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*.md")}
    assert docs <= names
    assert {"README.md", "CHANGELOG.md", "LICENSE", "docs/pdoc/module.html.jinja2"} <= names
    assert {"generated/livekit/__init__.py", "dispatch_client/testing/pytest_plugin.py"} <= names
    assert not [n for n in names if n.startswith("docs/api/")]
