"""Compare openapi.yaml with the last release's and fail on an unannounced breaking change.

    python scripts/spec_compat.py             # against the last release (tag, else first commit)
    python scripts/spec_compat.py --against REF
    python scripts/spec_compat.py OLD.yaml NEW.yaml

Why our own comparison rather than a tool: the maintained OpenAPI differs are Optic (an npm
CLI) and oasdiff (a Go binary); either adds a second toolchain to a Python-only CI and its own
notion of "breaking" that we would still have to map onto this SDK, whose generated attrs
models and functions are its API. The spec is small and its rules are few, so the comparison
below (operations, parameters, request bodies, responses, schemas: properties, required,
enum, type, format, nullable, bounds) runs offline in well under a second and says in our own
words what broke. The rules are in docs/versioning.md; in short, breaking is anything that can
make code written against the old SDK stop working: something removed, something newly
required, a narrowed type or range, a removed enum value. Added operations, optional fields,
optional parameters and enum values are minor.

A breaking change passes when it is announced: the major version in pyproject.toml went up
since the last release, or the newest CHANGELOG.md section's `### Spec changes` has a line
that says "breaking" and names the change's subject in backticks (the subject is printed with
each change, for example `QueryBuilderResult.status` or `createQuery`).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]
from releasing import (
    ROOT,
    current_section,
    file_at,
    is_major_bump,
    last_release,
    project_version,
    subsection,
)

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# Bounds whose rise narrows what is accepted, and those whose fall does.
LOWER_BOUNDS = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties")
UPPER_BOUNDS = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties")
Spec = dict[str, Any]


@dataclass(frozen=True)
class Change:
    subject: str  # what a CHANGELOG line names to announce it: `Schema.field`, `operationId`
    message: str
    breaking: bool

    def __str__(self) -> str:
        return f"{'BREAKING' if self.breaking else 'minor'}: `{self.subject}`: {self.message}"


class _Differ:
    def __init__(self, old: Spec, new: Spec) -> None:
        self.old, self.new = old, new

    # -- operations ----------------------------------------------------------------------------

    def operations(self) -> Iterator[Change]:
        old_ops, new_ops = _operations(self.old), _operations(self.new)
        for key in sorted(old_ops.keys() - new_ops.keys()):
            name, method, path = old_ops[key][0], *key
            yield Change(name, f"operation {method.upper()} {path} was removed", True)
        for key in sorted(new_ops.keys() - old_ops.keys()):
            name, method, path = new_ops[key][0], *key
            yield Change(name, f"operation {method.upper()} {path} was added", False)
        for key in sorted(old_ops.keys() & new_ops.keys()):
            yield from self.operation(new_ops[key][0], old_ops[key][1], new_ops[key][1])

    def operation(self, name: str, old: Spec, new: Spec) -> Iterator[Change]:
        old_params, new_params = self.parameters(self.old, old), self.parameters(self.new, new)
        for where, pname in sorted(old_params.keys() - new_params.keys()):
            yield Change(f"{name}.{pname}", f"{where} parameter `{pname}` was removed", True)
        for where, pname in sorted(new_params.keys() - old_params.keys()):
            required = bool(new_params[where, pname].get("required"))
            what = "required" if required else "optional"
            yield Change(
                f"{name}.{pname}", f"{what} {where} parameter `{pname}` was added", required
            )
        for key in sorted(old_params.keys() & new_params.keys()):
            old_p, new_p = old_params[key], new_params[key]
            subject = f"{name}.{key[1]}"
            if new_p.get("required") and not old_p.get("required"):
                yield Change(subject, f"{key[0]} parameter `{key[1]}` is now required", True)
            yield from self.schema(subject, old_p.get("schema", {}), new_p.get("schema", {}))
        yield from self.body(name, old.get("requestBody"), new.get("requestBody"))
        old_resp, new_resp = old.get("responses", {}), new.get("responses", {})
        for status in sorted(map(str, old_resp.keys() - new_resp.keys())):
            yield Change(name, f"response {status} was removed", True)
        for status in sorted(map(str, new_resp.keys() - old_resp.keys())):
            yield Change(name, f"response {status} was added", False)
        for status in sorted(map(str, old_resp.keys() & new_resp.keys())):
            yield from self.content(
                f"{name}.{status}",
                _resolve(self.old, old_resp[status]).get("content", {}),
                _resolve(self.new, new_resp[status]).get("content", {}),
            )

    def parameters(self, spec: Spec, operation: Spec) -> dict[tuple[str, str], Spec]:
        found = [_resolve(spec, p) for p in operation.get("parameters", [])]
        return {(p["in"], p["name"]): p for p in found}

    def body(self, name: str, old: Spec | None, new: Spec | None) -> Iterator[Change]:
        old_body = _resolve(self.old, old) if old else None
        new_body = _resolve(self.new, new) if new else None
        if old_body and not new_body:
            yield Change(name, "the request body was removed", True)
        elif new_body and not old_body:
            required = bool(new_body.get("required"))
            yield Change(name, f"a {'required' if required else 'optional'} body", required)
        elif old_body and new_body:
            if new_body.get("required") and not old_body.get("required"):
                yield Change(name, "the request body is now required", True)
            yield from self.content(name, old_body["content"], new_body["content"])

    def content(self, subject: str, old: Spec, new: Spec) -> Iterator[Change]:
        for media in sorted(old.keys() - new.keys()):
            yield Change(subject, f"media type {media} was removed", True)
        for media in sorted(new.keys() - old.keys()):
            yield Change(subject, f"media type {media} was added", False)
        for media in sorted(old.keys() & new.keys()):
            yield from self.schema(
                subject, old[media].get("schema", {}), new[media].get("schema", {})
            )

    # -- schemas -------------------------------------------------------------------------------

    def components(self) -> Iterator[Change]:
        old = self.old.get("components", {}).get("schemas", {})
        new = self.new.get("components", {}).get("schemas", {})
        for name in sorted(old.keys() - new.keys()):
            yield Change(name, f"schema `{name}` was removed", True)
        for name in sorted(new.keys() - old.keys()):
            yield Change(name, f"schema `{name}` was added", False)
        for name in sorted(old.keys() & new.keys()):
            yield from self.schema(name, old[name], new[name], follow_refs=True)

    def schema(  # noqa: PLR0912 - one rule per branch reads best
        self, subject: str, old: Spec, new: Spec, *, follow_refs: bool = False
    ) -> Iterator[Change]:
        """Differences of one schema. A $ref to a component is compared where it is defined."""
        if not follow_refs and "$ref" in old and "$ref" in new:
            if old["$ref"] != new["$ref"]:
                was, now = old["$ref"].split("/")[-1], new["$ref"].split("/")[-1]
                yield Change(subject, f"is now a `{now}` instead of a `{was}`", True)
            return
        old, new = _resolve(self.old, old), _resolve(self.new, new)
        if old.get("type") != new.get("type"):
            yield Change(subject, f"type {old.get('type')} became {new.get('type')}", True)
        if old.get("format") != new.get("format"):
            yield Change(subject, f"format {old.get('format')} became {new.get('format')}", True)
        if bool(old.get("nullable")) != bool(new.get("nullable")):
            now = "may now be null" if new.get("nullable") else "may no longer be null"
            yield Change(subject, now, True)
        if "enum" in old or "enum" in new:
            old_values, new_values = old.get("enum"), new.get("enum")
            if old_values is None:
                yield Change(subject, "is now limited to an enum", True)
            elif new_values is not None:
                for value in [v for v in old_values if v not in new_values]:
                    yield Change(subject, f"enum value {value!r} was removed", True)
                for value in [v for v in new_values if v not in old_values]:
                    yield Change(subject, f"enum value {value!r} was added", False)
        for bound in LOWER_BOUNDS + UPPER_BOUNDS:
            was, now = old.get(bound), new.get(bound)
            if was == now:
                continue
            upper = bound in UPPER_BOUNDS
            narrowed = (was is None) or (now is not None and (now < was if upper else now > was))
            yield Change(subject, f"{bound} {was} became {now}", narrowed)
        if old.get("pattern") != new.get("pattern") and new.get("pattern") is not None:
            yield Change(subject, f"pattern became {new['pattern']!r}", True)
        yield from self.properties(subject, old, new)
        if "items" in old and "items" in new:
            yield from self.schema(f"{subject}[]", old["items"], new["items"])

    def properties(self, subject: str, old: Spec, new: Spec) -> Iterator[Change]:
        old_props, new_props = old.get("properties", {}), new.get("properties", {})
        old_req, new_req = set(old.get("required", [])), set(new.get("required", []))
        for name in sorted(old_props.keys() - new_props.keys()):
            yield Change(f"{subject}.{name}", f"field `{name}` was removed", True)
        for name in sorted(new_props.keys() - old_props.keys()):
            if name in new_req:
                yield Change(f"{subject}.{name}", f"required field `{name}` was added", True)
            else:
                yield Change(f"{subject}.{name}", f"optional field `{name}` was added", False)
        for name in sorted(old_props.keys() & new_props.keys()):
            field = f"{subject}.{name}"
            if name in new_req and name not in old_req:
                yield Change(field, f"field `{name}` is now required", True)
            if name in old_req and name not in new_req:
                yield Change(field, f"field `{name}` is no longer required (may be missing)", True)
            yield from self.schema(field, old_props[name], new_props[name])


def _resolve(spec: Spec, node: Any) -> Any:
    """Follow local `#/...` references until a node that is not one."""
    seen: set[str] = set()
    while isinstance(node, dict) and "$ref" in node:
        ref = str(node["$ref"])
        if not ref.startswith("#/") or ref in seen:
            raise ValueError(f"cannot follow $ref {ref!r}")
        seen.add(ref)
        node = spec
        for part in ref.removeprefix("#/").split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _operations(spec: Spec) -> dict[tuple[str, str], tuple[str, Spec]]:
    """(method, path) -> (operationId or 'METHOD path', the operation with path parameters)."""
    found: dict[tuple[str, str], tuple[str, Spec]] = {}
    for path, item in (spec.get("paths") or {}).items():
        shared = item.get("parameters", [])
        for method in METHODS:
            if method in item:
                operation = dict(item[method])
                operation["parameters"] = [*shared, *operation.get("parameters", [])]
                name = operation.get("operationId") or f"{method.upper()} {path}"
                found[method, path] = (name, operation)
    return found


def compare(old: Spec, new: Spec) -> list[Change]:
    """Every difference between two specs, breaking ones first."""
    differ = _Differ(old, new)
    changes = list(dict.fromkeys([*differ.operations(), *differ.components()]))
    return sorted(changes, key=lambda change: not change.breaking)


def announced_subjects(changelog: str) -> list[str]:
    """Subjects named in backticks on a 'breaking' line of the newest section's Spec changes."""
    _, body = current_section(changelog)
    subjects: list[str] = []
    for line in subsection(body, "Spec changes").splitlines():
        if "breaking" in line.lower():
            subjects.extend(re.findall(r"`([^`]+)`", line))
    return subjects


def is_announced(change: Change, subjects: list[str]) -> bool:
    return any(change.subject == s or change.subject.startswith(f"{s}.") for s in subjects)


def unannounced(changes: list[Change], changelog: str, major_bump: bool) -> list[Change]:
    if major_bump:
        return []
    subjects = announced_subjects(changelog)
    return [c for c in changes if c.breaking and not is_announced(c, subjects)]


def main(argv: list[str] | None = None, repo: Path = ROOT) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--against", help="git ref to compare with (default: the last release)")
    parser.add_argument("files", nargs="*", type=Path, help="OLD.yaml NEW.yaml: just compare")
    args = parser.parse_args(argv)
    if args.files:
        old_file, new_file = args.files
        changes = compare(
            yaml.safe_load(old_file.read_text()), yaml.safe_load(new_file.read_text())
        )
        for change in changes:
            print(change)
        return 1 if any(change.breaking for change in changes) else 0
    release = last_release(repo)
    ref = args.against or release.ref
    old_text = file_at(repo, ref, "openapi.yaml")
    if old_text is None:
        print(f"no openapi.yaml at {ref}: nothing to compare")
        return 0
    changes = compare(yaml.safe_load(old_text), yaml.safe_load((repo / "openapi.yaml").read_text()))
    version = project_version(repo)
    print(f"openapi.yaml of {version} against {release.describe() if not args.against else ref}")
    for change in changes:
        print(f"  {change}")
    if not changes:
        print("no difference")
    changelog = (repo / "CHANGELOG.md").read_text()
    missing = unannounced(changes, changelog, is_major_bump(release.version, version))
    if not missing:
        return 0
    print(
        f"{len(missing)} breaking spec change(s) not announced "
        f"({release.version} -> {version} keeps the major version):",
        file=sys.stderr,
    )
    for change in missing:
        print(f"  {change}", file=sys.stderr)
    print(
        "Bump the major version in pyproject.toml, or add to the newest CHANGELOG.md section, "
        "under `### Spec changes`, a line such as\n"
        f"  - **Breaking**: `{missing[0].subject}`: {missing[0].message}.\n"
        "See docs/versioning.md.",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
