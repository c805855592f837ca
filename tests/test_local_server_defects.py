"""The stand-in's clock reaching the clients it hands out, and clients that go away mid-body."""

from __future__ import annotations

import asyncio
import logging

import pytest
from local_helpers import KEY, SECRET, SERVICE_URL, fixed_clock

from dispatch_client import CreateAgentDispatchRequest
from dispatch_client.testing import LocalDispatchServer


async def test_connect_uses_the_servers_clock() -> None:
    # The server's clock is in 2027; a client on the real clock would sign tokens that are
    # not valid yet for it (401 "token is not valid yet").
    async with LocalDispatchServer(KEY, SECRET, clock=fixed_clock) as server, server.connect() as svc:
        created = await svc.create_dispatch(CreateAgentDispatchRequest(agent_name="a", room="r"))
        assert created.state is not None
        assert created.state.created_at == fixed_clock()
        assert [d.id for d in await svc.list_dispatch("r")][1:] == [created.id]


async def test_a_client_gone_mid_body_is_not_a_server_error(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="dispatch_client.testing")
    async with LocalDispatchServer(KEY, SECRET) as server:
        host, port = server.url.removeprefix("http://").split(":")
        for _ in range(3):
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(
                f"POST {SERVICE_URL}ListDispatch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                'Content-Length: 100\r\n\r\n{"room":'.encode()
            )
            await writer.drain()
            writer.close()
            await writer.wait_closed()
            assert await reader.read() == b""
        await asyncio.sleep(0.2)  # the server notices the closed connections
    worse = [r for r in caplog.records if r.levelno > logging.DEBUG]
    assert worse == [], [r.getMessage() for r in worse]
