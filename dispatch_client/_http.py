"""One HTTP POST of a call: send, read the answer with a size cap, turn transport failures into errors."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import math

import aiohttp
from yarl import URL

from ._redact import without_credentials
from .errors import TwirpError, TwirpErrorCode

__all__ = ["Reply", "post"]

_STREAM_FROM_BYTES = 1 << 20


@dataclasses.dataclass(frozen=True)
class Reply:
    """The parts of an HTTP answer a call looks at."""

    status: int
    body: bytes
    location: str | None
    retry_after: str | None


async def post(
    session: aiohttp.ClientSession,
    url: URL,
    body: bytes,
    headers: dict[str, str],
    *,
    remaining: float,
    max_bytes: int,
    method: str,
    timeout: float,
) -> Reply:
    """POST ``body``, allowing ``remaining`` seconds for everything; any answer is a Reply.

    Failures without a usable answer raise TwirpError: ``deadline_exceeded`` when the time
    ran out (``status=None``: the call got no answer in time), ``unavailable`` for a lost
    or refused connection (``status`` set when the status line arrived and the body did
    not), ``internal`` for a body over ``max_bytes``. ``method`` and the call's ``timeout``
    are for messages.
    """
    status: int | None = None
    # aiohttp writes a bytes body in one go and warns (ResourceWarning) above 1 MiB; a
    # file-like body is streamed in chunks instead. A new one per attempt: it is consumed.
    data: bytes | io.BytesIO = io.BytesIO(body) if len(body) > _STREAM_FROM_BYTES else body
    try:
        async with session.post(
            url,
            data=data,
            headers=headers,
            allow_redirects=False,
            raise_for_status=False,
            auto_decompress=True,
            # ceil_threshold: aiohttp would round timeouts over 5 s up to a whole second.
            timeout=aiohttp.ClientTimeout(total=remaining, ceil_threshold=math.inf),
        ) as resp:
            status = resp.status
            answer = await _read(resp, max_bytes)
            return Reply(status, answer, resp.headers.get("Location"), resp.headers.get("Retry-After"))
    except asyncio.TimeoutError as e:
        failure = TwirpError(TwirpErrorCode.DEADLINE_EXCEEDED, f"{method}: no answer within {timeout:g} s")
        cause: BaseException = e
    except (aiohttp.ClientError, OSError) as e:
        detail = str(e) or type(e).__name__
        failure = TwirpError(TwirpErrorCode.UNAVAILABLE, f"{method}: {detail}", status=status)
        cause = without_credentials(e)
    # Raised outside the handler, so that the original error (which may hold the request's
    # headers) does not ride along as __context__ behind the cleaned cause.
    raise failure from cause


async def _read(resp: aiohttp.ClientResponse, limit: int) -> bytes:
    """The body, refusing more than ``limit`` bytes (counted after decompression)."""
    length = resp.content_length
    if length is not None and length > limit:
        raise _too_large(resp.status, limit)
    if length is not None and "Content-Encoding" not in resp.headers:
        return await resp.read()
    chunks = bytearray()
    async for chunk in resp.content.iter_chunked(1 << 16):
        chunks += chunk
        if len(chunks) > limit:
            raise _too_large(resp.status, limit)
    return bytes(chunks)


def _too_large(status: int, limit: int) -> TwirpError:
    return TwirpError(
        TwirpErrorCode.INTERNAL,
        f"response body larger than max_response_bytes={limit}",
        status=status,
    )
