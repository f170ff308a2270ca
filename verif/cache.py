"""The one cache root of every build product: simulator builds, Yosys results and their work
directories, Verilog of units, prepared cell libraries, power runs.

``cache_dir()`` is the directory set by :func:`set_cache_dir` (the command line's
``--cache-dir``), else ``FLASHD_CACHE`` (the Makefile sets it to the checkout's ``build``),
else the user's cache directory (``$XDG_CACHE_HOME/flashd``, ``~/.cache/flashd``): never the
installed package. A sweep's tasks carry it explicitly (a worker on another host sets it),
never through the environment.
"""

import os
import socket
import uuid
from pathlib import Path

__all__ = ["cache_dir", "set_cache_dir", "unique_name"]

_chosen = None


def cache_dir():
    """The cache root (not created here)."""
    if _chosen:
        return _chosen
    if os.environ.get("FLASHD_CACHE"):
        return Path(os.environ["FLASHD_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "flashd"


def set_cache_dir(path):
    """Use ``path`` as the cache root in this process (None: back to ``FLASHD_CACHE`` or the default)."""
    global _chosen
    if path is not None and Path(path).exists() and not Path(path).is_dir():
        raise ValueError(f"cache directory {path} is a file")
    _chosen = None if path is None else Path(path).resolve()


def unique_name(prefix):
    """``prefix`` and a suffix no other process, on this host or another sharing the cache, uses."""
    return f"{prefix}-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
