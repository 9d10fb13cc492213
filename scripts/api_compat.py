"""Compare the public Python API with the last release; fail on a break without a major bump.

    python scripts/api_compat.py              # against the last release (tag, else first commit)
    python scripts/api_compat.py --against REF

griffe reads both versions statically (nothing is imported) and reports what breaks a caller:
removed public objects and parameters, parameters made required or moved, changed kinds,
incompatible types, removed base classes. The public API is what `cortexio_sdk` exports (its
`__all__`), every public name of `cortex_api_client`, and the classes reached from exported ones
through public attributes (`Cortex.queries` is a `Queries`, which is not exported but whose
methods are the API); those are compared by the way a caller reaches them, so renaming such a
private class is not a break but removing a parameter of `client.queries.wait` is.

A changed default value or constant is printed for review but does not fail: it changes behaviour,
not whether a caller's code still runs. Exit status 1 on a break unless the major version went up.

The telemetry names (spans, events, metrics, attributes and their values, in
`cortexio_sdk/_telemetry/_names.py`) are public too: dashboards and alerts query them. One that
the last release emitted and this one does not is a break (a new name beside it is not).
"""

from __future__ import annotations

import argparse
import ast
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import griffe
from releasing import ROOT, export_tree, is_major_bump, last_release, project_version

# The import packages and the folder of the source tree each lives in.
PACKAGES = {"cortex_api_client": "generated", "cortexio_sdk": "wrapper"}
REVIEW_ONLY = {
    griffe.BreakageKind.PARAMETER_CHANGED_DEFAULT,
    griffe.BreakageKind.ATTRIBUTE_CHANGED_VALUE,
}


@dataclass(frozen=True)
class Change:
    path: str
    what: str
    breaking: bool

    def __str__(self) -> str:
        return f"{'BREAKING' if self.breaking else 'review'}: {self.path}: {self.what}"


def load_packages(
    source_root: Path, packages: dict[str, str]
) -> dict[str, griffe.Object | griffe.Alias]:
    """The packages found under source_root (a missing one is left out), with aliases resolved."""
    loader = griffe.GriffeLoader(
        search_paths=[source_root / folder for folder in packages.values()],
        allow_inspection=False,
        modules_collection=griffe.ModulesCollection(),
    )
    loaded: dict[str, griffe.Object | griffe.Alias] = {}
    for name, folder in packages.items():
        if (source_root / folder / name).is_dir():
            loaded[name] = loader.load(name)
    loader.resolve_aliases(implicit=False, external=None)
    return loaded


def _target(obj: griffe.Object | griffe.Alias) -> griffe.Object | None:
    try:
        return obj.final_target if isinstance(obj, griffe.Alias) else obj
    except (griffe.AliasResolutionError, griffe.CyclicAliasError):
        return None


def _attribute_class(
    attribute: griffe.Attribute, packages: dict[str, griffe.Object | griffe.Alias]
) -> griffe.Class | None:
    """The class of ours an attribute or property holds, from its annotation or `= Cls(...)`."""
    expression: object = attribute.annotation
    if expression is None and isinstance(attribute.value, griffe.ExprCall):
        expression = attribute.value.function
    path = getattr(expression, "canonical_path", None)
    if not isinstance(path, str) or path.split(".")[0] not in packages:
        return None
    root = packages[path.split(".")[0]]
    try:
        found = root.modules_collection.get_member(path)
    except (KeyError, ValueError):
        return None
    target = _target(found) if found is not None else None
    return target if isinstance(target, griffe.Class) else None


def reachable_classes(
    packages: dict[str, griffe.Object | griffe.Alias], entry: str = "cortexio_sdk"
) -> dict[str, griffe.Class]:
    """Classes not exported but reached by a caller through public attributes, by access path."""
    if entry not in packages:
        return {}
    module = packages[entry]
    names = [str(name) for name in module.exports or [] if str(name) in module.members]
    exported = {target.path for name in names if (target := _target(module[name]))}
    found: dict[str, griffe.Class] = {}
    queue = [
        (f"{entry}.{name}", target)
        for name in names
        if isinstance(target := _target(module[name]), griffe.Class)
    ]
    seen = {cls.path for _, cls in queue}
    while queue:
        access, cls = queue.pop()
        for name, member in cls.all_members.items():
            target = _target(member)
            if name.startswith("_") or not isinstance(target, griffe.Attribute):
                continue
            held = _attribute_class(target, packages)
            if held is None or held.path in exported or held.path in seen:
                continue
            seen.add(held.path)
            found[f"{access}.{name}"] = held
            queue.append((f"{access}.{name}", held))
    return found


def _describe(breakage: griffe.Breakage) -> str:
    what = str(breakage.kind.value)
    if isinstance(breakage.old_value, griffe.Parameter):
        what += f": `{breakage.old_value.name}`"
    elif breakage.kind in REVIEW_ONLY or breakage.kind in {
        griffe.BreakageKind.ATTRIBUTE_CHANGED_TYPE,
        griffe.BreakageKind.RETURN_CHANGED_TYPE,
    }:
        what += f": {breakage.old_value} -> {breakage.new_value}"
    return what


def _changes(
    old: griffe.Object | griffe.Alias, new: griffe.Object | griffe.Alias, shown_as: str = ""
) -> Iterator[Change]:
    for breakage in griffe.find_breaking_changes(old, new):
        path = breakage.obj.path
        if shown_as:  # a class reached through an attribute: name it the way a caller does
            path = shown_as + path.removeprefix(_target(old).path)  # type: ignore[union-attr]
        yield Change(path, _describe(breakage), breakage.kind not in REVIEW_ONLY)


# Where the telemetry names live, from the root of a source tree.
TELEMETRY_NAMES = Path("wrapper/cortexio_sdk/_telemetry/_names.py")


def telemetry_names(source_root: Path) -> set[str]:
    """The string constants of the names module (read, not imported); none before it existed."""
    path = source_root / TELEMETRY_NAMES
    if not path.is_file():
        return set()
    names = set()
    for node in ast.parse(path.read_text()).body:
        value = node.value if isinstance(node, ast.Assign | ast.AnnAssign) else None
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            names.add(value.value)
    return names


def compare_trees(
    old_root: Path, new_root: Path, packages: dict[str, str] = PACKAGES
) -> list[Change]:
    """Every difference from old_root's packages to new_root's that griffe counts as breaking."""
    old, new = load_packages(old_root, packages), load_packages(new_root, packages)
    changes: list[Change] = []
    for name in old:
        if name not in new:
            changes.append(Change(name, "package was removed", breaking=True))
            continue
        changes.extend(_changes(old[name], new[name]))
    old_reached, new_reached = reachable_classes(old), reachable_classes(new)
    for access, cls in sorted(old_reached.items()):
        if access in new_reached:
            changes.extend(_changes(cls, new_reached[access], shown_as=access))
    for gone in sorted(telemetry_names(old_root) - telemetry_names(new_root)):
        what = "is no longer emitted (renamed or removed); keep it beside the new name"
        changes.append(Change(f"telemetry name {gone!r}", what, breaking=True))
    unique = {str(change): change for change in changes}
    return [unique[key] for key in sorted(unique)]


def main(argv: list[str] | None = None, repo: Path = ROOT) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--against", help="git ref to compare with (default: the last release)")
    args = parser.parse_args(argv)
    release = last_release(repo)
    ref = args.against or release.ref
    version = project_version(repo)
    with tempfile.TemporaryDirectory() as scratch:
        export_tree(repo, ref, Path(scratch), *PACKAGES.values())
        changes = compare_trees(Path(scratch), repo)
    baseline = release.describe() if args.against is None else ref
    print(f"public Python API of {', '.join(PACKAGES)}: {version} against {baseline}")
    for change in changes:
        print(f"  {change}")
    breaking = [change for change in changes if change.breaking]
    if not breaking:
        print("no breaking change")
        return 0
    if is_major_bump(release.version, version):
        print(f"{len(breaking)} breaking change(s), allowed: the major version went up")
        return 0
    print(
        f"{len(breaking)} breaking change(s) in a release that keeps major version "
        f"{version.split('.')[0]} ({release.version} -> {version}). Keep the old names and "
        f"parameters (deprecate them), or bump the major version in pyproject.toml and say so "
        f"in CHANGELOG.md. See docs/versioning.md.",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
