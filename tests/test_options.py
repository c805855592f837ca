"""Every way to make a service takes the same options: named, typed and documented alike."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable

import pytest

import dispatch_client
import dispatch_client.sync
from dispatch_client import AgentDispatchService

# Only the constructor takes these: the session is yours or made by open(); the rest are for tests.
CONSTRUCTOR_ONLY = {"self", "session", "clock", "sleep", "rand"}
MAKERS: dict[str, Callable[..., object]] = {
    "AgentDispatchService.open": AgentDispatchService.open,
    "connect": dispatch_client.connect,
    "sync.AgentDispatchService": dispatch_client.sync.AgentDispatchService.__init__,
}


def parameters(fn: Callable[..., object]) -> list[tuple[str, inspect._ParameterKind, object, object]]:
    """(name, kind, type, default) of each parameter, the types evaluated."""
    sig = inspect.signature(fn, eval_str=True)
    return [(p.name, p.kind, p.annotation, p.default) for p in sig.parameters.values()]


def documented(fn: Callable[..., object]) -> list[str]:
    return re.findall(r"^\s*:param (\w+):", inspect.getdoc(fn) or "", re.M)


EXPECTED = [p for p in parameters(AgentDispatchService.__init__) if p[0] not in CONSTRUCTOR_ONLY]


def test_the_constructor_has_the_options_the_issue_lists() -> None:
    names = [p[0] for p in EXPECTED]
    assert names == [
        "url",
        "api_key",
        "api_secret",
        "token",
        "timeout",
        "connect_timeout",
        "token_ttl",
        "max_response_bytes",
        "retry",
        "ssl",
        "ca_file",
        "trust_env",
        "failover",
        "cloud_hosts",
        "urls",
        "coordinator",
        "telemetry",
    ]


@pytest.mark.parametrize("name", MAKERS)
def test_every_maker_takes_the_constructors_options(name: str) -> None:
    got = [p for p in parameters(MAKERS[name]) if p[0] != "self"]
    # The constructor needs a url; the makers read LIVEKIT_URL when it is left out.
    assert got[0] == ("url", inspect.Parameter.POSITIONAL_OR_KEYWORD, str | None, None)
    assert got[1:] == EXPECTED[1:]


@pytest.mark.parametrize("name", [*MAKERS, "AgentDispatchService"])
def test_every_option_is_documented_where_it_is_taken(name: str) -> None:
    fn = MAKERS.get(name, AgentDispatchService.__init__)
    taken = [p[0] for p in parameters(fn) if p[0] != "self"]
    assert documented(fn) == taken


@pytest.mark.parametrize("name", MAKERS)
def test_no_maker_takes_options_it_does_not_name(name: str) -> None:
    kinds = {p[1] for p in parameters(MAKERS[name])}
    assert inspect.Parameter.VAR_KEYWORD not in kinds
    assert inspect.Parameter.VAR_POSITIONAL not in kinds
