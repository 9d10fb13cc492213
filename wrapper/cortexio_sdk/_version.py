"""The installed distribution's version, read from its metadata (pyproject.toml is the source)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("cortexio-sdk")
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0.0.0"
