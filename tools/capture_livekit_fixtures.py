"""Run the real livekit-server and record the bodies it writes for AgentDispatchService.

python tools/capture_livekit_fixtures.py    rewrite tests/fixtures/livekit-server-<version>/

The server is the one `make livekit-server` builds (or LIVEKIT_SERVER_BIN), run with --dev on
free loopback ports as the end-to-end tests run it. Every body is written exactly as it came;
manifest.json holds what was sent and the status, content type and time of each answer, and
README.md describes them. Takes about 5 s (the room that is not running is waited for).
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from e2e_fixture_spec import (  # noqa: E402
    CREATE_REQUEST,
    DEADLINE_MS,
    FIXTURE_DIR,
    MANIFEST,
    NOT_RUNNING_ROOM,
    ROOM,
    UNKNOWN_ID,
    UNKNOWN_KEY,
)
from e2e_helpers import WRONG_SECRET, Answer, post, token  # noqa: E402
from livekit_server import VERSION, RealServer, start  # noqa: E402

KIB = 1024


@dataclass(frozen=True)
class Record:
    file: str
    method: str
    sent: str
    answer: Answer


class Capture:
    def __init__(self, server: RealServer, session: aiohttp.ClientSession) -> None:
        self.server = server
        self.session = session
        self.records: list[Record] = []

    def bearer(
        self, room: str = ROOM, *, key: str | None = None, secret: str | None = None, now: int | None = None
    ) -> str:
        """A token for ``room`` (the server's key and secret unless given), valid from ``now`` for 10 min."""
        key = key or self.server.api_key
        return token(room, key=key, secret=secret or self.server.api_secret, now=now)

    async def send(
        self,
        stem: str,
        method: str,
        body: Mapping[str, object] | bytes,
        sent: str,
        *,
        bearer: str | None = None,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> Answer:
        answer = await post(
            self.session,
            self.server.url,
            method,
            body,
            bearer=self.bearer() if bearer is None else bearer,
            content_type=content_type,
            headers=headers,
        )
        ext = "json" if answer.content_type.startswith("application/json") else "txt"
        self.records.append(Record(f"{stem}.{ext}", method, sent, answer))
        return answer


async def capture_all(cap: Capture) -> None:
    created = await cap.send(
        "create", "CreateDispatch", CREATE_REQUEST, "the create request of manifest.json"
    )
    dispatch_id = str(created.json()["id"])
    await cap.send("list", "ListDispatch", {"room": ROOM}, "the room, right after that first create")
    await cap.send(
        "get", "ListDispatch", {"room": ROOM, "dispatch_id": dispatch_id}, "the room and the new id"
    )
    await cap.send("get_unknown", "ListDispatch", {"room": ROOM, "dispatch_id": UNKNOWN_ID}, "an unknown id")
    await cap.send("delete", "DeleteDispatch", {"room": ROOM, "dispatch_id": dispatch_id}, "the new id")
    await cap.send("not_found", "DeleteDispatch", {"room": ROOM, "dispatch_id": dispatch_id}, "it again")

    def create(**fields: object) -> dict[str, object]:
        return {"room": ROOM, "agent_name": "x", **fields}

    deployments = {
        "deployment_too_long": ("d" * 65, "deployment of 65 bytes"),
        "deployment_underscore": ("blue_green", "deployment `blue_green`"),
        "deployment_space": ("a b", "deployment `a b`"),
        "deployment_control": ("a\x01b", "deployment `a`, U+0001, `b`"),
        "deployment_del": ("a\x7fb", "deployment `a`, U+007F, `b`"),
    }
    for stem, (deployment, sent) in deployments.items():
        await cap.send(stem, "CreateDispatch", create(deployment=deployment), sent)
    big = "m" * (512 * KIB + 1)
    await cap.send(
        "metadata_too_large", "CreateDispatch", create(metadata=big), "metadata of 512 KiB + 1 byte"
    )
    attrs = {"k": "v" * (64 * KIB)}
    await cap.send(
        "attributes_too_large", "CreateDispatch", create(attributes=attrs), "attributes of 64 KiB + 1 byte"
    )

    await cap.send(
        "room_not_running",
        "ListDispatch",
        {"room": NOT_RUNNING_ROOM},
        "a room never created (answered after the server's 3 s wait)",
        bearer=cap.bearer(NOT_RUNNING_ROOM),
    )
    await cap.send(
        "canceled_by_deadline",
        "ListDispatch",
        {"room": NOT_RUNNING_ROOM},
        f"a room never created, with `X-Twirp-Timeout-Ms: {DEADLINE_MS}`",
        bearer=cap.bearer(NOT_RUNNING_ROOM),
        headers={"X-Twirp-Timeout-Ms": str(DEADLINE_MS)},
    )

    listing = {"room": ROOM}
    await cap.send(
        "permissions_denied",
        "ListDispatch",
        listing,
        "a valid token for another room",
        bearer=cap.bearer("other"),
    )
    await cap.send(
        "unauthenticated_wrong_secret",
        "ListDispatch",
        listing,
        "a token signed with another secret",
        bearer=cap.bearer(secret=WRONG_SECRET),
    )
    await cap.send(
        "unauthenticated_unknown_key",
        "ListDispatch",
        listing,
        f"a token whose `iss` is `{UNKNOWN_KEY}`",
        bearer=cap.bearer(key=UNKNOWN_KEY),
    )
    await cap.send(
        "unauthenticated_expired",
        "ListDispatch",
        listing,
        "a token that expired 2 minutes ago (beyond the minute of leeway)",
        bearer=cap.bearer(now=int(time.time()) - 720),
    )
    await cap.send(
        "unauthenticated_unreadable", "ListDispatch", listing, "`Bearer not-a-jwt`", bearer="not-a-jwt"
    )
    await cap.send("bad_route", "Nope", listing, "a method the service does not have")
    await cap.send(
        "bad_route_content_type",
        "ListDispatch",
        listing,
        "`Content-Type: text/plain`",
        content_type="text/plain",
    )
    await cap.send("malformed", "ListDispatch", b'{"room": ', 'the bytes `{"room": `')


def readme(records: list[Record], started_ns: int) -> str:
    when = time.strftime("%Y-%m-%d", time.gmtime(started_ns / 1e9))
    lines = [
        f"# Bodies written by livekit-server {VERSION}",
        "",
        f"Captured on {when} by `tools/capture_livekit_fixtures.py`, which runs the `livekit-server` "
        f"{VERSION} binary that `make livekit-server` builds (`--dev`, the keys of "
        "`tests/livekit_server.py`, loopback ports) and POSTs each request below to "
        "`/twirp/livekit.AgentDispatchService/<method>` with aiohttp, as JSON and with a token for the "
        "room granting `roomAdmin` unless said otherwise. Each file is the response body byte for byte; "
        "`manifest.json` holds what was sent, the status, content type and time of each answer, and the "
        "capture's start and end in Unix nanoseconds. `.venv/bin/python tools/capture_livekit_fixtures.py` "
        "rewrites them all (ids, times and the tokens quoted in 401s change). "
        "`tests/test_codec_real_server.py` reads every file.",
        "",
        f"All requests name room `{ROOM}` (the first create starts it) unless said otherwise.",
        "",
        "| file | method | sent | status | content type |",
        "|---|---|---|---|---|",
    ]
    for r in records:
        sent = r.sent.replace("|", "\\|")
        lines.append(f"| `{r.file}` | {r.method} | {sent} | {r.answer.status} | `{r.answer.content_type}` |")
    lines += [
        "",
        "Worth knowing, as these bytes show:",
        "- The room's first create also gives it a default dispatch with an empty `agent_name` "
        "(`list.json`). Lists come in map order: do not rely on it.",
        '- A delete answers the dispatch as it was: `deleted_at` stays `"0"`.',
        '- Errors from the room\'s handler carry a `"twirp error unknown: "` prefix in `msg`, and no meta.',
        "- A token the server cannot verify gets a plain-text 401 that quotes the token; a good token "
        'without `roomAdmin` for the room gets Twirp `unauthenticated` "permissions denied".',
        "- With `X-Twirp-Timeout-Ms` the server gives up at that deadline: 408 `canceled`.",
        "",
    ]
    return "\n".join(lines)


async def main() -> None:
    with tempfile.TemporaryDirectory() as logs, start(Path(logs)) as server:
        async with aiohttp.ClientSession() as session:
            cap = Capture(server, session)
            started = time.time_ns()
            await capture_all(cap)
            ended = time.time_ns()
    FIXTURE_DIR.mkdir(parents=True, exist_ok=True)
    for old in FIXTURE_DIR.iterdir():
        old.unlink()
    for r in cap.records:
        (FIXTURE_DIR / r.file).write_bytes(r.answer.body)
    manifest = {
        "server": f"livekit-server {VERSION}",
        "captured_ns": [started, ended],
        "create_request": CREATE_REQUEST,
        "exchanges": {
            r.file: {
                "method": r.method,
                "sent": r.sent,
                "status": r.answer.status,
                "content_type": r.answer.content_type,
                "seconds": round(r.answer.seconds, 3),
            }
            for r in cap.records
        },
    }
    MANIFEST.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    (FIXTURE_DIR / "README.md").write_text(readme(cap.records, started))
    print(f"wrote {len(cap.records)} bodies, manifest.json and README.md to {FIXTURE_DIR.relative_to(ROOT)}")


if __name__ == "__main__":
    asyncio.run(main())
