"""One process of a fleet test: concurrent ensure_dispatch calls with a RedisCoordinator.

    python tests/fleet_ensure_process.py URL API_KEY API_SECRET AGENT_NAME CALLS ROOMS REDIS_URL TIMEOUT

``ROOMS`` is comma-separated; call i goes to room i mod len(ROOMS). Opens its connections,
prints ``ready`` and waits for a line on stdin (so that all processes start together), prints
``sent`` once the calls are under way, then one JSON line:
``{"ids": {room: [...]}, "errors": [{"code", "outcome_unknown", "message"}], "other": [...]}``
where ``other`` lists any exception that is not a TwirpError.
"""

from __future__ import annotations

import asyncio
import sys

import orjson

import dispatch_client
from dispatch_client import CreateAgentDispatchRequest, TwirpError
from dispatch_client.fleet import RedisCoordinator


async def run(argv: list[str]) -> dict[str, object]:
    url, key, secret, agent, calls, rooms_arg, redis_url, timeout = argv
    rooms = rooms_arg.split(",")
    ids: dict[str, list[str]] = {room: [] for room in rooms}
    errors: list[dict[str, object]] = []
    other: list[str] = []
    async with (
        RedisCoordinator(redis_url) as coordinator,
        dispatch_client.connect(url, key, secret, timeout=float(timeout), coordinator=coordinator) as svc,
    ):
        # Connections open before the start: the room store asked of another room, Redis pinged.
        await svc._room_reads().room(f"{rooms[0]}-warm-up", 5)
        await (await coordinator.acquire("warm-up", asyncio.get_running_loop().time() + 5)).release()
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)

        async def one(room: str) -> None:
            try:
                ids[room].append(
                    (await svc.ensure_dispatch(CreateAgentDispatchRequest(agent_name=agent, room=room))).id
                )
            except TwirpError as e:
                errors.append({"code": e.code.value, "outcome_unknown": e.outcome_unknown, "message": str(e)})
            except Exception as e:  # what the test asserts never happens
                other.append(repr(e))

        tasks = [asyncio.create_task(one(rooms[i % len(rooms)])) for i in range(int(calls))]
        await asyncio.sleep(0)
        print("sent", flush=True)
        await asyncio.gather(*tasks)
    return {"ids": ids, "errors": errors, "other": other}


if __name__ == "__main__":
    sys.stdout.write(orjson.dumps(asyncio.run(run(sys.argv[1:]))).decode() + "\n")
