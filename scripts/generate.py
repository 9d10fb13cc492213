"""The generator's command line, written once: `nox -s generate` and the tests run it from here.

    python scripts/generate.py OUTPUT_DIR [--spec openapi.yaml] [--config generator-config.yaml]

Runs the pinned openapi-python-client (the `generate` dependency group) on the spec with the
repository's config and templates, no project metadata, and fails on any warning. The config's
post hooks run ruff on the output (RUFF_NO_CACHE keeps ruff's cache out of the output folder).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "openapi.yaml"
CONFIG = ROOT / "generator-config.yaml"
TEMPLATES = ROOT / "templates"


def command(output: Path, *, spec: Path = SPEC, config: Path = CONFIG) -> list[str]:
    """The generator run that writes the package into `output` (which must not exist yet)."""
    return [
        *(sys.executable, "-m", "openapi_python_client", "generate"),
        *("--path", str(spec), "--config", str(config)),
        *("--custom-template-path", str(TEMPLATES)),
        *("--meta", "none", "--output-path", str(output), "--fail-on-warning"),
    ]


def environment() -> dict[str, str]:
    """The post hooks run `ruff`, installed beside the generator: its folder comes first."""
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    return {**os.environ, "PATH": path, "RUFF_NO_CACHE": "true"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path)
    parser.add_argument("--spec", type=Path, default=SPEC)
    parser.add_argument("--config", type=Path, default=CONFIG)
    args = parser.parse_args(argv)
    run = command(args.output, spec=args.spec, config=args.config)
    return subprocess.run(run, env=environment(), check=False).returncode  # noqa: S603


if __name__ == "__main__":
    raise SystemExit(main())
