"""The same steps against the real cluster and against LocalCluster: raw Twirp calls, each side's nodes.

A step's record keeps what must be alike on both sides (status, Twirp code and message, the
shape of what came back) and leaves out what may differ (ids, times, how long it took).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

import aiohttp
import jwt
from livekit_cluster import Cluster
from livekit_server import API_KEY, API_SECRET, unique_room

from dispatch_client.testing import LocalCluster

DISPATCH = "/twirp/livekit.AgentDispatchService/"
ROOMS = "/twirp/livekit.RoomService/"
PLACE_TRIES = 40
NO_RESPONSE = (503, "unavailable", "twirp error unknown: no response from servers")
_ID = re.compile("(AD|AJ|AW|RM|PA)_[2-9A-HJ-NP-Za-km-z]{12}")
_TIMES = {"joined_at": 10, "joined_at_ms": 13, "creation_time": 10, "creation_time_ms": 13, "created_at": 19}


def token(video: dict[str, object]) -> str:
    claims = {"iss": API_KEY, "nbf": int(time.time()) - 10, "exp": int(time.time()) + 3600, "video": video}
    return jwt.encode(claims, API_SECRET, algorithm="HS256")


@dataclasses.dataclass(frozen=True)
class Answer:
    status: int
    code: str | None
    msg: str | None
    body: dict[str, object]

    @property
    def outcome(self) -> tuple[int, str | None, str | None]:
        return self.status, self.code, self.msg

    def items(self, key: str) -> list[dict[str, object]]:
        found = self.body.get(key)
        assert isinstance(found, list), self
        return [item for item in found if isinstance(item, dict)]


class Side(Protocol):
    """A cluster of either kind, seen through the indexes of its nodes."""

    def url(self, index: int) -> str: ...

    def node_index_of(self, room: str) -> int | None: ...

    async def kill(self, index: int) -> None: ...


class RealSide:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    def url(self, index: int) -> str:
        return self.cluster.nodes[index].url

    def node_index_of(self, room: str) -> int | None:
        try:
            return self.cluster.node_of(room).index
        except AssertionError:  # on no node, or on one that is not running
            return None

    async def kill(self, index: int) -> None:
        await asyncio.to_thread(self.cluster.nodes[index].kill)


class LocalSide:
    def __init__(self, cluster: LocalCluster) -> None:
        self.cluster = cluster

    def url(self, index: int) -> str:
        return self.cluster.nodes[index].url

    def node_index_of(self, room: str) -> int | None:
        node = self.cluster.node_of(room)
        return None if node is None else node.index

    async def kill(self, index: int) -> None:
        await self.cluster.nodes[index].kill()


class Client:
    """Raw Twirp calls to one node of a side, with the tokens these tests need."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self._session = session
        self._url = url

    async def _post(self, path: str, body: dict[str, object], bearer: str) -> Answer:
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {bearer}"}
        async with self._session.post(self._url + path, data=json.dumps(body), headers=headers) as resp:
            data = json.loads(await resp.read())
        assert isinstance(data, dict)
        code, msg = data.get("code"), data.get("msg")
        return Answer(resp.status, _text(code), _text(msg), data)

    async def create(
        self, room: str, agent_name: str, metadata: str = "", attributes: dict[str, str] | None = None
    ) -> Answer:
        body: dict[str, object] = {"room": room, "agent_name": agent_name, "metadata": metadata}
        body["attributes"] = attributes or {}
        return await self._post(DISPATCH + "CreateDispatch", body, _admin(room))

    async def list(self, room: str, dispatch_id: str = "") -> Answer:
        body: dict[str, object] = {"room": room, "dispatch_id": dispatch_id}
        return await self._post(DISPATCH + "ListDispatch", body, _admin(room))

    async def delete(self, room: str, dispatch_id: str) -> Answer:
        body: dict[str, object] = {"room": room, "dispatch_id": dispatch_id}
        return await self._post(DISPATCH + "DeleteDispatch", body, _admin(room))

    async def rooms(self, *names: str) -> Answer:
        return await self._post(ROOMS + "ListRooms", {"names": list(names)}, token({"roomList": True}))

    async def participants(self, room: str) -> Answer:
        return await self._post(ROOMS + "ListParticipants", {"room": room}, _admin(room))


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _admin(room: str) -> str:
    return token({"roomAdmin": True, "room": room})


def agent_names(answer: Answer) -> list[str]:
    """The agent names of a list's dispatches, sorted (the real server lists in map order)."""
    return sorted(str(d["agent_name"]) for d in answer.items("agent_dispatches"))


async def room_on(side: Side, client: Client, index: int, prefix: str) -> str:
    """A new room, started by a create, that landed on node ``index`` (a new room lands on a
    node drawn at random: rooms are made until one lands there). Its one API dispatch is of
    an agent no worker serves."""
    for _ in range(PLACE_TRIES):
        room = unique_room(prefix)
        made = await client.create(room, "placing")
        assert made.status == 200, made
        if side.node_index_of(room) == index:
            return room
    raise AssertionError(f"no room of {PLACE_TRIES} landed on node {index}")


async def until(what: str, check: Callable[[], Awaitable[Answer | None]], timeout: float) -> Answer:
    """The first answer ``check`` gives that is not None, polling until ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        found = await check()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        await asyncio.sleep(0.05)


def shape(obj: object, key: str = "") -> object:
    """``obj`` with ids, times and the TURN password replaced by what they must look like."""
    if isinstance(obj, dict):
        return {k: shape(v, k) for k, v in obj.items()}
    if isinstance(obj, list):
        return [shape(v) for v in obj]
    if key == "version" and isinstance(obj, int):
        return "<update count>"  # a participant's: 2 or 3 seen for the same steps
    if isinstance(obj, str):
        if key in _TIMES and re.fullmatch(f"[0-9]{{{_TIMES[key]}}}", obj):
            return f"<{_TIMES[key]} digits>"
        if key == "turn_password" and re.fullmatch("[0-9A-Za-z]{43,44}", obj):
            return "<43 or 44 alphanumerics>"
        return _ID.sub(lambda m: m.group(1) + "_<12 base57>", obj)
    return obj


def runs(outcomes: list[tuple[int, str | None, str | None]]) -> list[tuple[int, str | None, str | None]]:
    """``outcomes`` with repeats in a row made one: how many 503s come before a 200 is timing."""
    return [o for i, o in enumerate(outcomes) if i == 0 or outcomes[i - 1] != o]


def active(answer: Answer) -> Answer | None:
    """A ListParticipants answer whose participants are there and all ACTIVE, else None."""
    found = answer.items("participants")
    return answer if found and all(p.get("state") == "ACTIVE" for p in found) else None


class Clock:
    """A clock for the stand-in: Unix nanoseconds, from the real time, moved on only by the test."""

    def __init__(self) -> None:
        self.now = time.time_ns()

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += round(seconds * 1e9)
