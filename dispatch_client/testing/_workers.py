"""Simulated agent workers: the jobs livekit-server v1.13.5 shows for a dispatch, without a worker process.

What the real server does, as tests/test_e2e_jobs.py sees it with a livekit-agents worker:

- a dispatch gets a job only when a worker registered under its agent name is there when the
  dispatch is made (the job request goes out once; a worker that registers later gets none);
- the job is offered to the worker and shows in the dispatch's ``state.jobs`` only once the
  worker has answered. It is never seen as ``JS_PENDING``: the server stamps it ``JS_RUNNING``
  (``started_at`` = ``updated_at``) before the offer, and keeps that snapshot, whatever the
  job does later (the agent finishing, failing or leaving the room does not change it);
- a worker that accepts gives the participant identity (livekit-agents: ``agent-`` and the
  job id); one that rejects leaves a job ``JS_SUCCESS`` with ``ended_at`` = ``started_at``
  and no identity; one that never answers leaves no job (the server gives up after 10 s);
- a worker that accepts sends its agent into the room: a participant whose identity is the
  job's, of kind ``AGENT``, with the attributes ``lk.agent_name`` and ``lk.agent.name`` (the
  agent name; the dispatch's attributes are not among them); it leaves when its dispatch is
  deleted;
- a worker that dies (its process killed) takes its agents out of the rooms, while their jobs
  keep showing ``JS_RUNNING``, with no error text: the dispatch alone cannot tell;
- ids: jobs ``AJ_``, workers ``AW_``, rooms ``RM_``, participants ``PA_``, each with 12
  base57 characters.
"""

from __future__ import annotations

import copy
import dataclasses
import enum
import random
from collections.abc import Callable

from .._generated.livekit import (
    AgentDispatch,
    ClientInfoCapability,
    Codec,
    Job,
    JobState,
    JobStatus,
    JobType,
    ParticipantInfo,
    ParticipantInfoKind,
    ParticipantInfoState,
    ParticipantPermission,
    Room,
)

__all__ = [
    "ENABLED_CODECS",
    "TURN_PASSWORD_ALPHABET",
    "SimulatedWorker",
    "WorkerAnswer",
    "WorkerPool",
    "agent_participant",
    "new_id",
    "room_snapshot",
]

ID_LENGTH = 12
ID_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
DEPARTURE_TIMEOUT = 20  # livekit-server's room.departure_timeout, in seconds
TURN_PASSWORD_LENGTH = 43
TURN_PASSWORD_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# The codecs livekit-server v1.13.5 --dev lists in a room's snapshot, in its order.
ENABLED_CODECS = (
    "audio/PCMU",
    "audio/PCMA",
    "audio/opus",
    "audio/red",
    "video/VP8",
    "video/H264",
    "video/VP9",
    "video/AV1",
    "video/H265",
    "video/rtx",
)


def new_id(prefix: str, rng: random.Random, length: int = ID_LENGTH, alphabet: str = ID_ALPHABET) -> str:
    return prefix + "".join(rng.choice(alphabet) for _ in range(length))


class WorkerAnswer(str, enum.Enum):
    """What a simulated worker answers when a job is offered."""

    ACCEPT = "accept"  # the job shows JS_RUNNING, with the agent's participant identity
    REJECT = "reject"  # the job shows JS_SUCCESS, ended as it started, no identity
    IGNORE = "ignore"  # no answer: the dispatch never gets a job


@dataclasses.dataclass(frozen=True)
class SimulatedWorker:
    """A worker registered under ``agent_name``; ``worker_id`` is what its jobs carry."""

    agent_name: str
    worker_id: str
    delay: float
    answer: WorkerAnswer


@dataclasses.dataclass
class _Launch:
    worker: SimulatedWorker
    dispatch: AgentDispatch
    job: Job
    due: int  # Unix nanoseconds at which the answer is in


@dataclasses.dataclass(frozen=True)
class RoomInfo:
    """What a job's room snapshot holds of the stand-in's room."""

    name: str
    sid: str
    created_at: int  # Unix nanoseconds
    empty_timeout: float | None
    turn_password: str


# Called when an agent joins: the dispatch whose job sent it, and its participant.
OnJoin = Callable[[AgentDispatch, ParticipantInfo], None]


class WorkerPool:
    """The registered simulated workers and the job offers they have not answered yet.

    ``on_join`` hears of every agent an accepted job sends into its room.
    """

    def __init__(self, *, clock: Callable[[], int], rng: random.Random) -> None:
        self._clock = clock
        self._rng = rng
        self._workers: list[SimulatedWorker] = []
        self._launches: list[_Launch] = []
        self._sent: dict[str, list[tuple[str, str]]] = {}  # worker id -> (room, identity) of its agents
        self.on_join: OnJoin | None = None

    def add(self, agent_name: str, *, delay: float, answer: WorkerAnswer) -> SimulatedWorker:
        worker = SimulatedWorker(agent_name, new_id("AW_", self._rng), delay, WorkerAnswer(answer))
        self._workers.append(worker)
        return worker

    def remove(self, worker: SimulatedWorker) -> bool:
        """Unregister ``worker``; offers it has not answered yet go unanswered (no job)."""
        self.settle()
        if worker not in self._workers:
            return False
        self._workers.remove(worker)
        self._launches = [launch for launch in self._launches if launch.worker is not worker]
        return True

    def kill(self, worker: SimulatedWorker) -> list[tuple[str, str]] | None:
        """The worker dies: unregistered (see :meth:`remove`); the (room, identity) of the agents it
        sent, which go with it, or None when it was not registered."""
        if not self.remove(worker):
            return None
        return self._sent.pop(worker.worker_id, [])

    def workers(self) -> list[SimulatedWorker]:
        return list(self._workers)

    def launch(self, room: RoomInfo, dispatch: AgentDispatch) -> None:
        """Offer a job of ``dispatch`` to a worker of its agent name, if one is registered now."""
        candidates = [w for w in self._workers if w.agent_name == dispatch.agent_name]
        if not candidates:
            return
        worker = self._rng.choice(candidates)
        if worker.answer is WorkerAnswer.IGNORE:
            return
        job = Job(
            id=new_id("AJ_", self._rng),
            dispatch_id=dispatch.id,
            type=JobType.JT_ROOM,
            room=room_snapshot(room),
            metadata=dispatch.metadata,
            agent_name=dispatch.agent_name,
        )
        self._launches.append(_Launch(worker, dispatch, job, self._clock() + round(worker.delay * 1e9)))

    def settle(self) -> None:
        """Put every job whose worker has answered by now into its dispatch."""
        now = self._clock()
        due = [launch for launch in self._launches if launch.due <= now]
        self._launches = [launch for launch in self._launches if launch.due > now]
        for launch in sorted(due, key=lambda launch: launch.due):
            launch.job.state = _answered(launch)
            if launch.dispatch.state is not None:
                launch.dispatch.state.jobs.append(copy.deepcopy(launch.job))
            identity = launch.job.state.participant_identity
            if identity and self.on_join is not None:
                joined = agent_participant(identity, launch.dispatch.agent_name, launch.due, self._rng)
                self._sent.setdefault(launch.worker.worker_id, []).append((launch.dispatch.room, identity))
                self.on_join(launch.dispatch, joined)

    def forget(self, dispatch_ids: set[str]) -> None:
        """Drop the offers of dispatches that are gone (deleted, or their room closed)."""
        self._launches = [launch for launch in self._launches if launch.dispatch.id not in dispatch_ids]


def _answered(launch: _Launch) -> JobState:
    at = launch.due
    if launch.worker.answer is WorkerAnswer.REJECT:
        return JobState(
            status=JobStatus.JS_SUCCESS,
            started_at=at,
            ended_at=at,
            updated_at=at,
            worker_id=launch.worker.worker_id,
        )
    return JobState(
        status=JobStatus.JS_RUNNING,
        started_at=at,
        updated_at=at,
        participant_identity="agent-" + launch.job.id,
        worker_id=launch.worker.worker_id,
    )


def agent_participant(identity: str, agent_name: str, at: int, rng: random.Random) -> ParticipantInfo:
    """The participant of an agent that joined at ``at`` (Unix ns), as livekit-server v1.13.5
    lists one sent by a livekit-agents 1.8 worker (its SDK's protocol and capabilities)."""
    return ParticipantInfo(
        sid=new_id("PA_", rng),
        identity=identity,
        state=ParticipantInfoState.ACTIVE,
        joined_at=at // 10**9,
        joined_at_ms=at // 10**6,
        version=2,
        permission=ParticipantPermission(
            can_subscribe=True, can_publish=True, can_publish_data=True, can_update_metadata=True, agent=True
        ),
        kind=ParticipantInfoKind.AGENT,
        attributes={"lk.agent.name": agent_name, "lk.agent_name": agent_name},
        client_protocol=2,
        capabilities=[
            ClientInfoCapability.CAP_PACKET_TRAILER,
            ClientInfoCapability.CAP_COMPRESSION_DEFLATE_RAW,
        ],
    )


def room_snapshot(room: RoomInfo) -> Room:
    """The room as livekit-server shows it in a job and in RoomService's ListRooms."""
    return Room(
        sid=room.sid,
        name=room.name,
        empty_timeout=0 if room.empty_timeout is None else round(room.empty_timeout),
        departure_timeout=DEPARTURE_TIMEOUT,
        creation_time=room.created_at // 10**9,
        creation_time_ms=room.created_at // 10**6,
        turn_password=room.turn_password,
        enabled_codecs=[Codec(mime=mime) for mime in ENABLED_CODECS],
    )
