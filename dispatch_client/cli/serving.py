"""What ``serve`` adds to the stand-in: simulated workers named on the command line, a request log."""

from __future__ import annotations

import time
from collections.abc import Callable

import click
import orjson
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from ..testing import LocalDispatchServer

__all__ = ["DEFAULT_WORKER_DELAY", "LoggedServer", "WorkerSpec", "request_log"]

DEFAULT_WORKER_DELAY = 0.5  # seconds from a dispatch to its job, when --worker gives none
# The fields of a JSON answer a log line shows (the request's body is the handler's to read).
_FIELDS = (("id", ("id",)), ("room", ("room",)), ("agent", ("agentName", "agent_name")), ("code", ("code",)))


class WorkerSpec(click.ParamType[tuple[str, float]]):
    """``NAME[:DELAY]``: a simulated worker for agent NAME, whose jobs run DELAY seconds after."""

    name = "NAME[:DELAY]"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[str, float]:
        if isinstance(value, tuple):
            return (str(value[0]), float(value[1]))
        text = str(value)
        name, sep, delay = text.rpartition(":") if ":" in text else (text, "", "")
        try:
            seconds = float(delay) if sep else DEFAULT_WORKER_DELAY
        except ValueError:
            self.fail(f"{text!r}: the delay after ':' must be a number of seconds", param, ctx)
        if not name or not seconds >= 0:
            self.fail(f"{text!r}: give an agent name, and a delay of 0 s or more", param, ctx)
        return name, seconds


def _summary(body: bytes) -> str:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return ""
    if not isinstance(doc, dict):
        return ""
    listed = doc.get("agent_dispatches", doc.get("agentDispatches"))
    if isinstance(listed, list):
        return f" dispatches={len(listed)}"
    parts = []
    for label, keys in _FIELDS:
        value = next((doc[k] for k in keys if isinstance(doc.get(k), str) and doc[k]), None)
        if value is not None:
            parts.append(f"{label}={value}")
    return " " + " ".join(parts) if parts else ""


def request_log(echo: Callable[[str], None]) -> Middleware:
    """A middleware that echoes one line per request: time, method, path, status, duration and, from
    a JSON answer, the dispatch's id, room and agent, a list's length or an error's code (never a
    header, so never a token)."""

    @web.middleware
    async def log(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        status, fields = 500, ""
        try:
            response = await handler(request)
            status = response.status
            body = getattr(response, "body", None)
            if isinstance(body, bytes) and response.content_type == "application/json":
                fields = _summary(body)
            return response
        except web.HTTPException as e:
            status = e.status
            raise
        finally:
            took = (time.perf_counter() - started) * 1000
            stamp = time.strftime("%H:%M:%S")
            echo(f"{stamp} {request.method} {request.path} {status} {took:.1f} ms{fields}")

    return log


class LoggedServer(LocalDispatchServer):
    """The stand-in with :func:`request_log` in front of its routes."""

    def __init__(
        self, api_key: str, api_secret: str, *, host: str, port: int, echo: Callable[[str], None]
    ) -> None:
        super().__init__(api_key, api_secret, host=host, port=port)
        self._echo = echo

    def app(self) -> web.Application:
        app = super().app()
        app.middlewares.append(request_log(self._echo))
        return app
