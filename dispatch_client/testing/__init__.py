"""A local stand-in for livekit-server's AgentDispatchService, for trying the client and for tests.

    async with LocalDispatchServer() as server:
        async with server.connect() as dispatch:
            ...

``LocalCloud(["us", "eu"])`` runs several such servers as regions sharing one state, with
LiveKit Cloud's ``/settings/regions``, for failover tests. ``LocalCluster(2)`` runs nodes of
a self-hosted cluster sharing one room store, as livekit-server nodes sharing Redis, any of
which a test can kill (``NODE_LIVENESS`` and ``AGENT_RETURN`` are its default waits).

pytest users can enable ready-made fixtures with
``pytest_plugins = ["dispatch_client.testing.pytest_plugin"]`` (needs pytest-asyncio).

The limits the server checks, as livekit-server v1.13.5 does, in bytes: ``MAX_DEPLOYMENT_BYTES``
(64), ``MAX_METADATA_BYTES`` (512 KiB) and ``MAX_ATTRIBUTES_BYTES`` (64 KiB); ``MAX_BODY_BYTES``
(10 MiB) is the body limit of later releases, applied only with ``max_body_bytes=``.
``DEFAULT_API_KEY`` (``"devkey"``) is the API key a server accepts unless given another.
"""

from ._cloud import LocalCloud, Outage
from ._cluster import AGENT_RETURN, NODE_LIVENESS, LocalCluster, LocalNode
from ._limits import MAX_ATTRIBUTES_BYTES, MAX_DEPLOYMENT_BYTES, MAX_METADATA_BYTES
from ._server import DEFAULT_API_KEY, MAX_BODY_BYTES, LocalDispatchServer
from ._workers import SimulatedWorker, WorkerAnswer

__all__ = [
    "AGENT_RETURN",
    "DEFAULT_API_KEY",
    "MAX_ATTRIBUTES_BYTES",
    "MAX_BODY_BYTES",
    "MAX_DEPLOYMENT_BYTES",
    "MAX_METADATA_BYTES",
    "NODE_LIVENESS",
    "LocalCloud",
    "LocalCluster",
    "LocalDispatchServer",
    "LocalNode",
    "Outage",
    "SimulatedWorker",
    "WorkerAnswer",
]
