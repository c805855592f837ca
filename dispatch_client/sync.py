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

:class:`Supervisor` is :class:`dispatch_client.fleet.Supervisor` run on a blocking client's
loop: it keeps its rooms' agents in that thread while the caller's thread does other work.

A call waits for the loop's answer until its deadline and 2 s more; a create,
``ensure_dispatch`` or delete that close() cancels has ``outcome_unknown`` set. The child of a
``fork`` starts a loop, thread and session of its own when it first calls, and leaves the
parent's alone (see docs/deployments.md).
"""

from __future__ import annotations

import asyncio
import functools
import os
import threading
import weakref
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from ssl import SSLContext
from types import TracebackType
from typing import Any, TypeVar

from . import service as _async
from ._auth.signer import DEFAULT_TTL
from ._checks import require_seconds
from ._client.loop_thread import MARGIN, LoopThread
from ._client.settings import from_environment
from ._generated.livekit import AgentDispatch, CreateAgentDispatchRequest, Job, JobStatus, RoomAgentDispatch
from ._sync_supervisor import EventStream, Supervisor
from ._transport.call import CONNECT_TIMEOUT
from ._transport.regions import DEFAULT_HOSTS
from ._transport.retry import RetryPolicy
from .errors import TwirpError, TwirpErrorCode
from .fleet._bulk import DEFAULT_ATTEMPTS, DEFAULT_CONCURRENCY, DispatchResult
from .fleet._coordinator import Coordinator
from .telemetry._otel import Telemetry

__all__ = ["AgentDispatchService", "EventStream", "Supervisor"]

T = TypeVar("T")
_Runner = LoopThread[_async.AgentDispatchService]

# Every client of this process, for the child of a fork; and, in a child, the parent's loops:
# kept, never run nor closed, so that nothing here touches the parent's selector or connections.
_CLIENTS: weakref.WeakSet[AgentDispatchService] = weakref.WeakSet()
_PARENTS: list[_Runner] = []


def _after_fork_in_child() -> None:
    for client in list(_CLIENTS):
        client._forget_parent()


os.register_at_fork(after_in_child=_after_fork_in_child)


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
        timeout: float = _async.DEFAULT_TIMEOUT,
        connect_timeout: float = CONNECT_TIMEOUT,
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
        telemetry: Telemetry | None = None,
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
        :param connect_timeout: seconds an attempt waits for its connection to open (with
            failover, at most a third of ``timeout``); one that does not open is tried again,
            elsewhere if there is an elsewhere, and did nothing.
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
            :meth:`ensure_dispatch` takes turns through (docs/fleets.md); not closed here (its
            connections on this client's loop are, with the client).
        :param telemetry: where spans and metrics go (a
            :class:`dispatch_client.telemetry.Telemetry`; OpenTelemetry's global setup when
            ``None``; docs/observability.md).
        """
        url, api_key, api_secret, token = from_environment(url, api_key, api_secret, token, urls=urls)
        self._make = functools.partial(
            _async.AgentDispatchService.open,
            url,
            api_key,
            api_secret,
            token=token,
            timeout=timeout,
            connect_timeout=connect_timeout,
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
            telemetry=telemetry,
        )
        self._timeout = timeout
        self._lock = threading.Lock()
        self._closed = False
        self._runner: _Runner | None = None
        self._finalizer: Callable[[], object] | None = None
        # Started here, so that bad options raise here; a forked child starts its own when first used.
        self._url = self._ready().service.url
        _CLIENTS.add(self)

    def _ready(self) -> _Runner:
        with self._lock:
            if self._closed:
                raise TwirpError(TwirpErrorCode.FAILED_PRECONDITION, "the client is closed")
            if self._runner is None:
                try:
                    runner = LoopThread(self._make, MARGIN)
                except RuntimeError as e:  # no thread can be started
                    raise TwirpError(
                        TwirpErrorCode.UNAVAILABLE, f"the client cannot start its loop: {e}"
                    ) from e
                self._runner = runner
                # Closed when collected or at exit, if close() was never called.
                self._finalizer = weakref.finalize(self, runner.stop)
            return self._runner

    def _forget_parent(self) -> None:
        """In the child of a fork: the parent's loop, thread and session are left to the parent."""
        self._lock = threading.Lock()  # another thread of the parent may have held it
        if self._runner is not None:
            # Its finalizer stays registered: in this process it returns at once (see LoopThread.stop).
            _PARENTS.append(self._runner)
            self._runner, self._finalizer = None, None

    @property
    def url(self) -> str:
        """The HTTP base URL calls go to."""
        return self._url

    def __repr__(self) -> str:
        return f"sync.AgentDispatchService(url={self._url!r})"

    def close(self) -> None:
        """Close the session and join the thread; closing twice is harmless."""
        with self._lock:
            self._closed = True
            finalizer = self._finalizer
        if finalizer is not None:
            finalizer()

    def __enter__(self) -> AgentDispatchService:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _call(
        self,
        call: Callable[[_async.AgentDispatchService], Coroutine[Any, Any, T]],
        timeout: float | None,
        *,
        acts: bool = False,
        bounded: bool = True,
    ) -> T:
        """``call`` on the loop thread, waited for until its deadline and MARGIN (``bounded``);
        unbounded for work made of bounded calls that has no deadline of its own."""
        limit = self._timeout if timeout is None else require_seconds("timeout", timeout)
        if self._closed:
            raise TwirpError(TwirpErrorCode.FAILED_PRECONDITION, "the client is closed")
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            runner = self._ready()
            return runner.run(call(runner.service), limit + MARGIN if bounded else None, acts=acts)
        raise TwirpError(
            TwirpErrorCode.FAILED_PRECONDITION,
            "a blocking call from a thread that runs an event loop would block it: use the async client",
        )

    def create_dispatch(
        self, req: CreateAgentDispatchRequest, *, timeout: float | None = None, request_id: str | None = None
    ) -> AgentDispatch:
        """See :meth:`dispatch_client.AgentDispatchService.create_dispatch`."""
        return self._call(
            lambda s: s.create_dispatch(req, timeout=timeout, request_id=request_id), timeout, acts=True
        )

    def delete_dispatch(
        self, dispatch_id: str, room_name: str, *, timeout: float | None = None, request_id: str | None = None
    ) -> AgentDispatch:
        """See :meth:`dispatch_client.AgentDispatchService.delete_dispatch`."""
        return self._call(
            lambda s: s.delete_dispatch(dispatch_id, room_name, timeout=timeout, request_id=request_id),
            timeout,
            acts=True,
        )

    def list_dispatch(
        self, room_name: str, *, timeout: float | None = None, request_id: str | None = None
    ) -> list[AgentDispatch]:
        """See :meth:`dispatch_client.AgentDispatchService.list_dispatch`."""
        return self._call(
            lambda s: s.list_dispatch(room_name, timeout=timeout, request_id=request_id), timeout
        )

    def get_dispatch(
        self, dispatch_id: str, room_name: str, *, timeout: float | None = None, request_id: str | None = None
    ) -> AgentDispatch | None:
        """See :meth:`dispatch_client.AgentDispatchService.get_dispatch`."""
        return self._call(
            lambda s: s.get_dispatch(dispatch_id, room_name, timeout=timeout, request_id=request_id), timeout
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
        return self._call(
            lambda s: s.wait_for_job(dispatch_id, room_name, until=until, timeout=timeout, grace=grace),
            timeout,
        )

    def ensure_dispatch(
        self, req: CreateAgentDispatchRequest, *, timeout: float | None = None
    ) -> AgentDispatch:
        """See :meth:`dispatch_client.AgentDispatchService.ensure_dispatch`."""
        return self._call(lambda s: s.ensure_dispatch(req, timeout=timeout), timeout, acts=True)

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

        ``on_result`` is called in the client's own thread, as each room ends. The wait for
        the whole has no bound of its own: each of its calls has its deadline.
        """
        return self._call(
            lambda s: s.dispatch_many(
                reqs,
                concurrency=concurrency,
                rate=rate,
                wait=wait,
                attempts=attempts,
                timeout=timeout,
                on_result=on_result,
            ),
            timeout,
            acts=True,
            bounded=False,
        )

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
        return self._call(
            lambda s: s.join_token(
                identity,
                room,
                agents=agents,
                name=name,
                metadata=metadata,
                attributes=attributes,
                ttl=ttl,
                timeout=timeout,
            ),
            timeout,
            acts=True,
        )
