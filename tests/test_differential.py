"""The stand-in against the real livekit-server v1.13.5: the same raw requests to both, the answers compared.

Every case of tests/differential_cases.py goes to both servers in a room named alike (they
keep separate state). Compared: HTTP status, content type, the headers below, Twirp
code, message and meta, plain-text bodies, and decoded messages with ids and times
masked and lists sorted (the real server lists in map order). Exactly the cases in
KNOWN_DIFFERENCES may differ: a new difference fails, and so does a known one that is gone.

Not compared: the JSON's white space. This livekit-server build writes ``", "`` between
fields (Go's protojson varies its spacing from build to build on purpose, so no client may
rely on it); the stand-in writes none. Nor is timing, except that of the deadline case.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import betterproto2
import jwt
import pytest
from differential_cases import CASES, SERVICE, Case, Req, claims
from livekit_server import API_KEY, API_SECRET, RealServer, start, unique_room

from dispatch_client import AgentDispatch, ListAgentDispatchResponse
from dispatch_client._generated.livekit import ListParticipantsResponse, ListRoomsResponse
from dispatch_client.codec import encode
from dispatch_client.testing import LocalDispatchServer
from dispatch_client.testing._state import ID_ALPHABET

# Case name -> why the stand-in answers otherwise.
KNOWN_DIFFERENCES: dict[str, str] = {
    "other_room_service_method": "of RoomService the stand-in serves only ListRooms and ListParticipants",
    "egress_service": "the stand-in serves AgentDispatchService and two RoomService reads only; "
    "livekit-server's other Twirp services (Egress, Ingress, SIP) answer there",
}
COMPARED_HEADERS = (
    "Vary",
    "Location",
    "X-Content-Type-Options",
    "Access-Control-Allow-Origin",
    "Access-Control-Allow-Methods",
    "Access-Control-Allow-Headers",
    "Access-Control-Expose-Headers",
    "Access-Control-Max-Age",
)
DISPATCH_ID = re.compile(f"AD_[{ID_ALPHABET}]{{12}}")
OTHER_ID = re.compile(f"(RM|PA)_[{ID_ALPHABET}]{{12}}")
RESPONSES: dict[str, type[betterproto2.Message]] = {
    "ListDispatch": ListAgentDispatchResponse,
    "ListRooms": ListRoomsResponse,
    "ListParticipants": ListParticipantsResponse,
}
RUN = unique_room("diff")
Answer = dict[str, object]


@pytest.fixture
async def local() -> AsyncIterator[LocalDispatchServer]:
    # A shorter wait for rooms that are not running than the real server's 3 s (the answer
    # is the same), still longer than the deadline case's 300 ms.
    async with LocalDispatchServer(API_KEY, API_SECRET, not_running_wait=1.0) as server:
        yield server


def _mask(obj: object) -> object:
    """Ids, creation times and secrets replaced by what they must look like; lists sorted."""
    if isinstance(obj, dict):
        out = {k: _mask(v) for k, v in obj.items()}
        if isinstance(out.get("id"), str) and DISPATCH_ID.fullmatch(str(out["id"])):
            out["id"] = "<AD_ + 12 base57>"
        created = out.get("created_at")
        if isinstance(created, str) and created.isdigit() and int(created) > 1_700_000_000 * 10**9:
            out["created_at"] = "<now in ns>"
        sid = out.get("sid")
        if isinstance(sid, str) and OTHER_ID.fullmatch(sid):
            out["sid"] = sid[:3] + "<12 base57>"
        for key, digits in (("creation_time", 10), ("creation_time_ms", 13)):
            if isinstance(out.get(key), str) and re.fullmatch(f"[0-9]{{{digits}}}", str(out[key])):
                out[key] = f"<{digits} digits>"
        if isinstance(out.get("turn_password"), str) and re.fullmatch(
            "[0-9A-Za-z]{43,44}", str(out["turn_password"])
        ):
            out["turn_password"] = "<43 or 44 alphanumerics>"
        return out
    if isinstance(obj, list):
        return sorted((_mask(v) for v in obj), key=lambda v: json.dumps(v, sort_keys=True))
    return obj


def _decode(method: str, content_type: str, body: bytes) -> object:
    if content_type.startswith("application/protobuf"):  # shown as the JSON of the same message
        cls = RESPONSES.get(method, AgentDispatch)
        return json.loads(encode(cls().parse(body), emit_unpopulated=True))
    if content_type.startswith("application/json"):
        try:
            return json.loads(body)
        except ValueError:
            return {"undecodable": body.decode(errors="replace")}
    return body.decode(errors="replace")


async def _send(
    session: aiohttp.ClientSession, base: str, room: str, req: Req, ids: list[str], token: str
) -> Answer:
    def fill(text: str) -> str:
        return text.replace("{room}", room).replace("{id}", ids[0] if ids else "").replace("{token}", token)

    path = fill(req.path if req.path is not None else req.service + req.method)
    body = fill(req.body) if isinstance(req.body, str) else req.body.replace(b"{room}", room.encode())
    if isinstance(req.body, bytes) and b"{room}" in req.body:  # a protobuf string: fix its length byte
        body = req.body.replace(b"\x06{room}", bytes([len(room)]) + room.encode())
    headers = dict(req.auth(room))
    headers.update(req.headers)
    if req.content_type is not None:
        headers["Content-Type"] = req.content_type
    async with session.request(
        req.http_method,
        base + path,
        data=io.BytesIO(body.encode() if isinstance(body, str) else body),  # aiohttp warns on large bytes
        headers=headers,
        skip_auto_headers=("Content-Type",),
        allow_redirects=False,
    ) as resp:
        data = await resp.read()
        content_type = resp.headers.get("Content-Type", "")
        decoded = _decode(req.method, content_type, data)
        if (
            resp.status == 200
            and isinstance(decoded, dict)
            and isinstance(decoded.get("id"), str)
            and not ids
        ):
            ids.append(str(decoded["id"]))
        return {
            "status": resp.status,
            "content_type": content_type,
            "headers": {h: resp.headers[h] for h in COMPARED_HEADERS if h in resp.headers},
            "body": _mask(decoded),
        }


async def _run(case: Case, tokens: list[str], base: str) -> list[Answer]:
    room = f"{RUN}-{case.name}"
    ids: list[str] = []
    async with aiohttp.ClientSession() as session:
        return [await _send(session, base, room, req, ids, tokens[0]) for req in case.steps]


async def _run_all(base: str, tokens: dict[str, list[str]]) -> dict[str, list[Answer]]:
    answers = await asyncio.gather(*(_run(case, tokens[case.name], base) for case in CASES))
    return {case.name: a for case, a in zip(CASES, answers, strict=True)}


def _tokens() -> dict[str, list[str]]:
    return {c.name: [jwt.encode(claims(f"{RUN}-{c.name}"), API_SECRET, algorithm="HS256")] for c in CASES}


def test_the_table_covers_enough_and_names_are_unique() -> None:
    names = [case.name for case in CASES]
    assert len(names) >= 40
    assert len(set(names)) == len(names)
    assert set(KNOWN_DIFFERENCES) <= set(names)


async def test_stand_in_answers_as_livekit_server_does(
    livekit: RealServer, local: LocalDispatchServer
) -> None:
    tokens = _tokens()  # the same bytes to both: made once
    real, mine = await asyncio.gather(_run_all(livekit.url, tokens), _run_all(local.url, tokens))
    differing = {name for name in real if real[name] != mine[name]}
    report = {name: {"livekit-server": real[name], "stand-in": mine[name]} for name in sorted(differing)}
    unexpected = {name: report[name] for name in differing - set(KNOWN_DIFFERENCES)}
    gone = set(KNOWN_DIFFERENCES) - differing
    assert not unexpected, json.dumps(unexpected, indent=1)[:20000]
    assert not gone, f"known differences that are gone (remove them from KNOWN_DIFFERENCES): {sorted(gone)}"


async def test_a_room_past_its_empty_timeout_stops_running_in_both(tmp_path: Path) -> None:
    """livekit-server closes a room nobody joined ``empty_timeout`` s after it started (checked
    once a second); its dispatches go with it and a later create starts it afresh."""
    room = unique_room("closing")
    with start(tmp_path, room={"empty_timeout": 1, "departure_timeout": 1}) as real:
        async with LocalDispatchServer(API_KEY, API_SECRET, empty_timeout=1, not_running_wait=0.1) as local:
            answers: dict[str, list[object]] = {}
            for name, base in (("real", real.url), ("local", local.url)):
                seq: list[object] = []
                async with aiohttp.ClientSession() as session:
                    token = {"Authorization": f"Bearer {_token(room)}"}
                    url = base + SERVICE
                    seq.append(await _status(session, url + "CreateDispatch", room, token))
                    seq.append(await _status(session, url + "ListDispatch", room, token))
                    await asyncio.sleep(3.0)
                    seq.append(await _status(session, url + "ListDispatch", room, token))
                    seq.append(await _status(session, url + "CreateDispatch", room, token))
                    seq.append(await _status(session, url + "ListDispatch", room, token))
                answers[name] = seq
    assert answers["real"] == answers["local"]
    assert answers["real"][2] == (503, "unavailable", 0)
    assert answers["real"][4] == (200, None, 2)  # a default dispatch and the new one


def _token(room: str) -> str:
    return jwt.encode(claims(room), API_SECRET, algorithm="HS256")


async def _status(
    session: aiohttp.ClientSession, url: str, room: str, headers: dict[str, str]
) -> tuple[int, object, int]:
    body = json.dumps({"room": room, "agent_name": "a"}).encode()
    async with session.post(url, data=body, headers={**headers, "Content-Type": "application/json"}) as resp:
        data = json.loads(await resp.read())
        return resp.status, data.get("code"), len(data.get("agent_dispatches", []))
