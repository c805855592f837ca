"""A loopback port that drops connection attempts, as a partitioned host does.

The port listens with a backlog of 0 and never accepts: once its accept queue holds one
connection, Linux drops every further SYN (``tcp_abort_on_overflow`` is off by default), so a
client's connect neither succeeds nor is refused until its own bound ends it.
"""

from __future__ import annotations

import select
import socket
from types import TracebackType

# Seconds a connect to a queue that still has room needs on loopback, at the most.
_ROOM_CHECK = 1.0


class Blackhole:
    """``with Blackhole(port) as hole``: ``hole.url`` is an http URL whose connects hang."""

    def __init__(self, port: int = 0, host: str = "127.0.0.1") -> None:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((host, port))
        self._listener.listen(0)
        self.host, self.port = self._listener.getsockname()[:2]
        self._fillers: list[socket.socket] = []
        self._fill()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _fill(self) -> None:
        """Connect until a connect does not complete: the queue is full from then on."""
        for _ in range(16):
            client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            client.setblocking(False)
            client.connect_ex((self.host, self.port))
            self._fillers.append(client)
            _, writable, _ = select.select([], [client], [], _ROOM_CHECK)
            if not writable:
                return  # this SYN was dropped
        self.close()
        raise RuntimeError("the listening socket kept accepting connections into its queue")

    def close(self) -> None:
        for client in self._fillers:
            client.close()
        self._fillers.clear()
        self._listener.close()

    def __enter__(self) -> Blackhole:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
