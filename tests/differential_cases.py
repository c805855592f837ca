"""The raw HTTP requests the differential test sends to livekit-server and to the stand-in.

Each case is one or more requests in a room of its own (``{room}`` in a body or path is
its name, ``{id}`` the id the case's first create got from that server). Tokens are made
once per case and the same bytes go to both servers.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import time
from collections.abc import Callable

import jwt
from livekit_server import API_KEY, API_SECRET

SERVICE = "/twirp/livekit.AgentDispatchService/"
ROOM_SERVICE = "/twirp/livekit.RoomService/"
Auth = Callable[[str], dict[str, str]]


def _jwt(claims: dict[str, object], *, secret: str = API_SECRET) -> str:
    return jwt.encode(claims, secret, algorithm="HS256")


def _raw_jwt(claims_json: str, algorithm: str = "HS256") -> str:
    """A token signed with the right secret whose claims are exactly ``claims_json`` (pyjwt would
    warn that the secret is short for HS512)."""

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = json.dumps({"alg": algorithm, "typ": "JWT"}).encode()
    signing_input = b64(header) + "." + b64(claims_json.encode())
    digest = hashlib.sha512 if algorithm == "HS512" else hashlib.sha256
    signature = hmac.new(API_SECRET.encode(), signing_input.encode(), digest).digest()
    return signing_input + "." + b64(signature)


_NOW: list[int] = []


def now() -> int:
    """One clock reading for the whole run, taken at the first token made: a token made for each
    server from the same case must be the same bytes (the 401s quote it), even when the two are
    made either side of a second."""
    if not _NOW:
        _NOW.append(int(time.time()))
    return _NOW[0]


@dataclasses.dataclass(frozen=True)
class FromNow:
    """A time claim ``seconds`` from :func:`now`, read when the token is made."""

    seconds: int


def claims(room: str, **changes: object) -> dict[str, object]:
    """Good claims for ``room``; a change of ``None`` removes a claim."""
    body: dict[str, object] = {"iss": API_KEY, "nbf": now(), "exp": now() + 3600}
    body["video"] = {"roomAdmin": True, "room": room}
    body.update({k: now() + v.seconds if isinstance(v, FromNow) else v for k, v in changes.items()})
    return {k: v for k, v in body.items() if v is not None}


def bearer(make: Callable[[str], str]) -> Auth:
    return lambda room: {"Authorization": f"Bearer {make(room)}"}


def with_claims(**changes: object) -> Auth:
    return bearer(lambda room: _jwt(claims(room, **changes)))


def raw_claims(template: str) -> Auth:
    """Claims written by hand (``{room}``, ``{key}``, ``{exp}`` filled in): types pyjwt would not write."""

    def make(room: str) -> str:
        exp = str(now() + 3600)
        return _raw_jwt(template.replace("{room}", room).replace("{key}", API_KEY).replace("{exp}", exp))

    return bearer(make)


GOOD = with_claims()
NO_AUTH: Auth = lambda room: {}  # noqa: E731


@dataclasses.dataclass(frozen=True)
class Req:
    method: str = "ListDispatch"
    body: str | bytes = '{"room": "{room}"}'
    content_type: str | None = "application/json"
    auth: Auth = GOOD
    headers: tuple[tuple[str, str], ...] = ()
    http_method: str = "POST"
    path: str | None = None  # instead of the service's path for ``method``
    service: str = SERVICE  # the path of the service ``method`` is of


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    steps: tuple[Req, ...]


def create(body: str = '{"room": "{room}", "agent_name": "a1"}', **kw: object) -> Req:
    return Req("CreateDispatch", body, **kw)  # type: ignore[arg-type]


def get(dispatch_id: str = "{id}") -> Req:
    return Req("ListDispatch", '{"room": "{room}", "dispatch_id": "' + dispatch_id + '"}')


def delete(dispatch_id: str = "{id}") -> Req:
    return Req("DeleteDispatch", '{"room": "{room}", "dispatch_id": "' + dispatch_id + '"}')


LIST = Req()
SEED = create()
ROOM_LIST = with_claims(video={"roomList": True})


def list_rooms(body: str | bytes = '{"names": ["{room}"]}', auth: Auth = ROOM_LIST, **kw: object) -> Req:
    return Req("ListRooms", body, auth=auth, service=ROOM_SERVICE, **kw)  # type: ignore[arg-type]


def list_participants(body: str = '{"room": "{room}"}', auth: Auth = GOOD, **kw: object) -> Req:
    return Req("ListParticipants", body, auth=auth, service=ROOM_SERVICE, **kw)  # type: ignore[arg-type]


def one(name: str, req: Req, *, seeded: bool = False) -> Case:
    """A case of one request, in a room that a create started first when ``seeded``."""
    return Case(name, (SEED, req) if seeded else (req,))


def deployment(name: str, value: str) -> Case:
    return one(name, create(json.dumps({"room": "{room}", "agent_name": "a", "deployment": value})))


def auth_case(name: str, auth: Auth) -> Case:
    return one(name, Req(auth=auth), seeded=True)


def _protobuf_create() -> bytes:
    return b"\x0a\x02pb\x12\x06{room}\x1a\x04meta"  # agent_name, room, metadata


EVERY_FIELD = json.dumps(
    {
        "room": "{room}",
        "agent_name": "a1",
        "metadata": "m <&> \u2028",
        "attributes": {"k": "v", "Case": "Kept"},
        "deployment": "prod-\u00e9",
        "restart_policy": "JRP_NEVER",
    }
)

CASES: list[Case] = [
    # What succeeds.
    one("create_every_field", create(EVERY_FIELD)),
    one("create_minimal", create('{"room": "{room}"}')),
    one("create_camel_case", create('{"room": "{room}", "agentName": "a", "restartPolicy": 1}')),
    one("list_after_create", LIST, seeded=True),
    one("get_existing", get(), seeded=True),
    one("get_unknown_id", get("AD_unknown1234"), seeded=True),
    Case("delete_then_list", (SEED, delete(), LIST)),
    one("delete_unknown_id", delete("AD_unknown1234"), seeded=True),
    Case("same_request_id_twice", (*(create(headers=(("X-Livekit-Request-Id", "REQ_same"),)),) * 2, LIST)),
    # Validation of creates.
    deployment("deployment_65_bytes", "d" * 65),
    deployment("deployment_64_bytes", "d" * 64),
    deployment("deployment_66_bytes_in_33_chars", "\u00e9" * 33),
    deployment("deployment_underscore", "a_b"),
    deployment("deployment_space", "a b"),
    deployment("deployment_control", "a\x01b"),
    deployment("deployment_del", "a\x7fb"),
    deployment("deployment_non_ascii", "a\u00a0b\u0085"),
    one("metadata_over_512_kib", create(json.dumps({"room": "{room}", "metadata": "m" * (512 * 1024 + 1)}))),
    one("metadata_512_kib", create(json.dumps({"room": "{room}", "metadata": "m" * (512 * 1024)}))),
    one("attributes_over_64_kib", create(json.dumps({"room": "{room}", "attributes": {"k": "v" * 65536}}))),
    one("create_empty_room", create('{"agent_name": "a"}', auth=with_claims(video={"roomAdmin": True}))),
    # Tokens.
    auth_case("no_token", NO_AUTH),
    auth_case("wrong_secret", bearer(lambda room: _jwt(claims(room), secret="another-secret-" + "x" * 40))),
    auth_case("unknown_key", with_claims(iss="APIunknown")),
    auth_case("expired", with_claims(exp=FromNow(-120))),
    auth_case("expired_within_leeway", with_claims(exp=FromNow(-20))),
    auth_case("not_yet_valid", with_claims(nbf=FromNow(300))),
    auth_case("no_exp", with_claims(exp=None)),
    auth_case("future_iat", with_claims(iat=FromNow(3600))),
    auth_case("no_room_admin", bearer(lambda room: _jwt(claims(room, video={"room": room})))),
    auth_case("no_video_grant", with_claims(video=None)),
    auth_case("grant_for_another_room", with_claims(video={"roomAdmin": True, "room": "another"})),
    auth_case(
        "room_admin_string",
        raw_claims('{"iss":"{key}","exp":{exp},"video":{"roomAdmin":"true","room":"{room}"}}'),
    ),
    auth_case("room_number", raw_claims('{"iss":"{key}","exp":{exp},"video":{"roomAdmin":true,"room":5}}')),
    auth_case("video_string", raw_claims('{"iss":"{key}","exp":{exp},"video":"x"}')),
    auth_case(
        "name_number",
        raw_claims('{"iss":"{key}","exp":{exp},"name":5,"video":{"roomAdmin":true,"room":"{room}"}}'),
    ),
    auth_case(
        "exp_numeric_string",
        raw_claims('{"iss":"{key}","exp":"{exp}","video":{"roomAdmin":true,"room":"{room}"}}'),
    ),
    auth_case(
        "exp_word",
        raw_claims('{"iss":"{key}","exp":"soon","video":{"roomAdmin":true,"room":"{room}"}}'),
    ),
    auth_case(
        "sub_number",
        raw_claims('{"iss":"{key}","sub":5,"exp":{exp},"video":{"roomAdmin":true,"room":"{room}"}}'),
    ),
    auth_case(
        "exp_beyond_int64",
        raw_claims('{"iss":"{key}","exp":1e300,"video":{"roomAdmin":true,"room":"{room}"}}'),
    ),
    auth_case(
        "iat_beyond_int64",
        raw_claims('{"iss":"{key}","iat":1e300,"exp":{exp},"video":{"roomAdmin":true,"room":"{room}"}}'),
    ),
    auth_case("hs512", bearer(lambda room: _raw_jwt(json.dumps(claims(room)), "HS512"))),
    auth_case("not_bearer", lambda room: {"Authorization": "Basic dXNlcjpwYXNz"}),
    auth_case("not_a_jwt", lambda room: {"Authorization": "Bearer not.a.jwt"}),
    Case("token_in_query", (SEED, Req(auth=NO_AUTH, path=SERVICE + "ListDispatch?access_token={token}"))),
    one(
        "bad_token_on_health_check",
        Req(
            path="/",
            http_method="GET",
            content_type=None,
            body=b"",
            auth=lambda room: {"Authorization": "Bearer x"},
        ),
    ),
    # Routes.
    one("unknown_method", Req("Nope")),
    one("lower_camel_method", Req("listDispatch")),
    one("get_instead_of_post", Req(http_method="GET")),
    one("wrong_prefix", Req(path="/rpc/livekit.AgentDispatchService/ListDispatch")),
    one("other_twirp_service", Req(path="/twirp/livekit.RoomService/ListRooms", body="{}")),
    one("other_room_service_method", Req(path=ROOM_SERVICE + "CreateRoom", body='{"name": "{room}"}')),
    one("egress_service", Req(path="/twirp/livekit.Egress/ListEgress", body="{}")),
    one("non_twirp_path", Req(path="/nothing")),
    one("health_check", Req(path="/", http_method="GET", content_type=None, body=b"", auth=NO_AUTH)),
    one("service_without_slash", Req(path=SERVICE[:-1], body=b"", content_type=None)),
    one("double_slash", Req(path="/" + SERVICE + "ListDispatch"), seeded=True),
    one(
        "cors_preflight",
        Req(
            http_method="OPTIONS",
            auth=NO_AUTH,
            headers=(("Origin", "http://app.example"), ("Access-Control-Request-Method", "POST")),
        ),
    ),
    one("cors_origin", Req(headers=(("Origin", "http://app.example"),)), seeded=True),
    # Content types.
    one("protobuf", Req("CreateDispatch", _protobuf_create(), content_type="application/protobuf")),
    one("json_with_charset", Req(content_type="application/json; charset=utf-8"), seeded=True),
    one("text_plain", Req(content_type="text/plain")),
    one("no_content_type", Req(content_type=None)),
    # Bodies.
    one("empty_body", Req(body=b"")),
    one("not_json", Req(body="not json")),
    one("trailing_garbage", Req(body='{"room": "{room}"} garbage'), seeded=True),
    one("wrong_field_type", Req(body='{"room": 5}')),
    one("unknown_fields", Req(body='{"room": "{room}", "future": {"x": [1]}}'), seeded=True),
    one("duplicate_key", Req(body='{"room": "{room}", "room": "{room}"}')),
    one(
        "body_over_10_mib",
        Req(body=json.dumps({"room": "{room}", "pad": "p" * (11 * 1024 * 1024)})),
        seeded=True,
    ),
    # Rooms that are not running, and deadlines.
    one("list_not_running", LIST),
    one("get_not_running", get("AD_unknown1234")),
    one("delete_not_running", delete("AD_unknown1234")),
    one("deadline_before_the_wait_ends", Req(headers=(("X-Twirp-Timeout-Ms", "300"),))),
    one("deadline_zero", Req(headers=(("X-Twirp-Timeout-Ms", "0"),)), seeded=True),
    one("deadline_overflowing", Req(headers=(("X-Twirp-Timeout-Ms", "9223372036854775807"),)), seeded=True),
    one("deadline_not_a_number", Req(headers=(("X-Twirp-Timeout-Ms", "soon"),)), seeded=True),
    Case("create_with_deadline_zero", (create(headers=(("X-Twirp-Timeout-Ms", "0"),)), LIST)),
    # RoomService's reads of the room store.
    one("list_rooms", list_rooms(), seeded=True),
    one("list_rooms_never_created", list_rooms()),
    one("list_rooms_named_twice", list_rooms('{"names": ["{room}", "{room}", "{room}-not"]}'), seeded=True),
    one("list_rooms_unknown_field_null", list_rooms('{"names": ["{room}"], "future": null}'), seeded=True),
    one("list_rooms_with_room_admin_only", list_rooms(auth=GOOD), seeded=True),
    one("list_rooms_room_list_false", list_rooms(auth=with_claims(video={"roomList": False})), seeded=True),
    one("list_rooms_no_video_grant", list_rooms(auth=with_claims(video=None)), seeded=True),
    one("list_rooms_no_token", list_rooms(auth=NO_AUTH), seeded=True),
    one("list_rooms_deadline_zero", list_rooms(headers=(("X-Twirp-Timeout-Ms", "0"),)), seeded=True),
    one(
        "list_rooms_protobuf",
        list_rooms(b"\x0a\x06{room}", content_type="application/protobuf"),
        seeded=True,
    ),
    one("list_rooms_empty_body", list_rooms(b"", auth=NO_AUTH)),
    one("list_rooms_wrong_type", list_rooms('{"names": "{room}"}')),
    one("list_rooms_get", list_rooms(http_method="GET")),
    one("list_rooms_text_plain", list_rooms(content_type="text/plain")),
    one("list_participants", list_participants(), seeded=True),
    one("list_participants_never_created", list_participants()),
    one(
        "list_participants_empty_room_name",
        list_participants("{}", auth=with_claims(video={"roomAdmin": True})),
    ),
    one("list_participants_room_list_only", list_participants(auth=ROOM_LIST), seeded=True),
    one(
        "list_participants_another_room",
        list_participants(auth=with_claims(video={"roomAdmin": True, "room": "another"})),
        seeded=True,
    ),
    one(
        "list_participants_room_join",
        list_participants(
            auth=bearer(lambda room: _jwt(claims(room, video={"roomJoin": True, "room": room})))
        ),
        seeded=True,
    ),
    one("list_participants_no_token", list_participants(auth=NO_AUTH), seeded=True),
    one("list_participants_deadline_zero", list_participants(headers=(("X-Twirp-Timeout-Ms", "0"),))),
    one("room_service_unknown_method", Req(path=ROOM_SERVICE + "ListDispatch")),
    one("room_service_without_slash", Req(path=ROOM_SERVICE[:-1], body=b"", content_type=None)),
]
