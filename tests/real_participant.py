"""A real participant for a test: tests/participant_process.py, joined until the block ends."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path

SCRIPT = Path(__file__).with_name("participant_process.py")


class Participant:
    """A participant's process: joined once :meth:`join` returned, gone after :meth:`leave`."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self._process = process

    async def join(self) -> None:
        assert self._process.stdout is not None
        line = await asyncio.wait_for(self._process.stdout.readline(), 30)
        assert line.decode().strip() == "joined", line

    async def leave(self) -> None:
        p = self._process
        if p.returncode is None:
            assert p.stdin is not None
            with contextlib.suppress(ConnectionError):
                p.stdin.write(b"go\n")
                await p.stdin.drain()
            try:
                await asyncio.wait_for(p.wait(), 15)
            except TimeoutError:
                p.kill()
                await p.wait()


async def start(ws_url: str, token: str) -> Participant:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(SCRIPT),
        ws_url,
        token,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    participant = Participant(process)
    try:
        await participant.join()
    except BaseException:
        process.kill()
        await process.wait()
        raise
    return participant


@contextlib.asynccontextmanager
async def joined(http_url: str, token: str) -> AsyncIterator[Participant]:
    """A real participant in the room of ``token`` until the block ends."""
    participant = await start(http_url.replace("http://", "ws://"), token)
    try:
        yield participant
    finally:
        await participant.leave()
