"""The dispatch-client command run as a real process, from async tests, against a server."""

from __future__ import annotations

import asyncio
import sys

from livekit_server import RealServer


async def run_cli(server: RealServer, *args: str, url: str | None = None) -> tuple[int, str, str]:
    """``python -m dispatch_client ARGS`` with the server's credentials (and its URL, or ``url``):
    (exit status, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "dispatch_client", *args),
        *("--url", url or server.url, "--api-key", server.api_key, "--api-secret", server.api_secret),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()
