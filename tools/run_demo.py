"""`make run`: the demo against the real livekit-server, started for the run and stopped after it.

With LIVEKIT_URL set, the demo runs against that server instead (LIVEKIT_API_KEY and
LIVEKIT_API_SECRET with it), and nothing is started.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# One way to run the server, shared with the tests.
sys.path.insert(0, str(ROOT / "tests"))

from livekit_server import VERSION, start  # noqa: E402


def main() -> int:
    demo = [sys.executable, "-m", "dispatch_client", "demo", *sys.argv[1:]]
    if os.environ.get("LIVEKIT_URL"):
        return subprocess.call(demo)
    with tempfile.TemporaryDirectory() as logs, start(Path(logs)) as server:
        print(f"livekit-server {VERSION} --dev on {server.url} (started for this run)", flush=True)
        env = dict(
            os.environ,
            LIVEKIT_URL=server.url,
            LIVEKIT_API_KEY=server.api_key,
            LIVEKIT_API_SECRET=server.api_secret,
        )
        return subprocess.call(demo, env=env)


if __name__ == "__main__":
    sys.exit(main())
