"""The `cortex-query` command line (its commands arrive with the CLI issue; today: --version)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from ._version import __version__


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="cortex-query", description="Run Cortex CQL queries and print the entities they find."
    )
    parser.add_argument("--version", action="version", version=f"cortex-query {__version__}")
    parser.parse_args(argv)
    parser.print_help()
    return 2
