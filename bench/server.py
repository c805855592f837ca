"""The benchmark's server: one process answering both Twirp encodings with canned bodies.

Every answer is encoded once at start-up, so a call costs the server the same whichever
client makes it: a dictionary lookup and a write. It prints its port on the first line of
stdout and serves until killed. ``POST /floor`` answers an empty body, for the floor.
"""

from __future__ import annotations

import asyncio
import socket
import sys

from aiohttp import web
from payloads import LARGE_ROOM, SMALL_ROOM, dispatch, list_response

JSON, BINARY = "application/json", "application/protobuf"


def answers() -> dict[tuple[str, str, bool], bytes]:
    """(method, content type, large room?) -> response body."""
    small, large, created = list_response(1), list_response(100), dispatch()
    table: dict[tuple[str, str, bool], bytes] = {}
    for index, content_type in enumerate((BINARY, JSON)):
        table["ListDispatch", content_type, False] = small[index]
        table["ListDispatch", content_type, True] = large[index]
        table["CreateDispatch", content_type, False] = created[index]
    return table


def make_app() -> web.Application:
    table = answers()
    large_marker = LARGE_ROOM.encode()
    assert large_marker not in SMALL_ROOM.encode()

    async def twirp(request: web.Request) -> web.Response:
        body = await request.read()
        key = (request.match_info["method"], request.content_type, large_marker in body)
        answer = table.get(key)
        if answer is None:
            return web.json_response({"code": "bad_route", "msg": f"no canned answer for {key}"}, status=404)
        return web.Response(body=answer, content_type=request.content_type)

    async def floor(request: web.Request) -> web.Response:
        await request.read()
        return web.Response()

    app = web.Application()
    app.router.add_post("/twirp/livekit.AgentDispatchService/{method}", twirp)
    app.router.add_post("/floor", floor)
    return app


async def serve() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    runner = web.AppRunner(make_app(), access_log=None)
    await runner.setup()
    await web.SockSite(runner, sock, backlog=1024).start()
    print(sock.getsockname()[1], flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        sys.exit(0)
