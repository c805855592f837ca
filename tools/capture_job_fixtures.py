"""Record the bodies livekit-server writes for dispatches whose jobs a real agent worker ran.

python tools/capture_job_fixtures.py    writes tests/fixtures/livekit-server-<version>/jobs_*.json

It runs the real livekit-server as the end-to-end tests do, and tests/agent_worker.py (livekit-agents)
registered under AGENT_NAME; one dispatch per mode of that worker (stay: running; finish and fail:
the job ended by the agent; reject: refused), each in a room of its own. Once every job shows, it
records the get (ListDispatch with the id) of each and the list of the first room, exactly as they
came, with jobs_manifest.json (what was sent, when, the versions) and a section of the README.
Takes about 15 s (the worker starts, and the first job of a server shows after about 5 s).
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from agent_fixtures import job_of, start_worker, stop_worker  # noqa: E402
from e2e_fixture_spec import FIXTURE_DIR  # noqa: E402
from e2e_helpers import post, token  # noqa: E402
from livekit_server import VERSION, RealServer, start  # noqa: E402

import dispatch_client  # noqa: E402
from dispatch_client import CreateAgentDispatchRequest  # noqa: E402

AGENT_NAME = "fixture-agent"
MODES = ("stay", "finish", "fail", "reject")
MANIFEST = FIXTURE_DIR / "jobs_manifest.json"
README = FIXTURE_DIR / "README.md"
SECTION = "## Jobs run by a real agent worker (tools/capture_job_fixtures.py)"


async def capture(server: RealServer) -> dict[str, object]:
    exchanges: dict[str, object] = {}
    async with dispatch_client.connect(server.url, server.api_key, server.api_secret) as svc:
        made = {}
        for mode in MODES:
            room = f"fixture-jobs-{mode}"
            req = CreateAgentDispatchRequest(agent_name=AGENT_NAME, room=room, metadata=mode)
            made[mode] = await job_of(server, await svc.create_dispatch(req), timeout=20)
        await asyncio.sleep(1.0)  # the finishing and failing agents have left by now
    async with aiohttp.ClientSession() as session:
        for mode, dispatch in made.items():
            sent = {"room": dispatch.room, "dispatch_id": dispatch.id}
            bearer = token(dispatch.room, key=server.api_key, secret=server.api_secret)
            answer = await post(session, server.url, "ListDispatch", sent, bearer=bearer)
            name = f"jobs_get_{mode}.json"
            (FIXTURE_DIR / name).write_bytes(answer.body)
            exchanges[name] = {"method": "ListDispatch", "sent": sent, "status": answer.status}
        room = made["stay"].room
        bearer = token(room, key=server.api_key, secret=server.api_secret)
        answer = await post(session, server.url, "ListDispatch", {"room": room}, bearer=bearer)
        (FIXTURE_DIR / "jobs_list.json").write_bytes(answer.body)
        exchanges["jobs_list.json"] = {
            "method": "ListDispatch",
            "sent": {"room": room},
            "status": answer.status,
        }
    return exchanges


def readme_section(worker_id: str) -> str:
    return f"""{SECTION}

`jobs_*.json` are ListDispatch answers of livekit-server {VERSION} for dispatches of agent
`{AGENT_NAME}` whose jobs a real worker ran: tests/agent_worker.py on livekit-agents
{version("livekit-agents")} (livekit {version("livekit")}, the rtc SDK), worker `{worker_id}`. The
dispatch's metadata chose what the job did: `stay` (the agent stays in the room), `finish` (it
ends the job itself), `fail` (its entrypoint raises), `reject` (the offer is refused).
`jobs_get_<mode>.json` is the get of each, a second after its job showed; `jobs_list.json` the
list of the `stay` room (with the room's default dispatch, which has no job).
`jobs_manifest.json` holds what was sent. What they show: every accepted job is `JS_RUNNING`
(never `JS_PENDING`), including the finished and failed ones (the server keeps the snapshot
taken when the worker accepted), and the refused job is `JS_SUCCESS` with `ended_at` =
`started_at` and no participant identity.
"""


def main() -> None:
    started_ns = time.time_ns()
    with tempfile.TemporaryDirectory() as tmp, start(Path(tmp)) as server:
        worker = start_worker(server, AGENT_NAME, Path(tmp))
        try:
            exchanges = asyncio.run(capture(server))
        finally:
            stop_worker(worker)
    manifest = {
        "server": f"livekit-server {VERSION}",
        "worker": f"tests/agent_worker.py, livekit-agents {version('livekit-agents')}",
        "captured_ns": [started_ns, time.time_ns()],
        "exchanges": exchanges,
    }
    MANIFEST.write_text(json.dumps(manifest, indent=2) + "\n")
    text = README.read_text()
    text = text.split("\n" + SECTION)[0].rstrip("\n") + "\n\n" + readme_section(worker.worker.worker_id)
    README.write_text(text)
    print(f"wrote {len(exchanges)} bodies, {MANIFEST.name} and a README section to {FIXTURE_DIR}")


if __name__ == "__main__":
    main()
