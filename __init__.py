"""flashd: RTL generator and verification flow for FlashAttention-2 and FLASH-D hardware."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("flashd")
except PackageNotFoundError:          # a source tree that was never installed
    __version__ = "unknown"
