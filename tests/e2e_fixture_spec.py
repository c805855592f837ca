"""What tools/capture_livekit_fixtures.py sends to the real server; the tests reading its files use it too."""

from __future__ import annotations

from pathlib import Path

from livekit_server import VERSION

FIXTURE_DIR = Path(__file__).resolve().parent / "fixtures" / f"livekit-server-{VERSION}"
MANIFEST = FIXTURE_DIR / "manifest.json"

ROOM = "fixture-room"
# A room no create ever named: the server's per-room calls find no server running it.
NOT_RUNNING_ROOM = "fixture-room-never-created"
UNKNOWN_ID = "AD_nothere2345"
UNKNOWN_KEY = "APInosuchkey"
DEADLINE_MS = 500

# The CreateDispatch request of create.json, in proto3 JSON, every field set.
CREATE_REQUEST: dict[str, object] = {
    "agent_name": "fixture-agent",
    "room": ROOM,
    "metadata": '{"lang": "fr", "quote": "\\"q\\""} é ✓',
    "attributes": {"tier": "gold", "Mixed-Case": "kept", "empty": ""},
    "deployment": "blue-2",
    "restart_policy": "JRP_NEVER",
}
