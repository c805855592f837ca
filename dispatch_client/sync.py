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
import os
import weakref
from collections.abc import Callable, Iterable, Sequence
from ssl import SSLContext
from types import TracebackType

from . import service as _async
from ._auth.signer import DEFAULT_TTL
from ._client.loop_thread import LoopThread
from ._client.settings import from_environment
from ._generated.livekit import AgentDispatch, CreateAgentDispatchRequest, Job, JobStatus
from ._transport.regions import DEFAULT_HOSTS
from ._transport.retry import RetryPolicy
from .errors import TwirpError, TwirpErrorCode
from .fleet._bulk import DEFAULT_ATTEMPTS, DEFAULT_CONCURRENCY, DispatchResult
from .fleet._coordinator import Coordinator

__all__ = ["AgentDispatchService"]


class AgentDispatchService:
    """The blocking twin of :class:`dispatch_client.AgentDispatchService`, with a session of its own.

    Arguments left out come from ``LIVEKIT_URL``, and ``LIVEKIT_TOKEN`` or else
    ``LIVEKIT_API_KEY`` and ``LIVEKIT_API_SECRET`` (ValueError naming the variable when
    missing), as for :meth:`dispatch_client.AgentDispatchService.open`.
    """

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        api_secret: str | None = None,
        *,
        token: str | None = None,
        timeout: float = _async.DEFAULT_TIMEOUT,
        token_ttl: float = DEFAULT_TTL,
        max_response_bytes: int = _async.DEFAULT_MAX_RESPONSE_BYTES,
        retry: RetryPolicy = _async.DEFAULT_RETRY,
        ssl: SSLContext | bool | None = None,
        ca_file: str | os.PathLike[str] | None = None,
        trust_env: bool = False,
        failover: bool = True,
        cloud_hosts: tuple[str, ...] = DEFAULT_HOSTS,
        urls: Sequence[str] = (),
        coordinator: Coordinator | None = None,
    ) -> None:
        """A client with its own thread and session; :meth:`close` ends both.

        :param url: the server's URL (default ``LIVEKIT_URL``), a path prefix kept;
            ``https://``, ``http://``, ``wss://`` or ``ws://``; several, separated by commas,
            are a cluster's nodes.
        :param api_key: signs the calls' tokens, with ``api_secret`` (default ``LIVEKIT_API_KEY``).
        :param api_secret: signs the calls' tokens (default ``LIVEKIT_API_SECRET``).
        :param token: a token signed elsewhere, sent as it is (default ``LIVEKIT_TOKEN``).
        :param timeout: seconds a call may take end to end, retries included (each method
            takes its own ``timeout`` too).
        :param token_ttl: seconds a signed token lives.
        :param max_response_bytes: answers larger than this are refused (``internal``).
        :param retry: what is tried again, how often and how patiently.
        :param ssl: an ``ssl.SSLContext``, ``False`` for no certificate checks (with a warning),
            or ``None`` for the system's CAs.
        :param ca_file: a PEM bundle of the CAs to trust instead of the system's.
        :param trust_env: proxies (``HTTPS_PROXY``, ...) and ``.netrc`` from the environment.
        :param failover: for a host matching ``cloud_hosts``, an attempt that is tried again
            goes to the next region the server lists; ``False``: only ever ``url``.
        :param cloud_hosts: the host patterns that are LiveKit Cloud.
        :param urls: more nodes of a cluster, tried when one cannot be reached (docs/failover.md).
        :param coordinator: a ``dispatch_client.fleet.Coordinator`` that
            :meth:`ensure_dispatch` takes turns through (docs/fleets.md); not closed here.
        """
        url, api_key, api_secret, token = from_environment(url, api_key, api_secret, token, urls=urls)
        runner = LoopThread()
        self._runner = runner
        # Closed when collected or at exit, if close() was never called.
        self._finalizer = weakref.finalize(self, runner.stop)

        async def start() -> None:
            runner.service = _async.AgentDispatchService.open(
                url,
                api_key,
                api_secret,
                token=token,
                timeout=timeout,
                token_ttl=token_ttl,
                max_response_bytes=max_response_bytes,
                retry=retry,
                ssl=ssl,
                ca_file=ca_file,
                trust_env=trust_env,
                failover=failover,
                cloud_hosts=cloud_hosts,
                urls=urls,
                coordinator=coordinator,
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

    def dispatch_many(
        self,
        reqs: Iterable[CreateAgentDispatchRequest],
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        rate: float | None = None,
        wait: float | None = None,
        attempts: int = DEFAULT_ATTEMPTS,
        timeout: float | None = None,
        on_result: Callable[[DispatchResult], None] | None = None,
    ) -> list[DispatchResult]:
        """See :meth:`dispatch_client.AgentDispatchService.dispatch_many`.

        ``on_result`` is called in the client's own thread, as each room ends.
        """
        svc = self._service()
        return self._runner.run(
            svc.dispatch_many(
                reqs,
                concurrency=concurrency,
                rate=rate,
                wait=wait,
                attempts=attempts,
                timeout=timeout,
                on_result=on_result,
            )
        )
