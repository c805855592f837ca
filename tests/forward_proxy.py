"""A forward HTTP proxy on loopback, as ``HTTP_PROXY``/``HTTPS_PROXY`` point to: ``CONNECT`` tunnels
for https, absolute-form requests for http. It records what it forwarded, so a test can tell
that a call went through it (and that no Authorization header was sent to it for a tunnel).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import urllib.parse
from types import TracebackType


@dataclasses.dataclass
class Seen:
    method: str
    target: str
    headers: dict[str, str]


class ForwardProxy:
    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self.url = ""

    async def __aenter__(self) -> ForwardProxy:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):  # the pipes end as their connections do
            writer.close()
        await asyncio.gather(*self._pipes, return_exceptions=True)
        await self._server.wait_closed()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._pipes.add(task)
        self._writers.add(writer)
        try:
            await self._serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._pipes.discard(task)
            self._writers.discard(writer)
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        request_line, *lines = head.decode("latin-1").split("\r\n")
        method, target, version = request_line.split(" ", 2)
        headers = dict(line.split(": ", 1) for line in lines if ": " in line)
        self.seen.append(Seen(method, target, headers))
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
            self._writers.add(up_writer)
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()
        else:
            url = urllib.parse.urlsplit(target)
            up_reader, up_writer = await asyncio.open_connection(url.hostname, url.port or 80)
            self._writers.add(up_writer)
            path = url.path + (f"?{url.query}" if url.query else "")
            kept = [line for line in lines if line and not line.lower().startswith("proxy-")]
            up_writer.write(f"{method} {path} {version}\r\n".encode("latin-1"))
            up_writer.write(("\r\n".join(kept) + "\r\n\r\n").encode("latin-1"))
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            self._writers.discard(up_writer)
            up_writer.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    with contextlib.suppress(OSError):
        writer.write_eof()
