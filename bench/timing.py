"""Decode, encode and memory measures, each contender timed in alternating rounds."""

from __future__ import annotations

import cProfile
import gc
import io
import pstats
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from time import perf_counter

import msgspec
import orjson
from google.protobuf import json_format
from livekit.protocol import agent_dispatch as pb
from payloads import list_response, our_create_request, their_create_request
from results import Row

from dispatch_client import ListAgentDispatchResponse
from dispatch_client.codec import GC_PAUSE_BYTES, decode, encode
from dispatch_client.codec.fast import TwinBuilder
from dispatch_client.codec.plan import json_name

HERE = Path(__file__).resolve().parent


def _batch_size(fn: Callable[[], object], budget: float) -> int:
    n = 1
    while True:
        start = perf_counter()
        for _ in range(n):
            fn()
        if perf_counter() - start >= budget or n >= 1 << 20:
            return n
        n *= 2


def seconds_per_op(
    contenders: dict[str, Callable[[], object]], rounds: int, budget: float = 0.1
) -> dict[str, float]:
    """Median seconds per call of each contender, the order flipped each round."""
    names = list(contenders)
    sizes = {name: _batch_size(contenders[name], budget) for name in names}
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names if r % 2 == 0 else reversed(names):
            fn, n = contenders[name], sizes[name]
            start = perf_counter()
            for _ in range(n):
                fn()
            times[name].append((perf_counter() - start) / n)
    return {name: statistics.median(values) for name, values in times.items()}


def _decoders(binary: bytes, data: bytes) -> dict[str, Callable[[], object]]:
    theirs = pb.ListAgentDispatchResponse
    assert theirs.FromString(bytes(decode(ListAgentDispatchResponse, data))) == theirs.FromString(binary)
    struct, _ = TwinBuilder().build(ListAgentDispatchResponse)
    parse = msgspec.json.Decoder(struct).decode
    camel = orjson.dumps(_camel_case(orjson.loads(data)))
    assert decode(ListAgentDispatchResponse, camel) == decode(ListAgentDispatchResponse, data)
    return {
        "ours": lambda: decode(ListAgentDispatchResponse, data),
        "json_format": lambda: json_format.Parse(data, theirs()),
        "binary": lambda: theirs.FromString(binary),
        # Not decoders: the parse step of ours alone (msgspec into the twin structs, checked,
        # not yet messages), and a plain parse into dicts and lists: the floors under the decode.
        # Timed with the collector paused as decode() pauses it, so that the shares compare.
        "parse": _as_decode_runs(parse, data),
        "orjson.loads": _as_decode_runs(orjson.loads, data),
        # What a body off the server form costs: the same answer with camelCase keys, which the
        # fast path refuses at its first key and the general decoder reads.
        "camel": lambda: decode(ListAgentDispatchResponse, camel),
    }


def _camel_case(value: object) -> object:
    """``value`` with every object key in lowerCamelCase, as protojson writes by default."""
    if isinstance(value, dict):
        return {json_name(k): _camel_case(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_camel_case(v) for v in value]
    return value


def paused(parse: Callable[[bytes], object]) -> Callable[[bytes], object]:
    """``parse`` with the cyclic garbage collector paused around each call, as decode() does
    for large bodies."""

    def run(body: bytes) -> object:
        gc.disable()
        try:
            return parse(body)
        finally:
            gc.enable()

    return run


def _as_decode_runs(parse: Callable[[bytes], object], data: bytes) -> Callable[[], object]:
    """``parse`` of ``data``, with the collector paused where decode() pauses it."""
    run = paused(parse) if len(data) >= GC_PAUSE_BYTES else parse
    return lambda: run(data)


def decode_rows(rounds: int) -> list[Row]:
    rows = []
    for n, target in ((1, ""), (100, ">= 10")):
        binary, data = list_response(n)
        t = seconds_per_op(_decoders(binary, data), rounds)
        label = f"decode: list of {n} (JSON {len(data) / 1024:,.0f} KiB) (µs)"
        us = {k: v * 1e6 for k, v in t.items()}
        speedup = t["json_format"] / t["ours"]
        rows.append(Row(label, us["ours"], "json_format.Parse", us["json_format"], speedup, target))
        rows.append(
            Row(
                "  ... against binary protobuf (upb)",
                us["ours"],
                "FromString",
                us["binary"],
                t["binary"] / t["ours"],
                "",
            )
        )
        rows.append(
            Row(
                "  ... of which the parse (msgspec, checked)",
                us["parse"],
                "json_format.Parse",
                us["json_format"],
                t["json_format"] / t["parse"],
                "",
                f"{t['parse'] / t['ours']:.0%} of our decode; orjson.loads (dicts): "
                f"{us['orjson.loads']:,.0f} µs",
            )
        )
        rows.append(
            Row(
                "  ... the same answer in camelCase (general decoder)",
                us["camel"],
                "json_format.Parse",
                us["json_format"],
                t["json_format"] / t["camel"],
                "",
                f"off the server form: {t['camel'] / t['ours']:.1f}x the time of ours",
            )
        )
    return rows


def encode_rows(rounds: int) -> list[Row]:
    ours, theirs = our_create_request(), their_create_request()
    t = seconds_per_op(
        {
            "ours": lambda: encode(ours),
            "json_format": lambda: json_format.MessageToJson(
                theirs, preserving_proto_field_name=True
            ).encode(),
            "betterproto2": lambda: ours.to_json().encode(),
        },
        rounds,
    )
    us = {k: v * 1e6 for k, v in t.items()}
    label = "encode: CreateAgentDispatchRequest (µs)"
    return [
        Row(label, us["ours"], "json_format", us["json_format"], t["json_format"] / t["ours"], "> 1"),
        Row(
            "  ... against betterproto2's to_json",
            us["ours"],
            "to_json",
            us["betterproto2"],
            t["betterproto2"] / t["ours"],
            "",
        ),
    ]


def _peak_mib(contender: str, body: Path) -> float:
    out = subprocess.run(
        [sys.executable, str(HERE / "memory.py"), contender, str(body)],
        capture_output=True,
        text=True,
        check=True,
        cwd=HERE,
    )
    return int(out.stdout) / 2**20


def memory_rows() -> list[Row]:
    binary, data = list_response(1000)
    with tempfile.TemporaryDirectory() as tmp:
        json_body, binary_body = Path(tmp) / "list.json", Path(tmp) / "list.pb"
        json_body.write_bytes(data)
        binary_body.write_bytes(binary)
        ours = _peak_mib("ours", json_body)
        theirs = _peak_mib("json_format", json_body)
        upb = _peak_mib("binary", binary_body)
    label = f"peak RSS: decode 1,000 dispatches (JSON {len(data) / 2**20:.1f} MiB) (MiB)"
    return [
        Row(label, ours, "json_format.Parse", theirs, theirs / ours, ""),
        Row("  ... against binary protobuf (upb)", ours, "FromString", upb, upb / ours, ""),
    ]


def profile_text(title: str, profiler: cProfile.Profile, lines: int = 14) -> str:
    """The ``lines`` functions with the most time of their own, under ``title``."""
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).strip_dirs().sort_stats("tottime").print_stats(lines)
    text = out.getvalue()
    return f"{title}\n\n```\n{text[text.index('   ncalls') :].rstrip()}\n```"


def profile_decode() -> str:
    _, data = list_response(100)
    decode(ListAgentDispatchResponse, data)  # compile the decoders first
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(20):
        decode(ListAgentDispatchResponse, data)
    profiler.disable()
    return profile_text("cProfile, 20 decodes of the 100-dispatch list:", profiler)
