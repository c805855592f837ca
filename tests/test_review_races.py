"""Races and expiries found in review: a region fetch aiohttp cancels, a pre-signed token that
expires during a call, and a blocking client closed while its callers are calling."""

from __future__ import annotations

import asyncio
import threading

import aiohttp
import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from fake_livekit import FakeLiveKit, answer
from local_helpers import KEY, SECRET, server_in_thread

from dispatch_client import AgentDispatchService, CreateAgentDispatchRequest, RetryPolicy, TwirpError
from dispatch_client.sync import AgentDispatchService as SyncService


async def test_a_region_fetch_cancelled_by_aiohttp_is_not_the_callers_cancel() -> None:
    async def handler(request: web.Request) -> web.Response:
        if request.path == "/settings/regions":
            return web.json_response({"regions": []}, headers={"Cache-Control": "max-age=0"})
        if (await request.json()).get("room") == "slow":
            await asyncio.sleep(10)
        return web.json_response({"code": "unavailable", "msg": "overloaded"}, status=503)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1))
    svc = AgentDispatchService(
        session,
        str(server.make_url("")),
        KEY,
        SECRET,
        cloud_hosts=("127.0.0.1",),
        retry=RetryPolicy(attempts=3, initial_backoff=0.5, max_backoff=0.5),
        rand=lambda: 1.0,
    )
    failing = asyncio.create_task(
        svc.list_dispatch("fail", timeout=8)
    )  # 503, then waits, then fetches regions
    await asyncio.sleep(0.1)
    holding = asyncio.create_task(svc.list_dispatch("slow", timeout=8))  # takes the only connection
    await asyncio.sleep(0.7)  # the region fetch now waits for a connection
    await session.close()  # aiohttp cancels what waits for one
    for task in (failing, holding):
        with pytest.raises(TwirpError):
            await task
        assert task.cancelling() == 0
    await server.close()


async def test_a_presigned_token_that_expires_during_a_create_leaves_it_unknown(
    session: aiohttp.ClientSession, url: str, fake: FakeLiveKit
) -> None:
    now = [1_000.0]
    token = jwt.encode({"iss": KEY, "exp": 1_100, "video": {"roomAdmin": True, "room": "r"}}, SECRET, "HS256")
    svc = AgentDispatchService(session, url, token=token, clock=lambda: now[0])

    async def expire_then_fail(request: web.Request) -> web.StreamResponse:
        now[0] = 5_000.0  # past exp and its minute of leeway, before the create's check
        return await answer(502, "bad gateway")(request)

    fake.respond_with(expire_then_fail)
    with pytest.raises(TwirpError) as err:  # not ValueError: the create had been sent
        await svc.create_dispatch(CreateAgentDispatchRequest(agent_name="a", room="r"))
    assert (err.value.status, err.value.outcome_unknown) == (502, True)
    assert [r.path.rsplit("/", 1)[1] for r in fake.requests] == ["CreateDispatch"]


def calls(client: SyncService, start: threading.Barrier, outcomes: list[str]) -> None:
    start.wait()
    for _ in range(20):
        try:
            client.list_dispatch("r")
            outcomes.append("ok")
        except TwirpError as e:
            outcomes.append(e.code.value)


def test_closing_while_threads_call_never_hangs_nor_raises_another_type() -> None:
    with server_in_thread() as server:
        for _ in range(20):
            client = SyncService(server.url, KEY, SECRET)
            outcomes: list[str] = []
            start = threading.Barrier(5)
            threads = [threading.Thread(target=calls, args=(client, start, outcomes)) for _ in range(4)]
            for t in threads:
                t.start()
            start.wait()
            client.close()
            for t in threads:
                t.join(10)
            assert not any(t.is_alive() for t in threads)  # none left waiting on a stopped loop
            assert set(outcomes) <= {"ok", "failed_precondition", "not_found", "unavailable"}
            assert len(outcomes) == 80


async def test_a_reply_that_quotes_the_tokens_tail_keeps_none_of_it() -> None:
    # Not HTTP, and cut across two reads: aiohttp's parse error quotes only the second read,
    # the token's tail with its whole signature.
    got: list[str] = []
    handled = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await answer_with_the_token(reader, writer)
        finally:
            writer.close()
            await writer.wait_closed()
            handled.set()

    async def answer_with_the_token(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        auth = next(x for x in head.split(b"\r\n") if x.lower().startswith(b"authorization:"))
        token = auth.split(b" ", 2)[2]
        got.append(token.decode())
        writer.write(b"HTTP/1.1 200 OK\r\n" + token[: len(token) // 3])
        await writer.drain()
        await asyncio.sleep(0.2)
        writer.write(token[len(token) // 3 :] + b" x\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(0.5)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with AgentDispatchService.open(
        f"http://127.0.0.1:{port}", KEY, SECRET, retry=RetryPolicy.none()
    ) as svc:
        with pytest.raises(TwirpError) as err:
            await svc.list_dispatch("r")
    await handled.wait()
    server.close()
    await server.wait_closed()
    signature = got[0].rsplit(".", 1)[1]
    texts = [str(err.value), repr(err.value), repr(err.value.meta)]
    cause: BaseException | None = err.value.__cause__
    while cause is not None:
        texts += [str(cause), repr(cause)]
        cause = cause.__cause__ or cause.__context__
    pieces = {signature[i : i + 12] for i in range(len(signature) - 11)}
    assert not [p for p in pieces if any(p in t for t in texts)]
