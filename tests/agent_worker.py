"""A real livekit-agents worker for the end-to-end tests, run as a subprocess.

    python tests/agent_worker.py URL API_KEY API_SECRET AGENT_NAME

It registers with livekit-server under AGENT_NAME and takes every job offered, then does what
the dispatch's metadata says (see :data:`MODES`). Each step is one line on stdout, which the
fixture in tests/agent_fixtures.py reads (``registered <worker id>`` first). SIGTERM or SIGINT
closes the worker: its jobs end and it leaves the server.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

from livekit.agents import AgentServer, JobContext, JobExecutorType, JobRequest

# What a job does, chosen by its dispatch's metadata (any other metadata: "stay").
# AGENT_WORKER_EXECUTOR ("thread" or "process"), AGENT_WORKER_IDLE (job runners kept ready)
# and AGENT_WORKER_LOG (a logging level) tune it.
STAY = "stay"  # join the room and stay until the job is ended from outside
FAIL = "fail"  # join the room, then raise: the framework reports the job as failed
FINISH = "finish"  # join the room, then end the job itself: reported as a success
REJECT = "reject"  # refuse the job when it is offered
MODES = (STAY, FAIL, FINISH, REJECT)
FAIL_MESSAGE = "agent_worker: failing as the dispatch's metadata asked"


def say(*words: object) -> None:
    print(*words, flush=True)


async def on_request(request: JobRequest) -> None:
    say("offered", request.job.id, request.job.dispatch_id, request.job.metadata or STAY)
    if request.job.metadata == REJECT:
        await request.reject()
        say("rejected", request.job.id)
        return
    await request.accept()
    say("accepted", request.job.id)


async def entrypoint(ctx: JobContext) -> None:
    mode = ctx.job.metadata if ctx.job.metadata in MODES else STAY
    job_id = ctx.job.id

    async def ended(reason: str) -> None:
        say("ended", job_id, reason)

    ctx.add_shutdown_callback(ended)
    await ctx.connect()
    say("joined", ctx.job.id, ctx.room.name, ctx.room.local_participant.identity, mode)
    if mode == FAIL:
        raise RuntimeError(FAIL_MESSAGE)
    if mode == FINISH:
        ctx.shutdown("finished as the dispatch's metadata asked")
        say("finished", ctx.job.id)


async def run(url: str, api_key: str, api_secret: str, agent_name: str) -> None:
    server = AgentServer(
        ws_url=url,
        api_key=api_key,
        api_secret=api_secret,
        # Jobs run in threads of this process: no process pool to start, quick to stop.
        job_executor_type=JobExecutorType(os.environ.get("AGENT_WORKER_EXECUTOR", "thread")),
        num_idle_processes=int(os.environ.get("AGENT_WORKER_IDLE", "0")),
        host="127.0.0.1",
        port=0,
        # The worker reports no load: the machine's CPU, busy with the rest of the suite, must not
        # make it tell the server it is full ("no servers available") and refuse jobs.
        load_fnc=lambda: 0.0,
        load_threshold=1.0,
        drain_timeout=2,
        shutdown_process_timeout=2.0,
    )
    server.rtc_session(entrypoint, agent_name=agent_name, on_request=on_request)
    server.on("worker_registered", lambda worker_id, info: say("registered", worker_id))
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    running = asyncio.create_task(server.run())
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
    await server.aclose()
    stopping.cancel()
    await running
    say("closed")


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    logging.basicConfig(
        level=os.environ.get("AGENT_WORKER_LOG", "INFO"),
        stream=sys.stderr,
        format="%(name)s %(levelname)s %(message)s",
    )
    asyncio.run(run(*argv))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
