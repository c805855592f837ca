"""Proto3 JSON <-> betterproto2 messages: one plan per class, a fast path, a general decoder.

``plan`` reads each class's fields once; ``fast`` decodes the form servers write with msgspec;
``general`` decodes every other form; ``decoder`` chooses between them; ``encoder`` writes;
``bounds`` limits what an answer may build. docs/decoding.md tells how they fit.
"""

from __future__ import annotations

from .bounds import DeadlinePassed, check_containers, container_limit, decode_within
from .decoder import GC_PAUSE_BYTES, decode, prepare
from .encoder import encode
from .errors import DecodeError

__all__ = [
    "GC_PAUSE_BYTES",
    "DeadlinePassed",
    "DecodeError",
    "check_containers",
    "container_limit",
    "decode",
    "decode_within",
    "encode",
    "prepare",
]
