"""``dispatch-client token``: a join token for a participant, with the agents it sends for."""

from __future__ import annotations

import click

from .._generated.livekit import RoomAgentDispatch
from ..tokens import DEFAULT_JOIN_TTL, MIN_JOIN_TTL, participant_token
from .common import call, connection_options, run, settings

__all__ = ["token"]


@click.command()
@click.option("--room", required=True, help="Room the participant joins.")
@click.option("--identity", required=True, help="The participant's identity.")
@click.option(
    "--agent",
    "agent_names",
    multiple=True,
    metavar="NAME",
    help="Agent to send for when the participant joins; repeat for more.",
)
@click.option("--name", default=None, help="The participant's display name.")
@click.option(
    "--ttl",
    type=click.FloatRange(min=MIN_JOIN_TTL),
    default=DEFAULT_JOIN_TTL,
    show_default=True,
    help="Seconds the token is valid for.",
)
@connection_options
def token(
    room: str,
    identity: str,
    agent_names: tuple[str, ...],
    name: str | None,
    ttl: float,
    url: str | None,
    api_key: str | None,
    api_secret: str | None,
    timeout: float,
) -> None:
    """Print a token for a participant to join a room (the token only, on one line).

    With --agent, the token sends for the agents when the join starts the room; when the room
    is already running (it would ignore them) they are dispatched through the API first, so the
    server is called and --url is needed. Without --agent nothing is sent anywhere.
    """
    agents = [RoomAgentDispatch(agent_name=a) for a in agent_names]
    if not agents:
        if not api_key or not api_secret:
            raise click.UsageError(
                "missing --api-key or --api-secret: pass them or set LIVEKIT_API_KEY and LIVEKIT_API_SECRET"
            )

        async def sign() -> str:
            return participant_token(api_key, api_secret, identity=identity, room=room, name=name, ttl=ttl)

        click.echo(run(sign(), secret=api_secret))
        return
    conf = settings(url, api_key, api_secret, timeout)
    click.echo(call(conf, lambda s: s.join_token(identity, room, agents=agents, name=name, ttl=ttl)))
