"""The release checks of scripts/ fail on breaking changes, and say what broke.

Each check runs on a scratch git repository made here: a "release" commit tagged v1.0.0, then a
change, so the git plumbing (last tag, files at the tag) is tested with the comparison itself.
"""

from __future__ import annotations

import copy
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import api_compat
import pytest
import release
import spec_compat
import yaml

ROOT = Path(__file__).resolve().parent.parent

CHANGELOG = """# Changelog

## Unreleased

### Added
- Nothing yet.

### Spec changes
{spec_changes}

## 1.0.0

### Spec changes
- First version of the spec.
"""

OLD_SDK = '''
"""A tiny stand-in for cortexio_sdk."""
from ._client import Cortex, WaitTimeoutError

__all__ = ["Cortex", "WaitTimeoutError"]
'''

OLD_CLIENT = """
class Queries:
    def wait(self, job_id: str, *, timeout: float = 600, poll_interval: float | None = None) -> str:
        return job_id


class Cortex:
    def __init__(self, api_key: str | None = None) -> None:
        self.queries = Queries()


class WaitTimeoutError(TimeoutError):
    pass
"""


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def write(repo: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(textwrap.dedent(text))


def commit(repo: Path, files: dict[str, str], message: str) -> None:
    write(repo, files)
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", message)


def pyproject(version: str) -> str:
    return f'[project]\nname = "cortexio-sdk"\nversion = "{version}"\n'


def spec_text(spec: dict[str, Any]) -> str:
    return yaml.safe_dump(spec, sort_keys=False)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A scratch repository whose release v1.0.0 has a small SDK and the real openapi.yaml."""
    git(tmp_path, "init", "-q")
    commit(
        tmp_path,
        {
            "pyproject.toml": pyproject("1.0.0"),
            "openapi.yaml": (ROOT / "openapi.yaml").read_text(),
            "CHANGELOG.md": CHANGELOG.format(spec_changes="- None."),
            "wrapper/cortexio_sdk/__init__.py": OLD_SDK,
            "wrapper/cortexio_sdk/_client.py": OLD_CLIENT,
        },
        "release 1.0.0",
    )
    git(tmp_path, "tag", "v1.0.0")
    return tmp_path


def the_spec() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "openapi.yaml").read_text()))


# -- the public Python API ---------------------------------------------------------------------


def test_api_compat_flags_a_removed_parameter(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    new = OLD_CLIENT.replace(", poll_interval: float | None = None", "")
    commit(
        repo, {"wrapper/cortexio_sdk/_client.py": new, "pyproject.toml": pyproject("1.1.0")}, "x"
    )
    assert api_compat.main([], repo=repo) == 1
    out = capsys.readouterr()
    # reached the way a caller does: client.queries.wait, though Queries is not exported
    assert "BREAKING: cortexio_sdk.Cortex.queries.wait: Parameter was removed: `poll_interval`" in (
        out.out
    )
    assert "bump the major version" in out.err


def test_api_compat_flags_a_renamed_class(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    commit(
        repo,
        {
            "wrapper/cortexio_sdk/__init__.py": OLD_SDK.replace("WaitTimeoutError", "WaitError"),
            "wrapper/cortexio_sdk/_client.py": OLD_CLIENT.replace("WaitTimeoutError", "WaitError"),
        },
        "rename",
    )
    assert api_compat.main([], repo=repo) == 1
    assert "BREAKING: cortexio_sdk.WaitTimeoutError: Public object was removed" in (
        capsys.readouterr().out
    )


def test_api_compat_allows_a_break_with_a_major_bump_and_additions_always(repo: Path) -> None:
    added = OLD_CLIENT + "\n\ndef helper(x: int = 1) -> int:\n    return x\n"
    commit(repo, {"wrapper/cortexio_sdk/_client.py": added}, "add")
    assert api_compat.main([], repo=repo) == 0
    removed = OLD_CLIENT.replace(", poll_interval: float | None = None", "")
    commit(
        repo,
        {"wrapper/cortexio_sdk/_client.py": removed, "pyproject.toml": pyproject("2.0.0")},
        "x",
    )
    assert api_compat.main([], repo=repo) == 0


def test_api_compat_flags_a_renamed_telemetry_name(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    names = "wrapper/cortexio_sdk/_telemetry/_names.py"
    real = (ROOT / names).read_text()
    commit(repo, {names: real}, "telemetry")
    git(repo, "tag", "-f", "v1.0.0")
    commit(repo, {names: real + '\nEXTRA: Final = "cortex.client.extra"\n'}, "a new name")
    assert api_compat.main([], repo=repo) == 0
    renamed = real.replace('"cortex.client.retries"', '"cortex.client.retry_count"')
    commit(repo, {names: renamed}, "rename")
    assert api_compat.main([], repo=repo) == 1
    assert "BREAKING: telemetry name 'cortex.client.retries': is no longer emitted" in (
        capsys.readouterr().out
    )


def test_api_compat_on_the_real_package(tmp_path: Path) -> None:
    """The repository's own packages: a renamed exception and a removed keyword are both seen."""
    for folder in ("wrapper", "generated"):
        subprocess.run(["cp", "-r", str(ROOT / folder), str(tmp_path)], check=True)
    package = tmp_path / "wrapper" / "cortexio_sdk"
    for path in package.glob("*.py"):
        path.write_text(path.read_text().replace("WaitTimeoutError", "WaitDeadlineError"))
    queries = package / "_queries.py"
    queries.write_text(queries.read_text().replace("poll_interval: float | None = None,", "", 1))
    changes = [str(c) for c in api_compat.compare_trees(ROOT, tmp_path) if c.breaking]
    assert "BREAKING: cortexio_sdk.WaitTimeoutError: Public object was removed" in changes
    assert any(c.startswith("BREAKING: cortexio_sdk.Cortex.queries.") for c in changes), changes
    assert api_compat.compare_trees(ROOT, ROOT) == []


# -- the spec ----------------------------------------------------------------------------------


def changes_after(edit: Any) -> list[spec_compat.Change]:
    old = the_spec()
    new = copy.deepcopy(old)
    edit(new)
    return spec_compat.compare(old, new)


def test_removing_an_enum_value_is_breaking() -> None:
    def edit(spec: dict[str, Any]) -> None:
        spec["components"]["schemas"]["QueryBuilderResult"]["properties"]["status"]["enum"].remove(
            "TIMED_OUT"
        )

    assert [str(c) for c in changes_after(edit)] == [
        "BREAKING: `QueryBuilderResult.status`: enum value 'TIMED_OUT' was removed"
    ]


def test_removing_an_operation_is_breaking() -> None:
    def edit(spec: dict[str, Any]) -> None:
        del spec["paths"]["/api/v1/queries/{jobId}"]

    assert [str(c) for c in changes_after(edit)] == [
        "BREAKING: `getQueryResults`: operation GET /api/v1/queries/{jobId} was removed"
    ]


def test_making_a_parameter_required_is_breaking() -> None:
    def add(spec: dict[str, Any], required: bool) -> None:
        spec["paths"]["/api/v1/queries/{jobId}"]["get"]["parameters"].append(
            {"name": "verbose", "in": "query", "required": required, "schema": {"type": "boolean"}}
        )

    old, new = the_spec(), the_spec()
    add(old, required=False)
    add(new, required=True)
    assert [str(c) for c in spec_compat.compare(old, new)] == [
        "BREAKING: `getQueryResults.verbose`: query parameter `verbose` is now required"
    ]
    assert [str(c) for c in changes_after(lambda spec: add(spec, required=True))] == [
        "BREAKING: `getQueryResults.verbose`: required query parameter `verbose` was added"
    ]


def test_additions_are_not_breaking() -> None:
    def edit(spec: dict[str, Any]) -> None:
        spec["components"]["schemas"]["QueryResult"]["properties"]["owner"] = {"type": "string"}
        spec["components"]["schemas"]["ErrorResponse"]["properties"]["type"]["enum"].append("NEW")
        spec["paths"]["/api/v1/queries/{jobId}"]["delete"] = {
            "operationId": "cancelQuery",
            "responses": {"204": {"description": "Cancelled"}},
        }

    assert [str(c) for c in changes_after(edit)] == [
        "minor: `cancelQuery`: operation DELETE /api/v1/queries/{jobId} was added",
        "minor: `ErrorResponse.type`: enum value 'NEW' was added",
        "minor: `QueryResult.owner`: optional field `owner` was added",
    ]
    assert spec_compat.compare(the_spec(), the_spec()) == []


def test_narrowing_is_breaking() -> None:
    def edit(spec: dict[str, Any]) -> None:
        fields = spec["components"]["schemas"]["QueryResult"]
        fields["properties"]["name"]["maxLength"] = 64
        fields["properties"]["description"]["type"] = "integer"
        fields["required"].append("description")

    assert {str(c) for c in changes_after(edit)} == {
        "BREAKING: `QueryResult.name`: maxLength None became 64",
        "BREAKING: `QueryResult.description`: type string became integer",
        "BREAKING: `QueryResult.description`: field `description` is now required",
    }


def drop_timed_out(repo: Path, changelog: str, version: str = "1.1.0") -> None:
    spec = the_spec()
    spec["components"]["schemas"]["QueryBuilderResult"]["properties"]["status"]["enum"].remove(
        "TIMED_OUT"
    )
    commit(
        repo,
        {
            "openapi.yaml": spec_text(spec),
            "CHANGELOG.md": changelog,
            **{"pyproject.toml": pyproject(version)},
        },
        "spec change",
    )


def test_spec_compat_fails_on_an_unannounced_break(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    drop_timed_out(repo, CHANGELOG.format(spec_changes="- `TIMED_OUT` is gone."))
    assert spec_compat.main([], repo=repo) == 1
    err = capsys.readouterr().err
    assert "BREAKING: `QueryBuilderResult.status`: enum value 'TIMED_OUT' was removed" in err
    assert "- **Breaking**: `QueryBuilderResult.status`" in err


def test_spec_compat_passes_an_announced_break(repo: Path) -> None:
    line = "- **Breaking**: `QueryBuilderResult.status` no longer lists `TIMED_OUT`."
    drop_timed_out(repo, CHANGELOG.format(spec_changes=line))
    assert spec_compat.main([], repo=repo) == 0


def test_spec_compat_passes_a_break_with_a_major_bump(repo: Path) -> None:
    drop_timed_out(repo, CHANGELOG.format(spec_changes="- `TIMED_OUT` is gone."), "2.0.0")
    assert spec_compat.main([], repo=repo) == 0


# -- changelog and versions --------------------------------------------------------------------


def test_a_wrapper_change_needs_a_changelog_change(repo: Path) -> None:
    commit(repo, {"wrapper/cortexio_sdk/_client.py": OLD_CLIENT + "\nX = 1\n"}, "code only")
    problems = release.changelog_problems(repo, release.last_release(repo))
    assert problems
    assert "wrapper/cortexio_sdk/_client.py changed since release 1.0.0" in problems[0]
    commit(repo, {"CHANGELOG.md": CHANGELOG.format(spec_changes="- None.") + "\n"}, "log")
    assert release.changelog_problems(repo, release.last_release(repo)) == []


def test_a_spec_change_needs_a_spec_changes_entry(repo: Path) -> None:
    spec = the_spec()
    spec["components"]["schemas"]["QueryResult"]["properties"]["owner"] = {"type": "string"}
    changelog = CHANGELOG.replace("- Nothing yet.", "- An owner.").format(spec_changes="- None.")
    commit(repo, {"openapi.yaml": spec_text(spec), "CHANGELOG.md": changelog}, "spec")
    (problem,) = release.changelog_problems(repo, release.last_release(repo))
    assert "`### Spec changes` did not" in problem
    changelog = CHANGELOG.format(spec_changes="- `QueryResult.owner`, optional.")
    commit(repo, {"CHANGELOG.md": changelog}, "log")
    assert release.changelog_problems(repo, release.last_release(repo)) == []


def test_version_checks(repo: Path) -> None:
    commit(repo, {"README.md": "after the release\n"}, "work after 1.0.0")
    last = release.last_release(repo)
    assert "not above the last release 1.0.0" in release.version_problems(repo, last)[0]
    commit(repo, {"pyproject.toml": pyproject("1.1.0")}, "bump")
    assert release.version_problems(repo, last) == []
    git(repo, "tag", "v1.1.0")  # tagged, but the CHANGELOG still says Unreleased
    assert release.version_problems(repo, release.last_release(repo)) != []


def test_the_repository_itself_passes(capsys: pytest.CaptureFixture[str]) -> None:
    assert spec_compat.main([]) == 0
    assert api_compat.main([]) == 0
    assert release.main(["changelog"]) == 0
    assert release.main(["versions"]) == 0
