"""Pieces shared by the commands: connection options, running a call, turning failures into exit codes."""

from __future__ import annotations

import asyncio
import dataclasses
import warnings
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import click

from .._client.connect import connect
from ..errors import OUTCOME_UNKNOWN_MEANING, TwirpError
from ..service import DEFAULT_TIMEOUT, AgentDispatchService

__all__ = [
    "DEV_SECRET",
    "Settings",
    "announce_json_option",
    "call",
    "connection_options",
    "json_option",
    "one_line",
    "run",
    "settings",
]

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


@dataclasses.dataclass(frozen=True)
class Settings:
    url: str
    api_key: str
    api_secret: str
    timeout: float


DEV_SECRET = "secret"  # with DEFAULT_API_KEY, what `livekit-server --dev` accepts


def one_line(text: str) -> str:
    return " ".join(text.split())


def run(coro: Coroutine[Any, Any, T], *, secret: str | None = None) -> T:
    """Run ``coro``; a TwirpError exits 1 and a ValueError 2, each with one line on stderr.

    Warnings are shown as one line each, except pyjwt's about an API secret shorter than
    32 bytes when ``secret`` is the development secret, which is that short by design.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if secret == DEV_SECRET:
            # Matched by its text: the older pyjwt this package allows has no class for it.
            warnings.filterwarnings("ignore", message=r"The HMAC key is \d+ bytes long")
        try:
            return asyncio.run(coro)
        except KeyboardInterrupt:
            # As a shell expects of a command stopped by Ctrl-C (128 + SIGINT), not click's
            # "Aborted!" and 1.
            click.echo("Interrupted.", err=True)
            raise click.exceptions.Exit(130) from None
        except TwirpError as e:
            # The error's own words for an unknown outcome speak of the API; the hint, of the command.
            text = str(e).removesuffix(f": {OUTCOME_UNKNOWN_MEANING}") if e.outcome_unknown else str(e)
            raise click.ClickException(one_line(text) + _hint(e)) from e
        except ValueError as e:
            raise click.UsageError(one_line(str(e))) from e
        finally:
            for message in dict.fromkeys(one_line(str(w.message)) for w in caught):
                click.echo(f"warning: {message}", err=True)


def _hint(e: TwirpError) -> str:
    """What the error means for the user, where its code and text do not say."""
    if e.outcome_unknown:
        return " -- it may have been done all the same: check with `dispatch-client list` before repeating it"
    return ""


def connection_options(f: F) -> F:
    """--url, --api-key, --api-secret (from LIVEKIT_* when left out) and --timeout."""
    options = [
        click.option("--url", envvar="LIVEKIT_URL", show_envvar=True, help="LiveKit server URL."),
        click.option("--api-key", envvar="LIVEKIT_API_KEY", show_envvar=True, help="API key."),
        click.option("--api-secret", envvar="LIVEKIT_API_SECRET", show_envvar=True, help="API secret."),
        click.option(
            "--timeout",
            type=click.FloatRange(min=0, min_open=True),
            default=DEFAULT_TIMEOUT,
            show_default=True,
            help="Seconds allowed for the call.",
        ),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def json_option(f: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print proto3 JSON instead of a table.")(f)


def announce_json_option(f: F) -> F:
    """``serve``'s --json: what it prints is its address and key, not a message."""
    help_text = 'Print {"url": ..., "api_key": ...} as one JSON line instead of the text.'
    return click.option("--json", "as_json", is_flag=True, help=help_text)(f)


def settings(url: str | None, api_key: str | None, api_secret: str | None, timeout: float) -> Settings:
    def need(value: str | None, flag: str, env: str) -> str:
        if not value:
            raise click.UsageError(f"missing {flag}: pass it or set {env}")
        return value

    return Settings(
        need(url, "--url", "LIVEKIT_URL"),
        need(api_key, "--api-key", "LIVEKIT_API_KEY"),
        need(api_secret, "--api-secret", "LIVEKIT_API_SECRET"),
        timeout,
    )


def call(conf: Settings, fn: Callable[[AgentDispatchService], Awaitable[T]]) -> T:
    """``fn`` on a service connected with ``conf``, run to completion."""

    async def go() -> T:
        async with connect(conf.url, conf.api_key, conf.api_secret, timeout=conf.timeout) as service:
            return await fn(service)

    return run(go(), secret=conf.api_secret)
