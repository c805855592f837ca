"""A real participant (LiveKit's realtime SDK) in a process of its own, for the token tests.

    python tests/participant_process.py WS_URL TOKEN

Connects, prints ``joined``, stays until a line (or the end) on stdin, disconnects, prints
``left``. The SDK's native runtime stays out of the test process: at that process's exit it can
abort it.
"""

from __future__ import annotations

import asyncio
import os
import sys

from livekit import rtc


async def main(url: str, token: str) -> None:
    room = rtc.Room()
    await room.connect(url, token)
    print("joined" if room.isconnected() else "not connected", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    await room.disconnect()
    print("left", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
    sys.stdout.flush()
    os._exit(0)  # without the native runtime's teardown
