"""The aiohttp session a service makes for itself: TLS settings, proxies from the environment,
made when first needed (inside the running event loop) and closed by the service."""

from __future__ import annotations

import os
import ssl as _ssl
import warnings

import aiohttp

from ..errors import TwirpError, TwirpErrorCode

__all__ = ["OwnedSession", "tls_context"]


def tls_context(
    ssl: _ssl.SSLContext | bool | None, ca_file: str | os.PathLike[str] | None
) -> _ssl.SSLContext | bool:
    """What aiohttp is given for TLS: a context, True (the system's CAs) or False (no checks).

    ``ca_file`` is a PEM bundle of the CAs to trust instead of the system's. ``ssl=False``
    turns certificate checks off, with a warning saying what that costs.
    """
    if ca_file is not None:
        if ssl is not None:
            raise ValueError("pass ssl= or ca_file=, not both")
        try:
            return _ssl.create_default_context(cafile=os.fspath(ca_file))
        except (OSError, _ssl.SSLError) as e:
            raise ValueError(f"ca_file cannot be read as PEM certificates: {e}") from e
    if ssl is None or ssl is True:
        return True
    if ssl is False:
        warnings.warn(
            "ssl=False: the server's certificate is not checked, so anyone on the network path can "
            "pose as the server and read every call, its token included",
            UserWarning,
            stacklevel=4,
        )
        return False
    if not isinstance(ssl, _ssl.SSLContext):
        raise ValueError(f"ssl must be an ssl.SSLContext, True or False, got {type(ssl).__name__}")
    return ssl


class OwnedSession:
    """Makes the session on its first use, in the running loop; ``aclose`` closes it for good."""

    def __init__(self, *, ssl: _ssl.SSLContext | bool, trust_env: bool) -> None:
        if not isinstance(trust_env, bool):
            raise ValueError(f"trust_env must be a bool, got {trust_env!r}")
        self._ssl = ssl
        self._trust_env = trust_env
        self._session: aiohttp.ClientSession | None = None
        self.closed = False

    def __call__(self) -> aiohttp.ClientSession:
        if self.closed:
            raise TwirpError(TwirpErrorCode.FAILED_PRECONDITION, "the service is closed")
        if self._session is None:
            connector = aiohttp.TCPConnector(ssl=self._ssl)
            self._session = aiohttp.ClientSession(connector=connector, trust_env=self._trust_env)
        return self._session

    async def aclose(self) -> None:
        self.closed = True
        session, self._session = self._session, None
        if session is not None:
            await session.close()
