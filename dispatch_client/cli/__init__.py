"""The ``dispatch-client`` command: the calls (``main``), ``serve`` and ``demo`` (``local``,
``demo``), what it prints (``output``) and what every command shares (``common``)."""

from .main import main

__all__ = ["main"]
