"""aiofile: asynchronous file objects for asyncio over the ``_linuxaio`` engine."""

from _linuxaio._version import __version__

__all__ = ["__version__"]
