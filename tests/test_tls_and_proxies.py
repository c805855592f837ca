"""TLS and proxies without a session of one's own: ssl=, ca_file=, trust_env=.

A real TLS server on 127.0.0.1 (the stand-in, behind a certificate from a CA made in the test by
trustme) and a real forwarding proxy on loopback (tests/forward_proxy.py).
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import trustme
from aiohttp import web
from forward_proxy import ForwardProxy
from local_helpers import KEY, SECRET

from dispatch_client import (
    AgentDispatchService,
    CreateAgentDispatchRequest,
    TwirpError,
    TwirpErrorCode,
    connect,
)
from dispatch_client.testing import LocalDispatchServer

REQ = CreateAgentDispatchRequest(agent_name="a", room="r")


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
async def tls_server(ca: trustme.CA) -> AsyncIterator[str]:
    """The stand-in behind TLS with a certificate for 127.0.0.1 from the test's CA: its https URL."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    local = LocalDispatchServer(KEY, SECRET)
    runner = web.AppRunner(local.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    port = runner.addresses[0][1]
    yield f"https://127.0.0.1:{port}"
    await runner.cleanup()


async def test_ssl_context_with_the_test_ca_is_accepted(ca: trustme.CA, tls_server: str) -> None:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    async with connect(tls_server, KEY, SECRET, ssl=context) as svc:
        assert (await svc.create_dispatch(REQ)).room == "r"


async def test_ca_file_is_accepted(ca: trustme.CA, tls_server: str, tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    async with connect(tls_server, KEY, SECRET, ca_file=bundle) as svc:
        assert (await svc.create_dispatch(REQ)).room == "r"


async def test_an_unknown_ca_is_unavailable_with_the_cause_kept(tls_server: str) -> None:
    async with connect(tls_server, KEY, SECRET) as svc:  # the system's CAs: the test CA is not one
        with pytest.raises(TwirpError) as err:
            await svc.list_dispatch("r")
    assert (err.value.code, err.value.status) == (TwirpErrorCode.UNAVAILABLE, None)
    assert isinstance(err.value.__cause__, aiohttp.ClientConnectorCertificateError)
    assert not err.value.outcome_unknown  # nothing was sent


async def test_ssl_false_warns_what_it_costs_and_connects(tls_server: str) -> None:
    with pytest.warns(UserWarning, match="not checked, so anyone on the network path"):
        svc = AgentDispatchService.open(tls_server, KEY, SECRET, ssl=False)
    async with svc:
        assert (await svc.create_dispatch(REQ)).room == "r"


def test_bad_tls_settings_are_value_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not both"):
        AgentDispatchService.open(
            "https://x.example", KEY, SECRET, ssl=ssl.create_default_context(), ca_file="x"
        )
    (tmp_path / "bad.pem").write_text("not a certificate")
    with pytest.raises(ValueError, match="ca_file"):
        AgentDispatchService.open("https://x.example", KEY, SECRET, ca_file=tmp_path / "bad.pem")
    with pytest.raises(ValueError, match="ssl must be"):
        AgentDispatchService.open("https://x.example", KEY, SECRET, ssl="yes")  # type: ignore[arg-type]


async def test_trust_env_sends_calls_through_the_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    async with LocalDispatchServer(KEY, SECRET) as local, ForwardProxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        async with connect(local.url, KEY, SECRET, trust_env=True) as svc:
            assert (await svc.create_dispatch(REQ)).room == "r"
        assert [(s.method, s.target.rsplit("/", 1)[1]) for s in proxy.seen] == [("POST", "CreateDispatch")]
        # Without trust_env, the environment's proxy is not used.
        async with connect(local.url, KEY, SECRET) as svc:
            await svc.list_dispatch("r")
        assert len(proxy.seen) == 1
        # NO_PROXY names the host: straight to it.
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        async with connect(local.url, KEY, SECRET, trust_env=True) as svc:
            await svc.list_dispatch("r")
        assert len(proxy.seen) == 1


async def test_https_through_the_proxy_is_a_tunnel(
    ca: trustme.CA, tls_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    async with ForwardProxy() as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        async with connect(tls_server, KEY, SECRET, ssl=context, trust_env=True) as svc:
            assert (await svc.create_dispatch(REQ)).room == "r"
        [tunnel] = proxy.seen
        assert (tunnel.method, tunnel.target) == ("CONNECT", tls_server.removeprefix("https://"))
        assert "Authorization" not in tunnel.headers  # the token went inside the tunnel only
