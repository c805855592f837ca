"""A blocking client for scripts, Django, Celery and threads: the async client on a loop of its own.

    from dispatch_client.sync import AgentDispatchService

    with AgentDispatchService() as dispatch:          # LIVEKIT_URL, LIVEKIT_API_KEY, LIVEKIT_API_SECRET
        created = dispatch.create_dispatch(CreateAgentDispatchRequest(agent_name="a", room="r"))

Each client runs one event loop in a daemon thread of its own, and every call runs the async
:class:`dispatch_client.AgentDispatchService` there: the same arguments, results and errors,
with no second copy of the transport, retries or codec. Any number of threads may call one
client at once. :meth:`AgentDispatchService.close` closes its session and joins its thread; a
client that is never closed is closed when it is collected or when the process exits. A call
made from a thread that is running an event loop raises ``TwirpError`` ``failed_precondition``
at once: it would block that loop (use the async client there).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import weakref
from collections.abc import Coroutine, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar, Unpack

from . import service as _async
from ._client.settings import Options, from_environment
from ._generated.livekit import AgentDispatch, CreateAgentDispatchRequest, Job, JobStatus, RoomAgentDispatch
from .errors import TwirpError, TwirpErrorCode

__all__ = ["AgentDispatchService"]

T = TypeVar("T")


class _Loop:
    """An event loop running in a daemon thread, and the async service that lives on it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="dispatch-client", daemon=True)
        self.thread.start()
        self.service: _async.AgentDispatchService | None = None
        self.closed = False
        self.lock = threading.Lock()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        # Checked and scheduled under the lock that close() takes: a call either runs before the
        # shutdown (which cancels it) or is refused, never left on a stopped loop.
        with self.lock:
            if self.closed:
                coro.close()
                raise TwirpError(TwirpErrorCode.FAILED_PRECONDITION, "the client is closed")
            future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result()
        except concurrent.futures.CancelledError:
            # Only close() cancels a call on this loop.
            raise TwirpError(
                TwirpErrorCode.FAILED_PRECONDITION, "the client was closed during the call"
            ) from None
        except BaseException:
            future.cancel()  # interrupted while waiting (KeyboardInterrupt): stop the call too
            raise

    async def _shutdown(self) -> None:
        calls = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for call in calls:
            call.cancel()
        await asyncio.gather(*calls, return_exceptions=True)
        if self.service is not None:
            await self.service.aclose()
            # A coordinator's connections on this loop end with it (the coordinator stays usable).
            closing = getattr(self.service._coordinator, "aclose", None)
            if closing is not None:
                await closing()

    def stop(self) -> None:
        """Cancel the calls in flight, close the session, stop the loop and join its thread."""
        with self.lock:
            if self.closed:
                return
            self.closed = True
        if threading.current_thread() is self.thread:  # from the loop itself: it cannot wait for itself
            self.loop.create_task(self._shutdown()).add_done_callback(lambda _: self.loop.stop())
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), self.loop).result()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


class AgentDispatchService:
    """The blocking twin of :class:`dispatch_client.AgentDispatchService`, with a session of its own.

    Arguments left out come from ``LIVEKIT_URL``, and ``LIVEKIT_TOKEN`` or else
    ``LIVEKIT_API_KEY`` and ``LIVEKIT_API_SECRET`` (ValueError naming the variable when
    missing); the options are those of :meth:`dispatch_client.AgentDispatchService.open`.
    """

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        api_secret: str | None = None,
        *,
        token: str | None = None,
        **options: Unpack[Options],
    ) -> None:
        url, api_key, api_secret, token = from_environment(
            url, api_key, api_secret, token, urls=options.get("urls", ())
        )
        runner = _Loop()
        self._runner = runner
        # Closed when collected or at exit, if close() was never called.
        self._finalizer = weakref.finalize(self, runner.stop)

        async def start() -> None:
            runner.service = _async.AgentDispatchService.open(
                url, api_key, api_secret, token=token, **options
            )

        try:
            runner.run(start())
        except BaseException:
            self._finalizer()
            raise
        assert runner.service is not None
        self._url = runner.service.url

    @property
    def url(self) -> str:
        """The HTTP base URL calls go to."""
        return self._url

    def __repr__(self) -> str:
        return f"sync.AgentDispatchService(url={self._url!r})"

    def close(self) -> None:
        """Close the session and join the thread; closing twice is harmless."""
        self._finalizer()

    def __enter__(self) -> AgentDispatchService:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _service(self) -> _async.AgentDispatchService:
        if self._runner.closed or self._runner.service is None:
            raise TwirpError(TwirpErrorCode.FAILED_PRECONDITION, "the client is closed")
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return self._runner.service
        raise TwirpError(
            TwirpErrorCode.FAILED_PRECONDITION,
            "a blocking call from a thread that runs an event loop would block it: use the async client",
        )

    def create_dispatch(
        self, req: CreateAgentDispatchRequest, *, timeout: float | None = None, request_id: str | None = None
    ) -> AgentDispatch:
        """See :meth:`dispatch_client.AgentDispatchService.create_dispatch`."""
        svc = self._service()
        return self._runner.run(svc.create_dispatch(req, timeout=timeout, request_id=request_id))

    def delete_dispatch(
        self, dispatch_id: str, room_name: str, *, timeout: float | None = None, request_id: str | None = None
    ) -> AgentDispatch:
        """See :meth:`dispatch_client.AgentDispatchService.delete_dispatch`."""
        svc = self._service()
        return self._runner.run(
            svc.delete_dispatch(dispatch_id, room_name, timeout=timeout, request_id=request_id)
        )

    def list_dispatch(
        self, room_name: str, *, timeout: float | None = None, request_id: str | None = None
    ) -> list[AgentDispatch]:
        """See :meth:`dispatch_client.AgentDispatchService.list_dispatch`."""
        svc = self._service()
        return self._runner.run(svc.list_dispatch(room_name, timeout=timeout, request_id=request_id))

    def get_dispatch(
        self, dispatch_id: str, room_name: str, *, timeout: float | None = None, request_id: str | None = None
    ) -> AgentDispatch | None:
        """See :meth:`dispatch_client.AgentDispatchService.get_dispatch`."""
        svc = self._service()
        return self._runner.run(
            svc.get_dispatch(dispatch_id, room_name, timeout=timeout, request_id=request_id)
        )

    def wait_for_job(
        self,
        dispatch_id: str,
        room_name: str,
        *,
        until: JobStatus = JobStatus.JS_RUNNING,
        timeout: float = _async.DEFAULT_JOB_WAIT,
        grace: float = _async.DEFAULT_GRACE,
    ) -> Job:
        """See :meth:`dispatch_client.AgentDispatchService.wait_for_job`."""
        svc = self._service()
        return self._runner.run(
            svc.wait_for_job(dispatch_id, room_name, until=until, timeout=timeout, grace=grace)
        )

    def ensure_dispatch(
        self, req: CreateAgentDispatchRequest, *, timeout: float | None = None
    ) -> AgentDispatch:
        """See :meth:`dispatch_client.AgentDispatchService.ensure_dispatch`."""
        svc = self._service()
        return self._runner.run(svc.ensure_dispatch(req, timeout=timeout))

    def join_token(
        self,
        identity: str,
        room: str,
        *,
        agents: Sequence[RoomAgentDispatch] = (),
        name: str | None = None,
        metadata: str | None = None,
        attributes: Mapping[str, str] | None = None,
        ttl: float = _async.DEFAULT_JOIN_TTL,
        timeout: float | None = None,
    ) -> str:
        """See :meth:`dispatch_client.AgentDispatchService.join_token`."""
        svc = self._service()
        return self._runner.run(
            svc.join_token(
                identity,
                room,
                agents=agents,
                name=name,
                metadata=metadata,
                attributes=attributes,
                ttl=ttl,
                timeout=timeout,
            )
        )
