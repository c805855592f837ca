"""One process of the cluster's concurrency test: N concurrent ensure_dispatch calls for one room.

    python tests/cluster_ensure_process.py URL API_KEY API_SECRET ROOM AGENT_NAME N

Opens its connections, prints ``ready`` and waits for a line on stdin (so that all processes
start together), then prints one JSON line:
``{"ids": [...], "errors": [{"code", "outcome_unknown", "message"}, ...]}``.
"""

from __future__ import annotations

import asyncio
import sys

import orjson

import dispatch_client
from dispatch_client import CreateAgentDispatchRequest, TwirpError


async def run(url: str, key: str, secret: str, room: str, agent: str, n: int) -> dict[str, object]:
    ids: list[str] = []
    errors: list[dict[str, object]] = []
    async with dispatch_client.connect(url, key, secret, timeout=15) as svc:
        req = CreateAgentDispatchRequest(agent_name=agent, room=room)
        # Connections open and the codec warm before the start: the room store asked of another room.
        reads = svc._room_reads()
        await asyncio.gather(*(reads.room(f"{room}-warm-up", 5) for _ in range(n)))
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)

        async def one() -> None:
            try:
                ids.append((await svc.ensure_dispatch(req)).id)
            except TwirpError as e:
                errors.append({"code": e.code.value, "outcome_unknown": e.outcome_unknown, "message": str(e)})

        await asyncio.gather(*(one() for _ in range(n)))
    return {"ids": ids, "errors": errors}


def main(argv: list[str]) -> int:
    url, key, secret, room, agent, n = argv
    sys.stdout.write(orjson.dumps(asyncio.run(run(url, key, secret, room, agent, int(n)))).decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
