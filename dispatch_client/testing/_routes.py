"""What livekit-server v1.13.5's HTTP layer does around Twirp: CORS, paths, health, Go's 404.

Its middleware runs in this order on every path: CORS (preflights are answered here,
every answer gets ``Vary: Origin``), a leading ``//`` made ``/``, the token check. Then
Go's ServeMux routes: ``/twirp/livekit.AgentDispatchService/``, ``/twirp/livekit.RoomService/``
and below to Twirp, the same paths without their final slash to a 307 redirect, ``/`` to the
health check ("OK"), anything else to Go's plain-text "404 page not found". (The real server
has more routes: its other Twirp services, ``/rtc``, ``/agent`` and, with ``--dev``, ``/debug/``.)
"""

from __future__ import annotations

from aiohttp import web

from ._twirp import SERVICES

__all__ = [
    "SERVICE_PATHS",
    "cors",
    "health",
    "not_found",
    "preflight",
    "redirect_to_service",
    "strip_double_slash",
]

SERVICE_PATHS = tuple(f"/twirp/{service}/" for service in SERVICES)


def strip_double_slash(path: str) -> str:
    """livekit-server drops one slash of a path that starts with two."""
    return path[1:] if path.startswith("//") else path


def preflight(request: web.Request) -> web.Response | None:
    """The CORS answer to a preflight request (any origin is allowed), else None."""
    origin = request.headers.get("Origin")
    method = request.headers.get("Access-Control-Request-Method")
    if request.method != "OPTIONS" or origin is None or method is None:
        return None
    headers = {
        "Vary": "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Methods": method.upper(),
        "Access-Control-Max-Age": "86400",
    }
    wanted = request.headers.get("Access-Control-Request-Headers")
    if wanted:
        headers["Access-Control-Allow-Headers"] = wanted
    return web.Response(status=204, headers=headers)


def cors(request: web.Request, response: web.StreamResponse) -> None:
    """The CORS headers of an answer to an actual request."""
    response.headers["Vary"] = "Origin"
    origin = request.headers.get("Origin")
    if origin is not None:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = "*"


def health() -> web.Response:
    return web.Response(text="OK")


def not_found() -> web.Response:
    """Go's http.NotFound."""
    return web.Response(
        status=404, text="404 page not found\n", headers={"X-Content-Type-Options": "nosniff"}
    )


def redirect_to_service(request: web.Request, service_path: str) -> web.Response:
    """Go's ServeMux sends a path lacking the final slash of a registered prefix there, with a 307."""
    location = service_path + (f"?{request.query_string}" if request.query_string else "")
    if request.method in ("GET", "HEAD"):
        body = f'<a href="{location}">Temporary Redirect</a>.\n\n'
        return web.Response(status=307, text=body, content_type="text/html", headers={"Location": location})
    return web.Response(status=307, headers={"Location": location})
