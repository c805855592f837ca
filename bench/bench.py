"""Benchmark: this client against livekit-api and Google's json_format, as ratios.

Every figure is measured in this one run. Each contender is timed in alternating rounds
(A then B, then B then A, ...) and the table shows the medians; a ratio above 1 means this
client does better. The server runs in a process of its own (bench/server.py) and answers
both encodings with bodies encoded once, so only client cost differs between contenders.

    python bench/bench.py [--rounds N] [--seconds S] [--write] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import statistics
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from time import perf_counter

import aiohttp
import msgspec
import orjson
from livekit.api.agent_dispatch_service import AgentDispatchService as TheirService
from payloads import LARGE_ROOM, SMALL_ROOM, our_create_request, their_create_request
from results import Row, machine, render, write_results
from timing import decode_rows, encode_rows, memory_rows, paused, profile_decode, profile_text

from dispatch_client import AgentDispatchService, ListAgentDispatchRequest, ListAgentDispatchResponse
from dispatch_client._auth.signer import TokenSigner
from dispatch_client.codec import encode
from dispatch_client.codec.fast import TwinBuilder

HERE = Path(__file__).resolve().parent
IN_FLIGHT = 16
KEY, SECRET = "bench-key", "bench-secret-bench-secret-bench-secret"


async def calls_per_second(call: Callable[[], Awaitable[object]], seconds: float) -> float:
    """Calls completed per second with IN_FLIGHT calls outstanding at all times."""
    done = 0
    start = perf_counter()
    end = start + seconds

    async def worker() -> None:
        nonlocal done
        while perf_counter() < end:
            await call()
            done += 1

    await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
    return done / (perf_counter() - start)


async def alternate(
    contenders: dict[str, Callable[[], Awaitable[object]]], rounds: int, seconds: float
) -> dict[str, float]:
    """Median calls/s per contender over ``rounds`` rounds, the order flipped each round."""
    names = list(contenders)
    results: dict[str, list[float]] = {name: [] for name in names}
    for name in names:  # warm up: connections, token caches, first-use plans
        await calls_per_second(contenders[name], min(seconds, 0.3))
    for r in range(rounds):
        for name in names if r % 2 == 0 else reversed(names):
            results[name].append(await calls_per_second(contenders[name], seconds))
    return {name: statistics.median(values) for name, values in results.items()}


def start_server() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "server.py")], stdout=subprocess.PIPE, text=True, cwd=HERE
    )
    assert proc.stdout is not None
    port = int(proc.stdout.readline())
    return proc, f"http://127.0.0.1:{port}"


async def end_to_end_rows(url: str, rounds: int, seconds: float) -> tuple[list[Row], list[str]]:
    """The end-to-end rows, and where this client's time goes in each list scenario."""
    rows: list[Row] = []
    profiles: list[str] = []
    async with (
        aiohttp.ClientSession() as ours_session,
        aiohttp.ClientSession() as theirs_session,
        aiohttp.ClientSession() as floor_session,
    ):
        ours = AgentDispatchService(ours_session, url, KEY, SECRET)
        theirs = TheirService(theirs_session, url, KEY, SECRET)
        # Both clients must see the same data before their speed means anything.
        for room, n in ((SMALL_ROOM, 1), (LARGE_ROOM, 100)):
            a, b = await ours.list_dispatch(room), await theirs.list_dispatch(room)
            assert len(a) == len(b) == n, room
            assert type(b[0]).FromString(bytes(a[0])) == b[0], room
        our_req, their_req = our_create_request(), their_create_request()
        assert (await ours.create_dispatch(our_req)).id == (await theirs.create_dispatch(their_req)).id

        async def floor() -> None:
            async with floor_session.post(f"{url}/floor", data=b"") as resp:
                await resp.read()

        list_url = f"{url}/twirp/livekit.AgentDispatchService/ListDispatch"
        list_body = encode(ListAgentDispatchRequest(room=LARGE_ROOM))
        list_headers = {
            "Content-Type": "application/json",
            "Authorization": "Bearer " + TokenSigner(KEY, SECRET).token(LARGE_ROOM),
        }

        twins = msgspec.json.Decoder(TwinBuilder().build(ListAgentDispatchResponse)[0]).decode

        async def raw_list(parse: Callable[[bytes], object]) -> object:
            async with floor_session.post(list_url, data=list_body, headers=list_headers) as resp:
                assert resp.status == 200
                return parse(await resp.read())

        scenarios: list[tuple[str, Callable[[], Awaitable[object]], Callable[[], Awaitable[object]], str]] = [
            (
                "list_dispatch, 1 dispatch",
                lambda: ours.list_dispatch(SMALL_ROOM),
                lambda: theirs.list_dispatch(SMALL_ROOM),
                ">= 1.3",
            ),
            (
                "list_dispatch, 100 dispatches",
                lambda: ours.list_dispatch(LARGE_ROOM),
                lambda: theirs.list_dispatch(LARGE_ROOM),
                ">= 0.2",
            ),
            (
                "create_dispatch",
                lambda: ours.create_dispatch(our_req),
                lambda: theirs.create_dispatch(their_req),
                ">= 1.3",
            ),
        ]
        floor_rate = (await alternate({"floor": floor}, rounds, seconds))["floor"]
        rows.append(Row("floor: empty POST, plain aiohttp (calls/s)", floor_rate, "", None, None, ""))
        # The same POST and read of the 100-dispatch answer with plain aiohttp, then only a parse
        # (with the collector paused, as this client pauses it): into plain dicts and lists, or
        # into this client's msgspec twins (checked, but not yet messages); or no parse at all.
        # What is left between these and this client is building the messages.
        large_floors = {
            "JSON floor: the read, then orjson.loads alone": lambda: raw_list(paused(orjson.loads)),
            "the read, then our msgspec parse alone": lambda: raw_list(paused(twins)),
            "the read alone": lambda: raw_list(len),
        }
        for label, mine, reference, target in scenarios:
            extra = large_floors if label.startswith("list_dispatch, 100") else {}
            rates = await alternate({"ours": mine, "livekit-api": reference, **extra}, rounds, seconds)
            ours_rate, their_rate = rates["ours"], rates["livekit-api"]
            shares = f"ours {ours_rate / floor_rate:.0%}, livekit-api {their_rate / floor_rate:.0%}"
            note = f"floor share: {shares}"
            rows.append(
                Row(
                    f"end to end: {label} (calls/s)",
                    ours_rate,
                    "livekit-api",
                    their_rate,
                    ours_rate / their_rate,
                    target,
                    note,
                )
            )
            for name in extra:
                rate = rates[name]
                note = f"ours is {ours_rate / rate:.0%} of it" if "parse" in name or "loads" in name else ""
                rows.append(
                    Row(
                        f"  ... {name} (calls/s)",
                        rate,
                        "livekit-api",
                        their_rate,
                        rate / their_rate,
                        "",
                        note,
                    )
                )
        for label, mine, _, _ in scenarios[:2]:
            profiler = cProfile.Profile()
            profiler.enable()
            await calls_per_second(mine, seconds)
            profiler.disable()
            profiles.append(
                profile_text(f"cProfile, this client, end to end, {label}, for {seconds:g} s:", profiler)
            )
    return rows, profiles


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds per measure (default 5)")
    parser.add_argument("--seconds", type=float, default=1.0, help="length of one end-to-end round")
    parser.add_argument("--write", action="store_true", help="write bench/RESULTS.md")
    parser.add_argument("--profile", action="store_true", help="also print where the time goes (cProfile)")
    args = parser.parse_args()

    proc, url = start_server()
    try:
        rows, profiles = asyncio.run(end_to_end_rows(url, args.rounds, args.seconds))
    finally:
        proc.terminate()
        proc.wait()
    rows += decode_rows(args.rounds) + encode_rows(args.rounds) + memory_rows()
    profiles.append(profile_decode())
    table = render(rows)
    print(table)
    if args.profile:
        print("\n\n".join(["", *profiles]))
    if args.write:
        write_results(HERE / "RESULTS.md", table, profiles, machine(), IN_FLIGHT, args.rounds, args.seconds)
        print(f"\nwritten to {HERE / 'RESULTS.md'}")


if __name__ == "__main__":
    main()
