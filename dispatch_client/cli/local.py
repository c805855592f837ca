"""``serve`` (a local AgentDispatchService) and ``demo`` (the whole API, step by step)."""

from __future__ import annotations

import asyncio
import contextlib
import signal

import click
import orjson

from .._client.connect import connect
from ..testing import DEFAULT_API_KEY, LocalDispatchServer
from .common import DEV_SECRET, Settings, announce_json_option, connection_options, json_option, run
from .demo import DEMO_ROOM, run_demo
from .serving import DEFAULT_WORKER_DELAY, LoggedServer, WorkerSpec

__all__ = ["DEV_SECRET", "HINT", "demo", "serve", "serve_until_stopped"]

HINT = "dispatch-client create --room demo-room --agent my-agent && dispatch-client list --room demo-room"


async def _start(server: LocalDispatchServer, host: str, port: int) -> str:
    try:
        return await server.start()
    except OSError as e:
        raise click.ClickException(f"cannot listen on {host}:{port}: {e.strerror or e}") from e


async def _serve(
    server: LocalDispatchServer,
    host: str,
    port: int,
    as_json: bool,
    dev_secret: bool,
    workers: tuple[tuple[str, float], ...] = (),
) -> None:
    for name, delay in workers:
        server.add_worker(name, delay=delay)
    url = await _start(server, host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    handled = {}  # each signal handled here, with its handler before
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            before = signal.getsignal(sig)
            loop.add_signal_handler(sig, stop.set)
            handled[sig] = before
    if as_json:
        click.echo(orjson.dumps({"url": url, "api_key": server.api_key}).decode())
    else:
        secret = f"API secret {server.api_secret!r}" if dev_secret else "the given API secret"
        click.echo(f"Serving livekit.AgentDispatchService at {url}")
        click.echo(f"Accepting API key {server.api_key!r} with {secret}; state is kept in memory.")
        for name, delay in workers:
            click.echo(
                f"Simulated agent worker {name!r}: a job for each new dispatch of it, {delay:g} s after."
            )
        if dev_secret:
            # A create first: a list in a room that no create has started is 'not running'.
            click.echo(
                f"Try: export LIVEKIT_URL={url} LIVEKIT_API_KEY={server.api_key} "
                f"LIVEKIT_API_SECRET={server.api_secret}"
            )
            click.echo(f"     {HINT}")
        click.echo("Press Ctrl-C to stop.")
    try:
        await stop.wait()
    finally:
        # While requests in progress are given their moment to finish, a second signal
        # takes its default course and ends the process at once.
        for sig in handled:
            loop.remove_signal_handler(sig)
            signal.signal(sig, signal.SIG_DFL)
        if stop.is_set():
            click.echo("Stopping; interrupt again to stop at once.", err=True)
        try:
            await server.close()
        finally:
            for handled_sig, handler in handled.items():
                signal.signal(handled_sig, handler)
        click.echo("Stopped.", err=True)


def serve_until_stopped(
    server: LocalDispatchServer,
    host: str,
    port: int,
    *,
    as_json: bool,
    dev_secret: bool,
    workers: tuple[tuple[str, float], ...] = (),
) -> None:
    """Run ``server`` until SIGINT or SIGTERM, announcing it on stdout."""
    with contextlib.suppress(KeyboardInterrupt):
        run(_serve(server, host, port, as_json, dev_secret, workers), secret=server.api_secret)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=7880, show_default=True, help="Port; 0 picks a free one."
)
@click.option(
    "--api-key",
    envvar="LIVEKIT_API_KEY",
    show_envvar=True,
    help=f"Accepted API key [default: {DEFAULT_API_KEY}].",
)
@click.option(
    "--api-secret",
    envvar="LIVEKIT_API_SECRET",
    show_envvar=True,
    help=f"Accepted API secret [default: {DEV_SECRET}].",
)
@click.option(
    "--worker",
    "workers",
    type=WorkerSpec(),
    multiple=True,
    help=f"A simulated agent worker for agent NAME: each dispatch of it made from then on runs a job "
    f"DELAY seconds later [default delay: {DEFAULT_WORKER_DELAY:g}]. Repeatable.",
)
@click.option("--log", "log", is_flag=True, help="Print a line per request on stderr (never a token).")
@announce_json_option
def serve(
    host: str,
    port: int,
    api_key: str | None,
    api_secret: str | None,
    workers: tuple[tuple[str, float], ...],
    log: bool,
    as_json: bool,
) -> None:
    """Run a local AgentDispatchService, state in memory, until interrupted.

    It answers as livekit-server does (Twirp JSON and protobuf, token checks,
    validation and limits). With --json the first line printed is {"url": ..., "api_key": ...}.
    """
    key, secret = api_key or DEFAULT_API_KEY, api_secret or DEV_SECRET
    try:
        if log:
            server: LocalDispatchServer = LoggedServer(
                key, secret, host=host, port=port, echo=lambda line: click.echo(line, err=True)
            )
        else:
            server = LocalDispatchServer(key, secret, host=host, port=port)
    except ValueError as e:
        raise click.UsageError(str(e)) from e
    serve_until_stopped(server, host, port, as_json=as_json, dev_secret=not api_secret, workers=workers)


async def _demo(
    conf: Settings | None, room: str, as_json: bool, api_key: str | None, secret: str | None
) -> None:
    def echo(line: str) -> None:
        if not as_json:
            click.echo(line)

    if conf is not None:
        echo(f"==> Using the LiveKit server at {conf.url}")
        async with connect(conf.url, conf.api_key, conf.api_secret, timeout=conf.timeout) as service:
            steps = await run_demo(service, room, echo)
        url = conf.url
    else:
        server = LocalDispatchServer(api_key or DEFAULT_API_KEY, secret)
        url = await _start(server, "127.0.0.1", 0)
        try:
            echo(f"==> Started a local dispatch server at {url} (API key {server.api_key!r})")
            async with server.connect() as service:
                steps = await run_demo(service, room, echo)
        finally:
            await server.close()
    if as_json:
        doc = {"server": url, "room": room, "steps": steps}
        click.echo(orjson.dumps(doc).decode())
    else:
        click.echo("Done.")


@click.command()
@click.option("--room", default=DEMO_ROOM, show_default=True, help="Room to use.")
@connection_options
@json_option
def demo(
    room: str,
    url: str | None,
    api_key: str | None,
    api_secret: str | None,
    timeout: float,
    as_json: bool,
) -> None:
    """Create two dispatches, list, get, delete one, list again, printing each step.

    Without --url (or LIVEKIT_URL) it starts a local server on 127.0.0.1 for the
    run; with one it uses that server and needs its API key and secret.
    """
    conf: Settings | None = None
    if url:
        if not api_key or not api_secret:
            raise click.UsageError("with --url, pass --api-key and --api-secret (or set LIVEKIT_API_*)")
        conf = Settings(url, api_key, api_secret, timeout)
    run(_demo(conf, room, as_json, api_key, api_secret), secret=api_secret)
