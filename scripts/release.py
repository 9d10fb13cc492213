"""Release checks that need no build tool; `nox -s release` runs them with the rest of the dry run.

    python scripts/release.py changelog          # openapi.yaml or wrapper/ changed: CHANGELOG too
    python scripts/release.py versions           # pyproject, CHANGELOG heading and tag agree
    python scripts/release.py artefacts A/ B/    # two builds are byte-identical; print the manifest

The changelog rule: when `wrapper/` (or `openapi.yaml`) differs from the last release, so must
CHANGELOG.md; when `openapi.yaml` does, the newest section's `### Spec changes` must differ
from what it was at the last release. The working tree is compared, so uncommitted edits count.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
import zipfile
from pathlib import Path

from releasing import (
    ROOT,
    Release,
    changelog_sections,
    current_section,
    file_at,
    git,
    last_release,
    parse_version,
    project_version,
    subsection,
)

WATCHED = ("openapi.yaml", "wrapper")


def changed_since(repo: Path, ref: str, *paths: str) -> list[str]:
    """Files under paths that differ between ref and the working tree (untracked ones too)."""
    tracked = git(repo, "diff", "--name-only", ref, "--", *paths).split()
    untracked = git(repo, "ls-files", "--others", "--exclude-standard", "--", *paths).split()
    return sorted({*tracked, *untracked})


def changelog_problems(repo: Path, release: Release) -> list[str]:
    changed = changed_since(repo, release.ref, *WATCHED)
    if not changed:
        return []
    problems: list[str] = []
    shown = ", ".join(changed[:5]) + (" ..." if len(changed) > 5 else "")
    if not changed_since(repo, release.ref, "CHANGELOG.md"):
        problems.append(
            f"{shown} changed since {release.describe()}, but CHANGELOG.md did not: "
            "add an entry under `## Unreleased`"
        )
    if "openapi.yaml" in changed:
        old = file_at(repo, release.ref, "CHANGELOG.md") or ""
        new = (repo / "CHANGELOG.md").read_text()
        old_spec = subsection(current_section(old)[1], "Spec changes") if old.strip() else ""
        if subsection(current_section(new)[1], "Spec changes") == old_spec:
            problems.append(
                "openapi.yaml changed, but the newest CHANGELOG.md section's `### Spec changes` "
                "did not: say what changed in the spec (and mark a breaking change, see "
                "docs/versioning.md)"
            )
    return problems


def version_problems(repo: Path, release: Release) -> list[str]:
    """pyproject's version is new, matches the top CHANGELOG heading, and matches HEAD's tag."""
    version = project_version(repo)
    problems: list[str] = []
    if parse_version(version) <= parse_version(release.version) and release.tagged:
        problems.append(
            f"pyproject.toml says {version}, not above the last release {release.version}"
        )
    heading, _ = current_section((repo / "CHANGELOG.md").read_text())
    heading_version = heading.split()[0] if heading else ""
    head_tags = [t for t in git(repo, "tag", "--points-at", "HEAD", "--list", "v*").split()]
    if head_tags:  # a real release: everything must agree
        if f"v{version}" not in head_tags:
            problems.append(f"HEAD is tagged {', '.join(head_tags)} but pyproject says {version}")
        if heading_version != version:
            problems.append(f"the top CHANGELOG.md heading is '## {heading}', not '## {version}'")
    elif heading.lower() != "unreleased" and heading_version != version:
        problems.append(
            f"the top CHANGELOG.md heading '## {heading}' is neither `Unreleased` nor {version}"
        )
    released = [h.split()[0] for h, _ in changelog_sections((repo / "CHANGELOG.md").read_text())]
    if release.tagged and release.version not in released:
        problems.append(f"CHANGELOG.md has no section for the last release {release.version}")
    return problems


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def artefact_problems(first: Path, second: Path, version: str) -> list[str]:
    names = sorted(p.name for p in first.iterdir())
    problems: list[str] = []
    if names != sorted(p.name for p in second.iterdir()):
        problems.append(f"the two builds made different files: {names}")
    for name in names:
        if (second / name).exists() and sha256(first / name) != sha256(second / name):
            problems.append(f"{name} differs between two builds: the build is not reproducible")
    for wheel in first.glob("*.whl"):
        with zipfile.ZipFile(wheel) as archive:
            metadata = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
            found = re.search(r"^Version: (.+)$", archive.read(metadata).decode(), re.M)
        if found is None or found.group(1).strip() != version:
            problems.append(f"{wheel.name} carries version {found and found.group(1)}")
    return problems


def main(argv: list[str] | None = None, repo: Path = ROOT) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("changelog")
    commands.add_parser("versions")
    artefacts = commands.add_parser("artefacts")
    artefacts.add_argument("first", type=Path)
    artefacts.add_argument("second", type=Path)
    args = parser.parse_args(argv)
    release = last_release(repo)
    version = project_version(repo)
    if args.command == "changelog":
        problems = changelog_problems(repo, release)
        ok = f"CHANGELOG.md covers the changes since {release.describe()}"
    elif args.command == "versions":
        problems = version_problems(repo, release)
        ok = f"version {version}: pyproject.toml, CHANGELOG.md and tags agree"
    else:
        problems = artefact_problems(args.first, args.second, version)
        ok = f"two builds are byte-identical; would publish cortexio-sdk {version}:"
        for path in sorted(args.first.iterdir()):
            ok += f"\n  {path.name}  {path.stat().st_size} bytes  sha256 {sha256(path)}"
        ok += f"\n  then tag v{version} (dry run: nothing was uploaded or tagged)"
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if problems:
        return 1
    print(ok)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
