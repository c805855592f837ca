"""One room as the stand-in keeps it: the store's record (sid, agents) and its node's dispatches."""

from __future__ import annotations

import copy
import dataclasses
import random

from .._generated.livekit import AgentDispatch, ParticipantInfo
from ._workers import DEPARTURE_TIMEOUT, TURN_PASSWORD_ALPHABET, TURN_PASSWORD_LENGTH, RoomInfo, new_id

__all__ = ["RoomRecord"]


@dataclasses.dataclass
class RoomRecord:
    """A room; times in Unix nanoseconds."""

    info: RoomInfo
    started_at: int  # when a node last started it
    dispatches: dict[str, AgentDispatch] = dataclasses.field(default_factory=dict)
    participants: dict[str, ParticipantInfo] = dataclasses.field(default_factory=dict)
    left_at: int | None = None  # when its last participant left
    returns_at: int | None = None  # when its agents are back on another node (its node was killed)

    @classmethod
    def new(cls, name: str, now: int, rng: random.Random, empty_timeout: int | None) -> RoomRecord:
        info = RoomInfo(
            name=name,
            sid=new_id("RM_", rng),
            created_at=now,
            empty_timeout=None if empty_timeout is None else empty_timeout / 1e9,
            turn_password=new_id("", rng, TURN_PASSWORD_LENGTH, TURN_PASSWORD_ALPHABET),
        )
        return cls(info=info, started_at=now)

    def past_timeout(self, now: int, empty_timeout: int | None) -> bool:
        """Whether it has stopped: nobody in it, and ``empty_timeout`` ns since it started while
        nobody ever joined, or ``DEPARTURE_TIMEOUT`` s since the last one left."""
        if empty_timeout is None or self.participants:
            return False
        if self.left_at is not None:
            return now - self.left_at >= DEPARTURE_TIMEOUT * 10**9
        return now - self.started_at >= empty_timeout

    def restart(self, now: int) -> set[str]:
        """Started again on another node: none of its dispatches (their ids are returned)."""
        gone = set(self.dispatches)
        self.dispatches, self.started_at = {}, now
        return gone

    def join(self, dispatch: AgentDispatch, participant: ParticipantInfo) -> None:
        """An agent sent by a job of ``dispatch`` joins, if the dispatch is still this room's."""
        if self.dispatches.get(dispatch.id) is dispatch:
            self.participants[participant.identity] = participant
            self.left_at = None

    def agents_of_leave(self, dispatch: AgentDispatch, now: int) -> None:
        """The agents the jobs of ``dispatch`` sent leave (their dispatch was deleted)."""
        had_agents = bool(self.participants)
        for job in dispatch.state.jobs if dispatch.state is not None else []:
            if job.state is not None:
                self.participants.pop(job.state.participant_identity, None)
        if had_agents and not self.participants:
            self.left_at = now

    def agent_leaves(self, identity: str, now: int) -> None:
        """The agent ``identity`` leaves (its worker died); a room it leaves empty no longer
        comes back by itself when its node was killed (nobody reconnects to it)."""
        if self.participants.pop(identity, None) is not None and not self.participants:
            self.left_at = now
            self.returns_at = None

    def agents_reconnect(self, at: int, rng: random.Random) -> None:
        """Its agents join again at ``at``: each in a new session, with a new participant sid."""
        self.returns_at = None
        for identity, gone in list(self.participants.items()):
            back = copy.deepcopy(gone)
            back.sid = new_id("PA_", rng)
            back.joined_at, back.joined_at_ms = at // 10**9, at // 10**6
            self.participants[identity] = back
