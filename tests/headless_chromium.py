"""Headless Chromium driven over its DevTools protocol (a WebSocket, through aiohttp): open a page,
read values from its DOM, take a screenshot. ``make chromium`` installs the browser."""

from __future__ import annotations

import asyncio
import base64
import itertools
import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

NAMES = ("chromium", "chromium-browser", "google-chrome")
WIDTH, HEIGHT = 1280, 800  # a laptop's window: what "above the fold" means here


def chromium_binary() -> str:
    """``$CHROMIUM``, else the first Chromium on PATH; AssertionError saying how to get one."""
    found = os.environ.get("CHROMIUM") or next(filter(None, map(shutil.which, NAMES)), None)
    assert found, "no Chromium: run `make chromium` (Debian's chromium package), or set CHROMIUM"
    return found


class Page:
    """One tab, spoken to over its DevTools WebSocket."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws
        self._ids = itertools.count(1)

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        """Call a DevTools method and return its result (events in between are passed over)."""
        call = next(self._ids)
        await self._ws.send_json({"id": call, "method": method, "params": params})
        while True:
            message = await self._ws.receive_json()
            if message.get("id") == call:
                assert "error" not in message, message
                result: dict[str, Any] = message["result"]
                return result

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page."""
        result = await self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        assert "exceptionDetails" not in result, result
        return result["result"].get("value")

    async def open(self, url: str, ready: str, timeout: float = 30) -> None:
        """Navigate to ``url`` and wait until the expression ``ready`` is true (redirects followed)."""
        await self.send("Page.navigate", url=url)
        async with asyncio.timeout(timeout):
            # polled over the protocol: the page has no event to wait on here
            while not await self.evaluate(f"document.readyState === 'complete' && ({ready})"):  # noqa: ASYNC110
                await asyncio.sleep(0.05)

    async def screenshot(self, path: Path) -> None:
        """The viewport as a PNG file."""
        shot = await self.send("Page.captureScreenshot", format="png")
        await asyncio.to_thread(path.write_bytes, base64.b64decode(shot["data"]))


async def _devtools_port(profile: Path, process: asyncio.subprocess.Process, timeout: float = 60) -> int:
    """The port Chromium writes to its profile's DevToolsActivePort once it listens."""
    marker = profile / "DevToolsActivePort"
    async with asyncio.timeout(timeout):
        while not marker.is_file() or not marker.read_text().strip():
            assert process.returncode is None, f"chromium exited with status {process.returncode}"
            await asyncio.sleep(0.05)
    return int(marker.read_text().split()[0])


@asynccontextmanager
async def chromium_page() -> AsyncIterator[Page]:
    """A tab of a headless Chromium of its own (a fresh profile), closed afterwards."""
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        process = await asyncio.create_subprocess_exec(
            chromium_binary(),
            "--headless",
            "--no-sandbox",  # CI runs as root, where the sandbox refuses to start
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--remote-debugging-port=0",
            f"--window-size={WIDTH},{HEIGHT}",
            "about:blank",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            port = await _devtools_port(Path(profile), process)
            async with aiohttp.ClientSession() as session:
                async with session.get(f"http://127.0.0.1:{port}/json/list") as resp:
                    targets = await resp.json()
                [tab] = [t for t in targets if t["type"] == "page"]
                async with session.ws_connect(tab["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                    page = Page(ws)
                    await page.send(
                        "Emulation.setDeviceMetricsOverride",
                        width=WIDTH,
                        height=HEIGHT,
                        deviceScaleFactor=1,
                        mobile=False,
                    )
                    yield page
        finally:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()
