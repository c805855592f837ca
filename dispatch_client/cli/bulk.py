"""``create --rooms-file``: an agent for every room of a file, paced, with a progress bar and a summary.

The bar (tqdm) goes to stderr, and only when stderr is a terminal. Text output is a line on
stderr for each room that did not get what was asked and a summary on stdout; ``--json``
prints one JSON object per room on stdout, in the file's order, and the summary on stderr.
The exit status is 1 when any room failed.
"""

from __future__ import annotations

import collections
import os
import sys
from collections.abc import Iterable
from typing import TextIO

import click
import orjson
from tqdm import tqdm

from .._generated.livekit import CreateAgentDispatchRequest
from ..fleet._bulk import DispatchOutcome, DispatchResult
from .common import Settings, call, one_line

__all__ = ["create_many", "read_rooms", "result_json", "summary"]


def read_rooms(file: TextIO) -> list[str]:
    """The rooms of ``file``, one a line; blank lines and ``#`` comments are skipped, and a room
    given twice is a usage error."""
    rooms: dict[str, int] = {}
    name = getattr(file, "name", "-")
    for number, line in enumerate(file, start=1):
        room = line.strip()
        if not room or room.startswith("#"):
            continue
        if room in rooms:
            raise click.UsageError(f"{name}: room {room!r} is given twice (lines {rooms[room]} and {number})")
        rooms[room] = number
    if not rooms:
        raise click.UsageError(f"{name}: no rooms in it (one a line; blank lines and # comments are skipped)")
    return list(rooms)


def result_json(result: DispatchResult) -> str:
    """One room's result as a JSON object on one line."""
    error = result.error
    job_status = result.job.state.status.name if result.job and result.job.state else None
    return orjson.dumps(
        {
            "room": result.request.room,
            "agent_name": result.request.agent_name,
            "outcome": result.outcome.value,
            "ok": result.ok,
            "attempts": result.attempts,
            "dispatch_id": result.dispatch.id if result.dispatch else None,
            "job_id": result.job.id if result.job else None,
            "job_status": job_status,
            "error": None
            if error is None
            else {
                "code": error.code.value,
                "message": error.message,
                "wait_outcome": error.wait_outcome.value if error.wait_outcome else None,
                "outcome_unknown": error.outcome_unknown,
            },
        }
    ).decode()


def summary(results: list[DispatchResult], rate: float | None) -> str:
    """The rooms counted by outcome, how long they took, and with a rate the rate achieved."""
    counts = collections.Counter(r.outcome for r in results)
    parts = [f"{counts[o]} {o.value}" for o in DispatchOutcome if counts[o]]
    first = min(r.started for r in results)
    line = f"{len(results)} rooms in {max(r.finished for r in results) - first:.1f} s: " + ", ".join(parts)
    span = max(r.started for r in results) - first
    if rate is not None and span > 0:
        line += f"; {(len(results) - 1) / span:.1f} starts/s (limit {rate:g})"
    return line


def _shape() -> tuple[int, int]:
    """The terminal's columns and lines; 80 and 24 where it says 0 (a size that was never set,
    with which tqdm would show nothing)."""
    try:
        size = os.get_terminal_size(sys.stderr.fileno())
    except OSError:
        return 80, 24
    return size.columns or 80, size.lines or 24


def create_many(
    conf: Settings,
    reqs: Iterable[CreateAgentDispatchRequest],
    *,
    rate: float | None,
    concurrency: int,
    wait: float | None,
    attempts: int,
    as_json: bool,
) -> None:
    """Dispatch every request, show the results, and exit 1 if any room failed."""
    asked = list(reqs)
    tty = sys.stderr.isatty()
    columns, lines = _shape() if tty else (None, None)
    bar = tqdm(total=len(asked), unit="room", file=sys.stderr, disable=not tty, ncols=columns, nrows=lines)
    with bar:

        def progress() -> None:
            bar.update(1)

        results = call(
            conf,
            lambda s: s.dispatch_many(
                asked,
                rate=rate,
                concurrency=concurrency,
                wait=wait,
                attempts=attempts,
                on_result=lambda _: progress(),
            ),
        )
    for r in results:
        if as_json:
            click.echo(result_json(r))
        elif not r.ok:
            why = one_line(str(r.error)) if r.error else ""
            click.echo(f"{r.request.room}: {r.outcome.value}: {why}", err=True)
    click.echo(summary(results, rate), err=as_json)
    failed = sum(not r.ok for r in results)
    if failed:
        raise click.ClickException(f"{failed} of {len(results)} rooms failed")
