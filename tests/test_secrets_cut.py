"""An echoed token is cut out of a body before any part of it is quoted, where quotes are cut short.

Four places quote a body only in part: an intermediary's first line in the message (200
characters), an undecodable 200's body in meta (4096 bytes), the decoder's message about a
bad value (300 characters, 26 of them before the value) and a server meta value too deeply
nested to write as JSON (its repr, 1000 characters). Each answer here places the token so that
such a cut would fall 10 characters before its end, inside the signature.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable

import aiohttp
import pytest
from aiohttp import web
from fake_livekit import API_KEY, API_SECRET, FakeLiveKit

from dispatch_client import AgentDispatchService, RetryPolicy, TwirpError, TwirpErrorCode

INSIDE = 10  # how far before the token's end each cut would fall
NESTING = 300  # deeper than orjson writes


def first_line(token: str) -> web.Response:
    pad = "p" * (200 - len(token) + INSIDE)
    return web.Response(status=502, text=f"{pad}{token}END\nsecond line", content_type="text/plain")


def undecodable_200(token: str) -> web.Response:
    pad = "q" * (4096 - len(token) + INSIDE)
    return web.Response(status=200, text=f"{pad}{token}END", content_type="application/json")


def bad_value(token: str) -> web.Response:
    value = "x" * (300 - 26 - len(token) + INSIDE) + token + "END" + "x" * 300
    body = {"agent_dispatches": [{"id": "AD_1", "state": {"created_at": value}}]}
    return web.json_response(body)


def deep_meta(token: str) -> web.Response:
    value = "m" * (1000 - NESTING - 1 - len(token) + INSIDE) + token + "END"
    nested = "[" * NESTING + f'"{value}"' + "]" * NESTING
    body = '{"code": "internal", "msg": "failed", "meta": {"deep": ' + nested + "}}"
    return web.Response(status=500, text=body, content_type="application/json")


ANSWERS: dict[str, tuple[Callable[[str], web.Response], TwirpErrorCode]] = {
    "first_line": (first_line, TwirpErrorCode.UNAVAILABLE),
    "undecodable_200": (undecodable_200, TwirpErrorCode.INTERNAL),
    "bad_value": (bad_value, TwirpErrorCode.INTERNAL),
    "deep_meta": (deep_meta, TwirpErrorCode.INTERNAL),
}


def texts_of(err: BaseException) -> list[str]:
    """The error's own texts and those of every exception behind it."""
    texts = ["".join(traceback.format_exception(err))]
    todo: list[BaseException | None] = [err]
    seen: list[BaseException] = []
    while todo:
        e = todo.pop()
        if e is None or any(e is s for s in seen):
            continue
        seen.append(e)
        texts += [str(e), repr(e), repr(e.args)]
        if isinstance(e, TwirpError):
            texts += [e.message, *e.meta.values()]
        todo += [e.__cause__, e.__context__]
    return texts


@pytest.mark.parametrize("case", ANSWERS)
async def test_no_piece_of_the_signature_is_quoted(
    session: aiohttp.ClientSession, url: str, fake: FakeLiveKit, case: str
) -> None:
    make, code = ANSWERS[case]

    async def echo(request: web.Request) -> web.Response:
        return make(request.headers["Authorization"].removeprefix("Bearer "))

    fake.respond_with(echo)
    svc = AgentDispatchService(session, url, API_KEY, API_SECRET, retry=RetryPolicy.none())
    with pytest.raises(TwirpError) as err:
        await svc.list_dispatch("r")
    assert err.value.code is code
    [token] = {r.headers["Authorization"].removeprefix("Bearer ") for r in fake.requests}
    signature = token.rsplit(".", 1)[1]
    assert len(signature) > 40
    texts = texts_of(err.value)
    # The quote reached the token's place: it shows there, cut out.
    assert any("[redacted]END" in t for t in texts)
    pieces = {signature[i : i + 12] for i in range(len(signature) - 11)}
    assert not [p for p in pieces if any(p in t for t in texts)]
