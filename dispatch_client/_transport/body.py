"""A request body that says when aiohttp begins to write it, which is when its connection is
open: an attempt that ends before then sent nothing (:class:`NotConnected`)."""

from __future__ import annotations

import io
from collections.abc import Callable

import aiohttp
from aiohttp.abc import AbstractStreamWriter
from aiohttp.payload import BytesIOPayload, BytesPayload, Payload

from ..errors import TwirpError

__all__ = ["NotConnected", "Started", "body_of", "never_sent"]


class NotConnected(Exception):
    """The cause of an attempt that ended before its connection was open: nothing was sent."""


def never_sent(err: TwirpError) -> bool:
    """Whether the attempt that failed with ``err`` sent nothing: no connection was made
    (refused, unreachable, a name that does not resolve, TLS setup failed, or none within the
    connect bound or the deadline)."""
    return isinstance(err.__cause__, (aiohttp.ClientConnectorError, NotConnected))


class Started:
    """Calls ``started`` once, when aiohttp begins to write the body: the connection is open."""

    def __init__(self, started: Callable[[], None]) -> None:
        self._started: Callable[[], None] | None = started

    def begin(self) -> None:
        started, self._started = self._started, None
        if started is not None:
            started()


class _Body(BytesPayload):
    def __init__(self, value: bytes, started: Started) -> None:
        super().__init__(value, content_type="application/json")
        self._begun = started

    async def write(self, writer: AbstractStreamWriter) -> None:
        self._begun.begin()
        await super().write(writer)

    async def write_with_length(self, writer: AbstractStreamWriter, content_length: int | None) -> None:
        self._begun.begin()
        await super().write_with_length(writer, content_length)


class _StreamedBody(BytesIOPayload):
    def __init__(self, value: bytes, started: Started) -> None:
        super().__init__(io.BytesIO(value), content_type="application/json")
        self._begun = started

    async def write(self, writer: AbstractStreamWriter) -> None:
        self._begun.begin()
        await super().write(writer)

    async def write_with_length(self, writer: AbstractStreamWriter, content_length: int | None) -> None:
        self._begun.begin()
        await super().write_with_length(writer, content_length)


def body_of(body: bytes, started: Started, *, stream: bool) -> Payload:
    """``body`` as JSON for one attempt (streamed in chunks when ``stream``), calling ``started``."""
    return _StreamedBody(body, started) if stream else _Body(body, started)
