"""Send an agent to a room from a plain script, wait for it, and list the room's dispatches.

The blocking client (``dispatch_client.sync``) has the same calls as the async one, without
``await``. Run it with ``LIVEKIT_URL``, ``LIVEKIT_API_KEY`` and ``LIVEKIT_API_SECRET`` set::

    python examples/sync_script.py call-42 --agent support --wait 15

Exit status: 0 when the agent runs, 1 when no agent came, 2 when LiveKit could not be asked.
"""

from __future__ import annotations

import argparse
import sys

from dispatch_client import CreateAgentDispatchRequest, TwirpError
from dispatch_client.sync import AgentDispatchService


def main(argv: list[str] | None = None) -> int:
    """Dispatch, wait, list; the exit status says how it went."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("room")
    parser.add_argument("--agent", default="support")
    parser.add_argument("--wait", type=float, default=15.0, help="seconds to wait for the agent")
    args = parser.parse_args(argv)

    with AgentDispatchService(timeout=10) as dispatch:
        try:
            created = dispatch.ensure_dispatch(
                CreateAgentDispatchRequest(agent_name=args.agent, room=args.room)
            )
            print(f"dispatch {created.id} of {created.agent_name} in {args.room}")
            try:
                job = dispatch.wait_for_job(created.id, args.room, timeout=args.wait)
            except TwirpError as e:
                if e.wait_outcome is None:
                    raise
                print(f"no agent: {e.wait_outcome.value} ({e.message})")
                return 1
            identity = job.state.participant_identity if job.state is not None else ""
            print(f"agent running: job {job.id} as {identity}")
            for d in dispatch.list_dispatch(args.room):
                print(f"  {d.id}  {d.agent_name or '-'}")
        except TwirpError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
