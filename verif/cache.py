"""The one cache root of every build product: simulator builds, Yosys results and their work
directories, Verilog of units, prepared cell libraries, power runs.

``cache_dir()`` is the directory set by :func:`set_cache_dir` (the command line's
``--cache-dir``), else ``FLASHD_CACHE`` (the Makefile sets it to the checkout's ``build``),
else the user's cache directory (``$XDG_CACHE_HOME/flashd``, ``~/.cache/flashd``): never the
installed package. A sweep's tasks carry it explicitly (a worker on another host sets it),
never through the environment.
"""

import os
import re
import shutil
import socket
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

__all__ = ["cache_dir", "set_cache_dir", "unique_name", "touch", "Entry", "entries", "evict", "parse_size",
           "size_bound", "keep_bounded"]

DEFAULT_MAX = "20G"          # FLASHD_CACHE_MAX: the cache's size bound ("none": unbounded)
BOUND_EVERY = 3600           # seconds between two checks of the bound (a check walks the whole cache)

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


def touch(*paths):
    """Mark cache entries as used now (least recently used entries are evicted first)."""
    for path in paths:
        try:
            os.utime(path)
        except OSError:             # evicted meanwhile: the caller has read it already
            pass


@dataclass
class Entry:
    path: Path
    size: int           # bytes
    used: float         # last use: the newest modification time inside it


# an entry is one child of a store: <root>/<store>/<entry>, and <root>/synth/<store>/<entry>
_NESTED = ("synth",)


def entries(root=None):
    """Every cache entry under ``root`` (default :func:`cache_dir`), oldest use first."""
    root = Path(root or cache_dir())
    stores = []
    for top in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
        stores += sorted(p for p in top.iterdir() if p.is_dir()) if top.name in _NESTED else [top]
    out = []
    for store in stores:
        for path in store.iterdir():
            files = [path] if not path.is_dir() else [f for f in path.rglob("*") if f.is_file()]
            stats = [f.stat() for f in files if f.exists()]
            out.append(Entry(path, sum(st.st_size for st in stats),
                             max([st.st_mtime for st in stats] + [path.stat().st_mtime])))
    return sorted(out, key=lambda e: e.used)


def evict(max_bytes, root=None):
    """Remove the least recently used entries until the cache holds at most ``max_bytes``;
    returns the entries removed. Not while another flashd run uses the same cache."""
    found = entries(root)
    total, removed = sum(e.size for e in found), []
    for e in found:
        if total <= max_bytes:
            break
        shutil.rmtree(e.path) if e.path.is_dir() and not e.path.is_symlink() else e.path.unlink()
        total -= e.size
        removed.append(e)
    return removed


def parse_size(text):
    """Bytes from ``1500``, ``800K``, ``500M``, ``2G`` (powers of 1024, a trailing B allowed)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)B?\s*", str(text), re.I)
    if not m:
        raise ValueError(f"size {text!r}: a number of bytes, or with K, M, G or T (e.g. 500M, 2G)")
    return int(float(m.group(1)) * 1024 ** " KMGT".index(m.group(2).upper() or " "))


def size_bound():
    """The cache's size bound in bytes from ``FLASHD_CACHE_MAX`` (default 20G), or None ("none")."""
    text = os.environ.get("FLASHD_CACHE_MAX", DEFAULT_MAX)
    if text.strip().lower() == "none":
        return None
    try:
        return parse_size(text)
    except ValueError as e:
        raise ValueError(f"FLASHD_CACHE_MAX: {e}, or none") from None


def keep_bounded(root=None):
    """After a command: evict the least recently used entries beyond :func:`size_bound`, at most
    once every ``BOUND_EVERY`` seconds per cache (a marker file's age says when it was last
    done); the entries removed."""
    limit, root = size_bound(), Path(root or cache_dir())
    marker = root / ".bounded"
    if limit is None or not root.is_dir():
        return []
    try:
        if time.time() - marker.stat().st_mtime < BOUND_EVERY:
            return []
    except OSError:
        pass
    marker.touch()
    return evict(limit, root)
