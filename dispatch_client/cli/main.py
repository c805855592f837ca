"""The ``dispatch-client`` command: the four dispatch calls, join tokens, a local server and a demo.

Exit status: 0 on success, 1 when the server (or the network) reports a failure,
2 for a usage error. Expected failures print one line on stderr, never a traceback.
"""

from __future__ import annotations

import logging
from typing import TextIO

import click

from .._generated.livekit import CreateAgentDispatchRequest, ListAgentDispatchResponse
from .._version import __version__
from ..errors import TwirpError, TwirpErrorCode
from ..fleet._bulk import DEFAULT_ATTEMPTS, DEFAULT_CONCURRENCY, MAX_ATTEMPTS
from ..service import DEFAULT_JOB_WAIT
from . import output as out
from .bulk import create_many, read_rooms
from .common import call, connection_options, json_option, settings
from .local import demo, serve
from .token import token

__all__ = ["main"]


def _parse_attributes(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    attributes: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", ctx=ctx, param=param)
        if key in attributes:
            # A repeated key is most likely a typo: refused rather than one value kept silently.
            raise click.BadParameter(f"attribute {key!r} is given twice", ctx=ctx, param=param)
        attributes[key] = value
    return attributes


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="dispatch-client")
@click.option(
    "-v",
    "--verbose",
    count=True,
    help="Log to stderr what the client decides (-v: retries, checks, failover; -vv: every attempt).",
)
def main(verbose: int) -> None:
    """Create, list, get and delete LiveKit agent dispatches; serve a local stand-in; run a demo.

    Connection settings come from --url/--api-key/--api-secret or LIVEKIT_URL,
    LIVEKIT_API_KEY and LIVEKIT_API_SECRET.
    """
    root = logging.getLogger("dispatch_client")
    for old in [h for h in root.handlers if isinstance(h, _Stderr)]:
        root.removeHandler(old)  # an earlier run's, in the same process
        root.setLevel(logging.NOTSET)
    if verbose:
        root.addHandler(_Stderr())
        root.setLevel(logging.DEBUG if verbose > 1 else logging.INFO)


class _Stderr(logging.Handler):
    """The log lines -v asks for, on the command's stderr (click's, as it is when they come)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("dispatch-client: %(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        click.echo(self.format(record), err=True)


@main.command()
@click.option("--room", help="Room to send the agent to.")
@click.option(
    "--rooms-file",
    type=click.File("r"),
    help="Instead of --room: a file of rooms, one a line (# comments; - for stdin).",
)
@click.option("--agent", "agent_name", required=True, help="Name the agent registered with.")
@click.option("--metadata", default="", help="Text handed to the agent's job.")
@click.option(
    "--attribute",
    "attributes",
    multiple=True,
    metavar="KEY=VALUE",
    callback=_parse_attributes,
    help="Attribute for the agent's participant; repeat for more (each key once).",
)
@click.option("--deployment", default="", help="Deployment of the agent to use (default: production).")
@click.option(
    "--restart-policy",
    type=click.Choice(list(out.RESTART_POLICIES)),
    default="on-failure",
    show_default=True,
    help="Whether a failed job is started again.",
)
@click.option(
    "--wait",
    type=click.FloatRange(min=0, min_open=True),
    is_flag=False,
    flag_value=DEFAULT_JOB_WAIT,
    default=None,
    metavar="[SECONDS]",
    help=f"Then wait for a worker to run the job (up to SECONDS, {DEFAULT_JOB_WAIT:g} if left out).",
)
@click.option(
    "--rate",
    type=click.FloatRange(min=0, min_open=True),
    help="With --rooms-file: creates per second at most (default: no limit).",
)
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=DEFAULT_CONCURRENCY,
    show_default=True,
    help="With --rooms-file: rooms under way at once.",
)
@click.option(
    "--attempts",
    type=click.IntRange(min=1, max=MAX_ATTEMPTS),
    default=DEFAULT_ATTEMPTS,
    show_default=True,
    help="With --rooms-file and --wait: dispatches per room while no agent comes.",
)
@connection_options
@json_option
def create(
    room: str | None,
    rooms_file: TextIO | None,
    agent_name: str,
    metadata: str,
    attributes: dict[str, str],
    deployment: str,
    restart_policy: str,
    wait: float | None,
    rate: float | None,
    concurrency: int,
    attempts: int,
    url: str | None,
    api_key: str | None,
    api_secret: str | None,
    timeout: float,
    as_json: bool,
) -> None:
    """Dispatch an agent to a room, or to every room of --rooms-file; with --wait, also wait
    until its job runs.

    With --wait the dispatch is shown first, then the job once it runs; when none comes
    (no worker took it, it failed, or the dispatch or room went away), one line says so and
    the exit status is 1. With --json each is one JSON document, on a line of its own.

    With --rooms-file, each room is sent the agent once (a room that has it keeps it), at
    --rate and --concurrency, with a progress bar on a terminal and a summary; --json prints
    one JSON object per room. The exit status is 1 when any room failed.
    """

    def request(name: str) -> CreateAgentDispatchRequest:
        return CreateAgentDispatchRequest(
            agent_name=agent_name,
            room=name,
            metadata=metadata,
            restart_policy=out.RESTART_POLICIES[restart_policy],
            deployment=deployment,
            attributes=attributes,
        )

    conf = settings(url, api_key, api_secret, timeout)
    if rooms_file is not None:
        if room is not None:
            raise click.UsageError("give --room or --rooms-file, not both")
        reqs = [request(name) for name in read_rooms(rooms_file)]
        create_many(
            conf, reqs, rate=rate, concurrency=concurrency, wait=wait, attempts=attempts, as_json=as_json
        )
        return
    if room is None:
        raise click.UsageError("missing --room (or --rooms-file)")
    req = request(room)
    created = call(conf, lambda s: s.create_dispatch(req))
    click.echo(out.json_text(created) if as_json else out.details(created))
    if wait is not None:
        seconds = wait
        if not as_json:
            click.echo(f"\nwaiting up to {seconds:g} s for a worker to run the job...")
        job = call(conf, lambda s: s.wait_for_job(created.id, req.room, timeout=seconds))
        click.echo(out.json_text(job) if as_json else out.job_details(job))


@main.command(name="list")
@click.option("--room", required=True, help="Room whose dispatches to list.")
@connection_options
@json_option
def list_(
    room: str, url: str | None, api_key: str | None, api_secret: str | None, timeout: float, as_json: bool
) -> None:
    """List the dispatches of a room."""
    found = call(settings(url, api_key, api_secret, timeout), lambda s: s.list_dispatch(room))
    if as_json:
        click.echo(out.json_text(ListAgentDispatchResponse(agent_dispatches=found)))
    else:
        click.echo(out.table(found))


@main.command()
@click.option("--room", required=True, help="Room of the dispatch.")
@click.option("--id", "dispatch_id", required=True, help="Dispatch id (AD_...).")
@connection_options
@json_option
def get(
    room: str,
    dispatch_id: str,
    url: str | None,
    api_key: str | None,
    api_secret: str | None,
    timeout: float,
    as_json: bool,
) -> None:
    """Show one dispatch; exit status 1 when the room has no dispatch with that id."""
    found = call(settings(url, api_key, api_secret, timeout), lambda s: s.get_dispatch(dispatch_id, room))
    if found is None:
        err = TwirpError(TwirpErrorCode.NOT_FOUND, f"room {room!r} has no dispatch {dispatch_id!r}")
        raise click.ClickException(str(err))
    click.echo(out.json_text(found) if as_json else out.details(found))


@main.command()
@click.option("--room", required=True, help="Room of the dispatch.")
@click.option("--id", "dispatch_id", required=True, help="Dispatch id (AD_...).")
@connection_options
@json_option
def delete(
    room: str,
    dispatch_id: str,
    url: str | None,
    api_key: str | None,
    api_secret: str | None,
    timeout: float,
    as_json: bool,
) -> None:
    """Delete a dispatch and show it as it was."""
    deleted = call(
        settings(url, api_key, api_secret, timeout), lambda s: s.delete_dispatch(dispatch_id, room)
    )
    click.echo(out.json_text(deleted) if as_json else out.details(deleted))


main.add_command(serve)
main.add_command(demo)
main.add_command(token)
