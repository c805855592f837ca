"""The API reference's first page in a real browser: headless Chromium, a laptop-sized window."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from headless_chromium import HEIGHT, WIDTH, chromium_page
from reference_pages import build

# Where each of the first page's landmarks sits, as the browser lays it out (CSS pixels).
LAYOUT = """(() => {
    const box = (el) => el ? el.getBoundingClientRect().toJSON() : null;
    const main = document.querySelector("main");
    const nav = document.querySelector("nav");
    return {
        height: window.innerHeight,
        title: document.querySelector("h1.modulename").textContent.trim(),
        first_section: [...main.querySelectorAll("section[id]")].map((s) => s.id).find((id) => id),
        service: box(document.getElementById("AgentDispatchService")),
        service_heading: box(document.querySelector("#AgentDispatchService .attr.class")),
        connect_in_text: box(main.querySelector('.docstring a[href="#connect"]')),
        service_in_nav: box(nav.querySelector('a[href="#AgentDispatchService"]')),
        connect_in_nav: box(nav.querySelector('a[href="#connect"]')),
        submodules: [...nav.querySelectorAll("h2 + ul a")].map((a) => a.textContent.trim()),
    };
})()"""


@pytest.fixture(scope="module")
def api_pages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("api"))


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


async def test_the_service_and_connect_are_above_the_fold(
    api_pages: Path, tmp_path: Path, summary: list[str]
) -> None:
    async with chromium_page() as page:
        # index.html sends the reader on to the package's page.
        await page.open(
            (api_pages / "index.html").as_uri(), "location.pathname.endsWith('/dispatch_client.html')"
        )
        layout = await page.evaluate(LAYOUT)
        shot = tmp_path / "first-page.png"
        await page.screenshot(shot)
    assert png_size(shot) == (WIDTH, HEIGHT)
    assert layout["height"] == HEIGHT
    assert layout["title"].replace("\u200b", "") == "dispatch_client"
    # The first thing documented is the client, not a generated message.
    assert layout["first_section"] == "AgentDispatchService"
    for name in ("service_heading", "connect_in_text", "service_in_nav", "connect_in_nav"):
        box = layout[name]
        assert box is not None, f"{name}: not on the page"
        assert box["top"] >= 0, f"{name} is above the page: {box}"
        assert box["bottom"] <= HEIGHT, f"{name} is below the fold: {box}"
        assert box["width"] > 0, f"{name}: not shown"
    assert layout["submodules"][:7] == [
        "sync",
        "errors",
        "testing",
        "fleet",
        "telemetry",
        "tokens",
        "messages",
    ]
    summary.append(
        f"api reference, first page at {WIDTH}x{HEIGHT} in headless Chromium: AgentDispatchService "
        f"heading at y={layout['service_heading']['top']:.0f}, connect in the sidebar at "
        f"y={layout['connect_in_nav']['top']:.0f} (screenshot {shot})"
    )
