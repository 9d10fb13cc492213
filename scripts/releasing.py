"""What the release checks share: the last release, versions, and the CHANGELOG's sections.

The last release is the newest git tag `vX.Y.Z`; before the first tag it is the repository's
first commit, taken as version 0.0.0 (nothing published). A breaking change is allowed when the
major version (X) went up since then; 0.x versions get no exception, because services pin them
too. See docs/versioning.md.
"""

from __future__ import annotations

import re
import subprocess
import tarfile
import tomllib
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")
TAG = re.compile(r"^v(\d+\.\d+\.\d+)$")
NOTHING_RELEASED = "0.0.0"


def git(repo: Path, *args: str) -> str:
    """Run git in repo and return its stdout; a failure raises with git's own message."""
    done = subprocess.run(  # noqa: S603
        ["git", "-C", str(repo), *args],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def parse_version(text: str) -> tuple[int, int, int]:
    match = VERSION.match(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a version of the form X.Y.Z")
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


@dataclass(frozen=True)
class Release:
    """The baseline that changes are compared with: a git ref and the version released there."""

    ref: str
    version: str
    tagged: bool

    def describe(self) -> str:
        if self.tagged:
            return f"release {self.version} (tag {self.ref})"
        return f"the first commit {self.ref[:12]} (no release tag yet, taken as {self.version})"


def last_release(repo: Path = ROOT) -> Release:
    """The newest `vX.Y.Z` tag reachable from HEAD, else the first commit.

    A tag on HEAD itself is the release being made, not the last one, so it is passed over.
    """
    at_head = set(git(repo, "tag", "--points-at", "HEAD", "--list", "v*").split())
    tags = set(git(repo, "tag", "--merged", "HEAD", "--list", "v*").split()) - at_head
    versions = sorted(
        (parse_version(m.group(1)), tag) for tag in tags if (m := TAG.match(tag)) is not None
    )
    if versions:
        numbers, tag = versions[-1]
        return Release(ref=tag, version=".".join(map(str, numbers)), tagged=True)
    first = git(repo, "rev-list", "--max-parents=0", "HEAD").split()[-1]
    return Release(ref=first, version=NOTHING_RELEASED, tagged=False)


def project_version(repo: Path = ROOT) -> str:
    """The version in the working tree's pyproject.toml."""
    with (repo / "pyproject.toml").open("rb") as file:
        return str(tomllib.load(file)["project"]["version"])


def is_major_bump(old: str, new: str) -> bool:
    return parse_version(new)[0] > parse_version(old)[0]


def file_at(repo: Path, ref: str, path: str) -> str | None:
    """A file's text at ref, or None when it did not exist there."""
    try:
        return git(repo, "show", f"{ref}:{path}")
    except RuntimeError:
        return None


def export_tree(repo: Path, ref: str, destination: Path, *paths: str) -> None:
    """Write the files under paths as they were at ref into destination (missing paths skipped)."""
    present = [p for p in paths if git(repo, "ls-tree", "--name-only", ref, "--", p).strip()]
    if not present:
        return
    archive = subprocess.run(  # noqa: S603
        ["git", "-C", str(repo), "archive", "--format=tar", ref, "--", *present],  # noqa: S607
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(destination, filter="data")


def changelog_sections(text: str) -> list[tuple[str, str]]:
    """The `## ` sections of a CHANGELOG as (heading, body), newest first."""
    sections: list[tuple[str, str]] = []
    for chunk in re.split(r"(?m)^## ", text)[1:]:
        heading, _, body = chunk.partition("\n")
        sections.append((heading.strip(), body))
    return sections


def subsection(body: str, title: str) -> str:
    """The text of a `### title` subsection of a section body ('' when absent)."""
    for chunk in re.split(r"(?m)^### ", body)[1:]:
        heading, _, text = chunk.partition("\n")
        if heading.strip().lower() == title.lower():
            return text
    return ""


def current_section(changelog: str) -> tuple[str, str]:
    """The newest section: `Unreleased`, or the version about to be released."""
    sections = changelog_sections(changelog)
    if not sections:
        raise ValueError("CHANGELOG.md has no `## ` section")
    return sections[0]
