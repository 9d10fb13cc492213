"""Every task of the project: `nox` runs what proves the product, `nox -s NAME` runs one task.

Every tool is pinned once, in pyproject.toml's dependency groups; a fresh machine reproduces
what CI saw (the generator and ruff, its formatting post hook, decide the bytes of generated/).
Loading this file changes nothing: it only reads where the test Pythons are.

`nox` (the README's test command) runs the default sessions below. CI (`.ci/run`) runs them,
then the slow extras: the Redis tests on the oldest redis-py the extra admits, the contract tests
against Prism, Schemathesis against the fake, the release dry run, the benchmark smoke run, and
the reliability figures.
"""

from __future__ import annotations

import difflib
import filecmp
import os
import re
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
GENERATED = ROOT / "generated" / "cortex_api_client"
PYPROJECT = nox.project.load_toml("pyproject.toml")
TEST_PYTHONS = ["3.11", "3.12", "3.13"]


def _group(*names: str) -> tuple[str, ...]:
    """The pinned requirements of pyproject.toml's dependency groups."""
    return nox.project.dependency_groups(PYPROJECT, *names)


nox.options.sessions = [
    "spec",
    "generated_up_to_date",
    "lint",
    "typecheck",
    "tests",
    "build",
    "demo",
    "api_compat",
    "spec_compat",
    "changelog",
]
nox.options.default_venv_backend = "uv|virtualenv"
# A Python that this machine lacks is skipped with nox's message, not an error, even under
# CI=true where nox would otherwise fail the run.
nox.options.error_on_missing_interpreters = False


def _interpreter(minor: str) -> str:
    """pyenv's newest X.Y under ~/.pyenv/versions (pyenv puts versions there, not on PATH, and
    its shims fail unless that version is selected); else "X.Y", for nox to find on PATH."""
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    found = root.glob(f"{minor}.*/bin/python{minor}") if root.is_dir() else []
    newest = max(
        found, key=lambda p: [int(n) for n in re.findall(r"\d+", p.parts[-3])], default=None
    )
    return str(newest) if newest is not None else minor


def _generate_into(session: nox.Session, destination: Path) -> None:
    """Run the pinned generator (scripts/generate.py) into destination/."""
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "cortex_api_client"
        session.run("python", "scripts/generate.py", str(out))
        if destination.exists():
            shutil.rmtree(destination)
        shutil.copytree(out, destination)


def _tree(root: Path) -> dict[str, Path]:
    return {
        str(p.relative_to(root)): p
        for p in sorted(root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def _differences(expected: Path, actual: Path) -> list[str]:
    """Readable differences between two trees: missing and extra files, then unified diffs."""
    want, have = _tree(expected), _tree(actual)
    lines: list[str] = []
    for name in sorted(want.keys() - have.keys()):
        lines.append(f"missing from {actual}: {name}")
    for name in sorted(have.keys() - want.keys()):
        lines.append(f"not produced by the generator: {name}")
    for name in sorted(want.keys() & have.keys()):
        if not filecmp.cmp(want[name], have[name], shallow=False):
            lines.append(f"differs: {name}")
            lines.extend(
                difflib.unified_diff(
                    have[name].read_text().splitlines(),
                    want[name].read_text().splitlines(),
                    fromfile=f"committed/{name}",
                    tofile=f"regenerated/{name}",
                    lineterm="",
                )
            )
    return lines


@nox.session
def generate(session: nox.Session) -> None:
    """Regenerate generated/cortex_api_client from openapi.yaml (never edit the output by hand)."""
    session.install(*_group("generate"))
    _generate_into(session, GENERATED)
    session.log(f"wrote {GENERATED.relative_to(ROOT)}")


@nox.session
def generated_up_to_date(session: nox.Session) -> None:
    """Fail, naming the files, when generated/ is not what the spec and templates produce.

    Generates twice into temporary folders: the two runs must be byte-identical (determinism),
    and the committed copy must equal them (no drift, no hand edits).
    """
    session.install(*_group("generate"))
    with tempfile.TemporaryDirectory() as scratch:
        first, second = Path(scratch) / "first", Path(scratch) / "second"
        _generate_into(session, first)
        _generate_into(session, second)
        if nondeterministic := _differences(first, second):
            session.error("two generator runs differ:\n" + "\n".join(nondeterministic))
        if drift := _differences(first, GENERATED):
            session.error(
                "generated/cortex_api_client is out of date; run `nox -s generate` and commit.\n"
                + "\n".join(drift)
            )
    session.log("generated/cortex_api_client matches a fresh run, and two runs are identical")


@nox.session
def spec(session: nox.Session) -> None:
    """Validate openapi.yaml, then check that the generator reads it with no warning."""
    session.install(*_group("spec"))
    session.run("openapi-spec-validator", "openapi.yaml")
    with tempfile.TemporaryDirectory() as scratch:
        _generate_into(session, Path(scratch) / "out")


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check on everything hand-written."""
    session.install(*_group("lint"))
    targets = ["wrapper", "tests", "scripts", "examples", "benchmarks", "noxfile.py"]
    session.run("ruff", "check", *targets)
    session.run("ruff", "format", "--check", *targets)


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the wrapper and on the generated package."""
    session.install(".[redis]", *_group("typecheck"))
    session.run("mypy", "--strict", "wrapper/cortexio_sdk", "generated/cortex_api_client")


# Each test Python's interpreter, and back: the sessions are named tests(3.11), tests(3.12)...
_INTERPRETERS = {minor: _interpreter(minor) for minor in TEST_PYTHONS}
_MINOR_OF = {path: minor for minor, path in _INTERPRETERS.items()}


@nox.session
@nox.parametrize("python", list(_INTERPRETERS.values()), ids=TEST_PYTHONS)
def tests(session: nox.Session) -> None:
    """pytest on every supported Python, against the installed package (not the source tree)."""
    session.install(".[redis]", *_group("test"))
    _install_redis_server(session)
    minor = _MINOR_OF[str(session.python)]
    env = _reliability_counts(session, f"tests-{minor}")
    # The shared-limiter tests fail, rather than skip, when redis-server is missing.
    env["CORTEX_REQUIRE_REDIS"] = "1"
    if session.posargs:
        session.run("pytest", *session.posargs, env=env)
        return
    # Every test but the slow ones runs in parallel (pytest-xdist, a worker a core, at most
    # four): each starts its own servers on free ports. The slow ones, the long scenario tests
    # and the real-time end-to-end tests of timing rules, run after them, alone, so that no
    # other test loads the machine while they measure; and on the first Python only, since
    # they measure time and scale, not the interpreter (test_decisions.py checks their
    # arithmetic on every Python).
    session.run("pytest", "-m", "not slow", "--numprocesses=auto", "--maxprocesses=4", env=env)
    if minor == TEST_PYTHONS[0]:
        session.run("pytest", "-m", "slow", env=env)
    else:
        session.log(f"Python {minor}: tests marked slow run on {TEST_PYTHONS[0]} only")


@nox.session
def redis_oldest(session: nox.Session) -> None:
    """The shared-limiter tests with the oldest redis-py the `redis` extra allows (see why in
    the `redis-oldest` dependency group)."""
    session.install(".", *_group("redis-oldest", "test"))
    _install_redis_server(session)
    env = {"CORTEX_REQUIRE_REDIS": "1"}
    session.run("pytest", "tests/test_redis_limiter.py", *session.posargs, env=env)


@nox.session
def otel_oldest(session: nox.Session) -> None:
    """The telemetry tests with the oldest OpenTelemetry API the `otel` extra allows (1.30, the
    first with the histogram bucket advice the SDK gives), and its SDK for the exporters."""
    session.install(".[redis]", *_group("pytest", "otel-oldest"))
    session.run("pytest", "tests/test_telemetry.py", *session.posargs)


def _install_redis_server(session: nox.Session) -> None:
    """The Redis tests and the fleet benchmark run Debian's redis-server on 127.0.0.1 (they start
    their own instances on free ports); install the package when the program is missing."""
    if shutil.which("redis-server"):
        return
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    install = [*sudo, "apt-get", "install", "-y", "--no-install-recommends", "redis-server"]
    session.log("redis-server is missing: installing Debian's package")
    if subprocess.run(install, env={**os.environ, **env}, check=False).returncode != 0:
        # A new machine's package lists may be stale or absent.
        session.run(*sudo, "apt-get", "update", external=True, env=env)
        session.run(*install, external=True, env=env)
    if not shutil.which("redis-server"):
        session.error("redis-server is still missing after installing Debian's redis-server")


# Run in a venv holding only the wheel: both packages import, the core pulls in no Redis client,
# and asking for the Redis limiter without its extra is a clear error, not an ImportError.
_CORE_INSTALL_CHECK = """
import importlib.util, cortexio_sdk, cortex_api_client
assert importlib.util.find_spec("redis") is None, "the core install pulled in redis"
try:
    cortexio_sdk.RedisLimiter(url="redis://127.0.0.1:6379/0")
except cortexio_sdk.ConfigurationError as exc:
    assert "cortexio-sdk[redis]" in str(exc), exc
else:
    raise AssertionError("RedisLimiter without the redis extra did not raise")
print("imported", cortexio_sdk.__version__, "without redis")
"""


@nox.session
def build(session: nox.Session) -> None:
    """Build wheel and sdist, check the wheel's contents, and import it in an empty venv."""
    session.install(*_group("build"))
    dist = ROOT / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    session.run("python", "-m", "build", "--outdir", str(dist))
    (wheel,) = dist.glob("cortexio_sdk-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    required = [
        "cortexio_sdk/__init__.py",
        "cortexio_sdk/py.typed",
        "cortexio_sdk/_ratelimit/_redis_bucket.lua",
        "cortex_api_client/__init__.py",
        "cortex_api_client/py.typed",
        "cortex_api_client/api/queries/get_query_results.py",
    ]
    if missing := [name for name in required if name not in names]:
        session.error(f"{wheel.name} lacks: {', '.join(missing)}")
    if strays := sorted(n for n in names if n.split("/")[0] in {"tests", "generated", "wrapper"}):
        session.error(f"{wheel.name} ships files it should not: {strays[:5]}")
    session.log(f"{wheel.name}: both packages and their py.typed markers are present")
    with tempfile.TemporaryDirectory() as scratch:
        venv = Path(scratch) / "venv"
        session.run("python", "-m", "venv", str(venv))
        python = str(venv / "bin" / "python")
        session.run(python, "-m", "pip", "install", "--quiet", str(wheel), external=True)
        session.run(python, "-c", _CORE_INSTALL_CHECK, external=True)


@nox.session
def demo(session: nox.Session) -> None:
    """The fake Cortex with a tight rate limit, and one query through the CLI (see README)."""
    session.install(".[cli]")
    session.run("python", "scripts/demo.py")


# -- release discipline (docs/versioning.md) ---------------------------------------------------


@nox.session
def api_compat(session: nox.Session) -> None:
    """Fail on a breaking change of the public Python API since the last release (griffe)."""
    session.install(*_group("compat"))
    session.run("python", "scripts/api_compat.py", *session.posargs)


@nox.session
def spec_compat(session: nox.Session) -> None:
    """Fail on an unannounced breaking change of openapi.yaml since the last release."""
    session.install(*_group("compat"))
    session.run("python", "scripts/spec_compat.py", *session.posargs)


@nox.session
def changelog(session: nox.Session) -> None:
    """Fail when openapi.yaml or wrapper/ changed since the last release but CHANGELOG.md not."""
    session.run("python", "scripts/release.py", "changelog")


@nox.session
def release(session: nox.Session) -> None:
    """A dry run of the release: every check, two builds compared byte for byte, twine check.

    Prints the files that would be published with their sha256; uploads and tags nothing.
    SOURCE_DATE_EPOCH is the last commit's time, so the same commit always builds the same bytes.
    """
    session.install(*_group("release"))
    session.run("python", "scripts/api_compat.py")
    session.run("python", "scripts/spec_compat.py")
    session.run("python", "scripts/release.py", "changelog")
    session.run("python", "scripts/release.py", "versions")
    epoch = session.run("git", "log", "-1", "--format=%ct", silent=True, external=True)
    env = {"SOURCE_DATE_EPOCH": str(epoch).strip()}
    with tempfile.TemporaryDirectory() as scratch:
        builds = [Path(scratch) / "first", Path(scratch) / "second"]
        for outdir in builds:
            session.run("python", "-m", "build", "--no-isolation", "--outdir", str(outdir), env=env)
        session.run("twine", "check", "--strict", *map(str, sorted(builds[0].iterdir())))
        session.run("python", "scripts/release.py", "artefacts", *map(str, builds))


# -- reliability: contract tests against Prism, and the report's figures -------------------------

PRISM_DIR = ROOT / ".prism"  # package.json and its lock are committed; node_modules/ is not
# Beside the sessions' venvs, not in one: .nox/reliability is the reliability session's venv.
RELIABILITY_COUNTS = ROOT / ".nox" / "reliability-counts"


def _reliability_counts(session: nox.Session, name: str) -> dict[str, str]:
    """Where a full pytest run writes its case counts (a run with arguments writes none)."""
    target = RELIABILITY_COUNTS / f"{name}.json"
    target.unlink(missing_ok=True)
    if session.posargs:
        return {}
    RELIABILITY_COUNTS.mkdir(parents=True, exist_ok=True)
    return {"RELIABILITY_COUNTS": str(target)}


@nox.session
def contract(session: nox.Session) -> None:
    """Contract tests against Stoplight Prism serving openapi.yaml (npm installs it in .prism/)."""
    session.install(".", *_group("pytest"))
    npm = shutil.which("npm")
    if npm is None:
        session.error("npm not found: the contract tests need Node.js and npm")
    prism = PRISM_DIR / "node_modules" / ".bin" / "prism"
    installed = PRISM_DIR / "node_modules" / ".package-lock.json"
    lock = PRISM_DIR / "package-lock.json"
    if (
        not prism.exists()
        or not installed.exists()
        or installed.stat().st_mtime < lock.stat().st_mtime
    ):
        with session.chdir(PRISM_DIR):
            session.run(npm, "ci", "--no-audit", "--no-fund", "--loglevel=error", external=True)
    env = {"CORTEX_PRISM": str(prism), **_reliability_counts(session, "contract")}
    session.run("pytest", "tests/contract", *session.posargs, env=env)


@nox.session
def schemathesis(session: nox.Session) -> None:
    """Schemathesis (pinned) against the fake: every phase and check, plain and with faults.

    `nox -s schemathesis -- --seed N` passes options on to `st run` (another seed, say).
    """
    session.install(".", *_group("schemathesis"))
    session.run("python", "scripts/schemathesis_run.py", *session.posargs)


@nox.session
def reliability(session: nox.Session) -> None:
    """Print the reliability figures of the last tests and contract runs; fail on a failed case."""
    session.run("python", "scripts/reliability_report.py")


@nox.session
def bench(session: nox.Session) -> None:
    """Every benchmark against its anchor, in one run; writes BENCHMARKS.md and its pictures in
    docs/figures/ (under 15 minutes: the rate-limit cells run 60 s each). After `--`, more
    options of `python -m benchmarks`: `--results FILE` keeps the measurements, `--from FILE`
    writes the text again from them."""
    session.install(".[redis]", *_group("bench"))
    _install_redis_server(session)
    output, figures = ROOT / "BENCHMARKS.md", ROOT / "docs" / "figures"
    session.run(
        "python",
        "-m",
        "benchmarks",
        "--output",
        str(output),
        "--figures",
        str(figures),
        *session.posargs,
    )


@nox.session
def bench_quick(session: nox.Session) -> None:
    """The benchmarks with short durations, small sizes and fewer rate-limit cells (CI; about
    2 minutes): fails only if one is broken; draws the pictures but keeps none."""
    session.install(".[redis]", *_group("bench"))
    _install_redis_server(session)
    session.run("python", "-m", "benchmarks", "--quick")
