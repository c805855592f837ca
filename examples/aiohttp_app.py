"""An aiohttp application that sends an AI agent to every incoming call.

``POST /calls/{room}`` makes sure the room has a dispatch of the ``support`` agent
(``ensure_dispatch``: asking twice leaves one dispatch) and waits until a worker runs its job
(``wait_for_job``). It answers 200 with the agent's identity, 503 when no agent came, and 502
when LiveKit could not be reached. One ``AgentDispatchService`` serves the whole application:
made at startup, closed at cleanup.

Run it with ``LIVEKIT_URL``, ``LIVEKIT_API_KEY`` and ``LIVEKIT_API_SECRET`` set::

    python examples/aiohttp_app.py            # listens on http://127.0.0.1:8080
    curl -X POST http://127.0.0.1:8080/calls/call-42
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from dispatch_client import AgentDispatchService, CreateAgentDispatchRequest, TwirpError

DISPATCH = web.AppKey("dispatch", AgentDispatchService)
AGENT_NAME = web.AppKey("agent_name", str)
AGENT_WAIT = web.AppKey("agent_wait", float)


async def dispatch_service(app: web.Application) -> AsyncIterator[None]:
    """The application's one client: settings from LIVEKIT_URL, LIVEKIT_API_KEY, LIVEKIT_API_SECRET."""
    service = AgentDispatchService.open(timeout=10)
    app[DISPATCH] = service
    yield
    await service.aclose()


async def start_call(request: web.Request) -> web.Response:
    """Send the agent to the call's room and wait until it runs."""
    room = request.match_info["room"]
    service = request.app[DISPATCH]
    req = CreateAgentDispatchRequest(agent_name=request.app[AGENT_NAME], room=room)
    try:
        dispatch = await service.ensure_dispatch(req)
        job = await service.wait_for_job(dispatch.id, room, timeout=request.app[AGENT_WAIT])
    except TwirpError as e:
        if e.wait_outcome is not None:  # the dispatch is there, but no agent runs it
            return web.json_response({"room": room, "agent": None, "why": e.wait_outcome.value}, status=503)
        return web.json_response({"room": room, "error": str(e)}, status=502)
    identity = job.state.participant_identity if job.state is not None else ""
    return web.json_response({"room": room, "dispatch_id": dispatch.id, "job_id": job.id, "agent": identity})


def make_app(*, agent_name: str = "support", agent_wait: float = 15.0) -> web.Application:
    """The application: ``POST /calls/{room}``, and the client's lifetime tied to the app's."""
    app = web.Application()
    app[AGENT_NAME] = agent_name
    app[AGENT_WAIT] = agent_wait
    app.cleanup_ctx.append(dispatch_service)
    app.router.add_post("/calls/{room}", start_call)
    return app


if __name__ == "__main__":
    web.run_app(make_app(), host="127.0.0.1", port=8080)
