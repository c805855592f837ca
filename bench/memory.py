"""Peak memory of one decode, measured in a process of its own.

    python bench/memory.py {ours,json_format,binary} FILE

reads FILE (the body to decode) and prints how far the decode raised the process's peak
resident set above what it held just before, in bytes (Linux: /proc/self/status). Resident
memory counts everything, Python objects and orjson's and upb's own allocations alike,
where tracemalloc would see only what goes through Python's allocator.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable
from pathlib import Path

from google.protobuf import json_format
from livekit.protocol import agent_dispatch as pb

from dispatch_client import ListAgentDispatchResponse
from dispatch_client.codec import decode


def _status_bytes(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024  # the kernel writes kB
    raise RuntimeError(f"no {field} in /proc/self/status")


def main() -> None:
    contender, path = sys.argv[1], Path(sys.argv[2])
    data = path.read_bytes()
    decoders: dict[str, Callable[[bytes], object]] = {
        "ours": lambda b: decode(ListAgentDispatchResponse, b),
        "json_format": lambda b: json_format.Parse(b, pb.ListAgentDispatchResponse()),
        "binary": pb.ListAgentDispatchResponse.FromString,
    }
    fn = decoders[contender]
    fn(b"{}" if contender != "binary" else b"")  # imports and one-time set-up happen first
    gc.collect()
    # Writing 5 to clear_refs resets the peak (VmHWM) to the current resident set (Linux).
    Path("/proc/self/clear_refs").write_text("5")
    before = _status_bytes("VmRSS")
    result = fn(data)
    print(_status_bytes("VmHWM") - before)
    del result


if __name__ == "__main__":
    main()
