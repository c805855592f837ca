"""The benchmark's table, and the machine it ran on, as text and as bench/RESULTS.md."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import NamedTuple


class Row(NamedTuple):
    measure: str
    ours: float
    reference_name: str
    reference: float | None
    ratio: float | None  # above 1: this client does better
    target: str
    note: str = ""


def _num(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def render(rows: list[Row]) -> str:
    header = ("measure", "ours", "reference", "ref value", "ratio", "target", "note")
    lines = [header]
    for r in rows:
        ref = "" if r.reference is None else _num(r.reference)
        ratio = "" if r.ratio is None else f"{r.ratio:.2f}"
        lines.append((r.measure, _num(r.ours), r.reference_name, ref, ratio, r.target, r.note))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = []
    for n, line in enumerate(lines):
        out.append("| " + " | ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)) + " |")
        if n == 0:
            out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(out)


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> list[tuple[str, str]]:
    packages = ["aiohttp", "orjson", "msgspec", "betterproto2", "pyjwt"]
    packages += ["livekit-api", "livekit-protocol", "protobuf"]
    try:
        from google.protobuf.internal import api_implementation

        backend = api_implementation.Type()
    except ImportError:
        backend = "unknown"
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return [
        ("date", datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")),
        ("commit", commit),
        ("cpu", f"{_cpu()}, {os.cpu_count()} cores"),
        ("system", platform.platform()),
        ("python", f"{platform.python_implementation()} {platform.python_version()}"),
        ("protobuf backend", backend),
        *((name, metadata.version(name)) for name in packages),
    ]


def write_results(
    path: Path,
    table: str,
    profiles: list[str],
    facts: list[tuple[str, str]],
    in_flight: int,
    rounds: int,
    seconds: float,
) -> None:
    lines = [
        "# Benchmark results",
        "",
        "Written by `make bench` (bench/bench.py). Every ratio was measured in this one run: medians over",
        f"{rounds} alternating rounds; end to end, {in_flight} calls in flight on one aiohttp session for",
        f"{seconds:g} s a round, against one server process that answers both encodings with bodies encoded",
        "once. A ratio above 1 means this client does better than the reference.",
        "",
        table,
        "",
        "## Where the time goes",
        "",
        "Profiled after the timed rounds (profiling slows every call; read the shares, not the times).",
        "",
        *(f"{profile}\n" for profile in profiles),
        "## Machine",
        "",
        *(f"- {key}: {value}" for key, value in facts),
        "",
    ]
    path.write_text("\n".join(lines))
