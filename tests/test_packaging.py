"""The built distribution: everything under dispatch_client, beside LiveKit's own packages."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

import dispatch_client

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("src") / "dispatch-client"
    shutil.copytree(
        ROOT,
        src,
        symlinks=True,
        ignore=shutil.ignore_patterns(".git", ".venv", "*cache*", "build", "*.egg-info", "__pycache__"),
    )
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
