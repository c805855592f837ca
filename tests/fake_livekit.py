"""A real HTTP server on 127.0.0.1 that answers AgentDispatchService the way livekit-server does.

It is built on LiveKit's own protocol classes (livekit-protocol, Google protobuf), not on
this project's code, so it checks our requests independently: bodies are parsed strictly
with ``json_format`` (unknown fields rejected), tokens are verified like livekit-server
verifies them, and answers are written as proto JSON with every field present.
Tests can replace the answer of the next calls with ``respond_with``.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import socket
import string
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import jwt
from aiohttp import web
from google.protobuf import json_format
from google.protobuf.message import Message
from livekit.protocol import agent_dispatch as pb

SERVICE_PREFIX = "/twirp/livekit.AgentDispatchService/"
API_KEY = "APIdispatchtests"
API_SECRET = "a-test-secret-that-is-long-enough-for-hs256-0123456789"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    claims: dict[str, object] | None = None


def twirp_error(code: str, msg: str, status: int, meta: dict[str, str] | None = None) -> web.Response:
    body: dict[str, object] = {"code": code, "msg": msg}
    if meta:
        body["meta"] = meta
    return web.json_response(body, status=status)


def answer(status: int, body: bytes | str, content_type: str = "text/plain", **headers: str) -> Handler:
    """A handler that answers with exactly this status, body and headers."""

    async def handler(request: web.Request) -> web.Response:
        raw = body.encode() if isinstance(body, str) else body
        return web.Response(status=status, body=raw, content_type=content_type, headers=headers)

    return handler


def late(seconds: float, then: Handler | None = None, started: asyncio.Event | None = None) -> Handler:
    """A handler that waits ``seconds`` (setting ``started`` first), then answers with ``then``."""

    async def handler(request: web.Request) -> web.StreamResponse:
        if started is not None:
            started.set()
        await asyncio.sleep(seconds)
        return await then(request) if then is not None else web.Response(text="late")

    return handler


def after_work(fake: FakeLiveKit, then: Handler) -> Handler:
    """A handler that lets ``fake`` do the request's work, then answers with ``then`` instead."""

    async def handler(request: web.Request) -> web.StreamResponse:
        await fake.serve(request)
        return await then(request)

    return handler


def unused_port() -> int:
    """A local port with nothing listening (closed again at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def to_json(msg: Message) -> str:
    return json_format.MessageToJson(
        msg, preserving_proto_field_name=True, always_print_fields_with_no_presence=True, indent=None
    )


@dataclass
class FakeLiveKit:
    api_key: str = API_KEY
    api_secret: str = API_SECRET
    requests: list[Recorded] = field(default_factory=list)
    rooms: dict[str, dict[str, pb.AgentDispatch]] = field(default_factory=dict)
    overrides: list[Handler] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    def respond_with(self, *handlers: Handler) -> None:
        """Answer the next len(handlers) requests with these handlers instead."""
        self.overrides.extend(handlers)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        rec = Recorded(request.method, request.path, dict(request.headers), body)
        self.requests.append(rec)
        if self.overrides:
            return await self.overrides.pop(0)(request)
        return await self.serve(request)

    async def serve(self, request: web.Request) -> web.StreamResponse:
        """The answer a request gets when no override is queued (it is not recorded again)."""
        body = await request.read()
        if request.method != "POST" or SERVICE_PREFIX not in request.path:
            return twirp_error("bad_route", f"no handler for {request.method} {request.path}", 404)
        if request.content_type != "application/json":
            return twirp_error("bad_route", "unexpected Content-Type", 404)
        method = request.path.rsplit("/", 1)[1]
        req_type = {
            "CreateDispatch": pb.CreateAgentDispatchRequest,
            "DeleteDispatch": pb.DeleteAgentDispatchRequest,
            "ListDispatch": pb.ListAgentDispatchRequest,
        }.get(method)
        if req_type is None:
            return twirp_error("bad_route", f"no method {method}", 404)
        try:
            req = json_format.Parse(body, req_type())
        except json_format.ParseError:
            return twirp_error("malformed", "the json request could not be decoded", 400)
        denied = self._authorize(request, self.requests[-1], req.room)
        if denied is not None:
            return denied
        if isinstance(req, pb.CreateAgentDispatchRequest):
            return self._create(req)
        if isinstance(req, pb.DeleteAgentDispatchRequest):
            return self._delete(req)
        return self._list(req)

    def _authorize(self, request: web.Request, rec: Recorded, room: str) -> web.Response | None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return web.Response(status=401, text="invalid authorization header")
        try:
            claims = jwt.decode(
                header[len("Bearer ") :],
                self.api_secret,
                algorithms=["HS256"],
                leeway=60,
                options={"require": ["exp", "iss"]},
            )
        except jwt.PyJWTError as e:
            return web.Response(status=401, text=f"invalid token: {e}")
        rec.claims = claims
        if claims["iss"] != self.api_key:
            return web.Response(status=401, text="invalid API key")
        video = claims.get("video") or {}
        if not (video.get("roomAdmin") is True and video.get("room") == room):
            return twirp_error("unauthenticated", "permissions denied", 401)
        return None

    def _create(self, req: pb.CreateAgentDispatchRequest) -> web.Response:
        alphabet = string.ascii_letters + string.digits
        dispatch = pb.AgentDispatch(
            id="AD_" + "".join(secrets.choice(alphabet) for _ in range(12)),
            agent_name=req.agent_name,
            room=req.room,
            metadata=req.metadata,
            restart_policy=req.restart_policy,
            deployment=req.deployment,
            attributes=dict(req.attributes),
            state=pb.AgentDispatchState(created_at=time.time_ns() + next(self._ids)),
        )
        self.rooms.setdefault(req.room, {})[dispatch.id] = dispatch
        return web.json_response(text=to_json(dispatch))

    def _delete(self, req: pb.DeleteAgentDispatchRequest) -> web.Response:
        dispatch = self.rooms.get(req.room, {}).pop(req.dispatch_id, None)
        if dispatch is None:
            return twirp_error("not_found", "dispatch ID not found", 404)
        dispatch.state.deleted_at = time.time_ns()
        return web.json_response(text=to_json(dispatch))

    def _list(self, req: pb.ListAgentDispatchRequest) -> web.Response:
        found = [
            d for d in self.rooms.get(req.room, {}).values() if not req.dispatch_id or d.id == req.dispatch_id
        ]
        return web.json_response(text=to_json(pb.ListAgentDispatchResponse(agent_dispatches=found)))
