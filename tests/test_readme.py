"""Every Python and console block of README.md, run as a reader would run it.

- A python block is a script, run in a fresh interpreter in an empty folder, with
  CORTEX_API_KEY and CORTEX_BASE_URL pointing at a `FakeCortex` (the reader's key and account
  are the fake's). It must exit 0; some blocks' output is checked too (`EXPECTED_OUTPUT`).
- A console block written with `$ ` prompts is one `sh -e` script of the prompted lines, run in
  an empty folder with this environment's scripts (`cortex-query`) on PATH. A line
  `export NAME=...` is a placeholder for the reader's value: the fake's is supplied instead. A
  block with no placeholder gets no Cortex variable at all (the serve-fake one sets its own).
- What cannot run here is checked instead, by rules written below: a console block without
  prompts holds the contributor's commands (`nox`, which is what runs this suite; every
  `nox -s NAME` must name a session and the install line must be `.ci/run`'s), and a
  `pip install` from a private index (the package is on no index here; `nox -s build` installs
  the wheel in a fresh venv) must use one index and hashes.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import shlex
import signal
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
from cortexio_sdk.testing import DEFAULT_CATALOG, FakeCortex

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PLACEHOLDER = re.compile(r"^export (\w+)=\.\.\.(\s+#.*)?$")

pytestmark = pytest.mark.timeout(180)


@dataclass(frozen=True)
class Block:
    language: str
    line: int  # where the block starts in README.md
    text: str

    @property
    def prompted(self) -> list[str]:
        return [line[2:] for line in self.text.splitlines() if line.startswith("$ ")]

    def __str__(self) -> str:
        return f"README.md:{self.line}"


def blocks(language: str) -> list[Block]:
    text = README.read_text()
    found = []
    for match in re.finditer(r"^```(\w+)\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL):
        if match[1] == language:
            found.append(Block(match[1], text.count("\n", 0, match.start()) + 1, match[2]))
    return found


def params(found: list[Block]) -> list[object]:
    return [pytest.param(block, id=str(block)) for block in found]


def fake_env(fake: FakeCortex | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORTEX_")}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env | (fake.env if fake is not None else {})


# --- python blocks ---

# What a block must print, by a phrase of its first line of code.
EXPECTED_OUTPUT = {
    # The spans of the call and of the wait, and the metrics, on the console.
    "ConsoleSpanExporter": lambda out: all(
        any(phrase in line for line in out)
        for phrase in (
            '"name": "createQuery"',
            '"name": "cortex.queries.wait"',
            "cortex.query.duration",
        )
    ),
    "as_completed": lambda out: len(out) == 2 and all(line.endswith("entities") for line in out),
    "FakeCortex(job_seconds": lambda out: out[0].startswith("failed as scripted: "),
    "api.eu.cortex.io": lambda out: "base_url='https://api.eu.cortex.io'" in out[0],
    # 60 s less the time since the request before it, rounded up.
    'rate_limit="2/min"': lambda out: (
        len(out) == 1 and re.fullmatch(r"the server asked to wait (5\d|60) s", out[0]) is not None
    ),
}


def test_there_are_blocks_to_run() -> None:
    assert len(blocks("python")) >= 5
    assert len(blocks("console")) >= 4
    for phrase in EXPECTED_OUTPUT:
        assert any(phrase in block.text for block in blocks("python")), phrase


def run_python(code: str, folder: Path, *, job_seconds: float) -> subprocess.CompletedProcess[str]:
    """`code` as a script in a fresh interpreter, with a FakeCortex's key and base URL."""
    with FakeCortex(job_seconds=job_seconds) as fake:
        return subprocess.run(
            [sys.executable, "-c", code],
            cwd=folder,
            env=fake_env(fake),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )


@pytest.mark.parametrize("block", params(blocks("python")))
def test_python_block(block: Block, tmp_path: Path) -> None:
    done = run_python(block.text, tmp_path, job_seconds=0.3)
    assert done.returncode == 0, f"{block} failed:\n{done.stderr}"
    out = done.stdout.splitlines()
    assert " object at 0x" not in done.stdout
    for phrase, check in EXPECTED_OUTPUT.items():
        if phrase in block.text:
            assert check(out), f"{block} printed:\n{done.stdout}"


def test_the_first_example_prints_each_entity_with_its_type(tmp_path: Path) -> None:
    first = blocks("python")[0]
    assert "entity.type" in first.text
    done = run_python(first.text, tmp_path, job_seconds=0)
    assert done.returncode == 0, done.stderr
    printed = done.stdout.splitlines()
    expected = [e for e in DEFAULT_CATALOG if e.tag in ("payments", "payments-api", "payments-db")]
    assert len(printed) == len(expected) == 3
    for entity in expected:
        assert f"{entity.name} {entity.type} {entity.description}" in printed


# --- console blocks ---


def runnable(block: Block) -> bool:
    return bool(block.prompted) and not any(" pip install " in f" {c}" for c in block.prompted)


@pytest.mark.parametrize("block", params([b for b in blocks("console") if runnable(b)]))
def test_console_block(block: Block, tmp_path: Path) -> None:
    commands = block.prompted
    placeholders = [PLACEHOLDER.match(command) for command in commands]
    script = "\n".join(c for c, p in zip(commands, placeholders, strict=True) if p is None)
    with FakeCortex(job_seconds=0.3) as fake:
        supplied = fake if any(placeholders) else None
        for match in filter(None, placeholders):
            assert match[1] in fake.env, f"{block}: no value to supply for {match[1]}"
        process = subprocess.Popen(
            ["sh", "-e", "-c", script],
            cwd=tmp_path,
            env=fake_env(supplied),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # so that anything it left behind can be stopped
        )
        try:
            stdout, stderr = process.communicate(timeout=120)
        finally:
            with contextlib.suppress(ProcessLookupError):  # usually gone already
                os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 0, f"{block} failed:\n{stdout}\n{stderr}"
    assert "Traceback" not in stderr
    if "-o services.csv" in script:
        header = (tmp_path / "services.csv").read_text().splitlines()[0]
        assert header == "name,tag,type,description"


# --- what is checked instead of run ---


def nox_sessions() -> set[str]:
    noxfile = (ROOT / "noxfile.py").read_text()
    return set(re.findall(r"@nox\.session[^\n]*\ndef (\w+)\(", noxfile))


def test_contributor_commands_name_real_sessions_and_the_ci_install() -> None:
    contributor = [b for b in blocks("console") if not b.prompted]
    assert contributor, "the contributor's nox commands are no longer in the README"
    ci_install = (ROOT / ".ci" / "run").read_text().split("&& nox")[0].split("\n")[-1]
    for block in contributor:
        for line in block.text.splitlines():
            command = line.split("#")[0].strip()
            if not command:
                continue
            words = shlex.split(command)
            if "pip" in words:
                install, _, run = command.partition(" && ")
                assert " ".join(install.split()[-2:]) in ci_install, line
                command = run
                words = shlex.split(command)
            assert words[0] == "nox", f"{block}: {line!r} is neither nox nor its install"
            for flag, name in itertools.pairwise(words):
                if flag == "-s":
                    assert name in nox_sessions(), f"{block}: no nox session {name!r}"


def test_install_commands_pin_from_one_index_with_hashes() -> None:
    installs = [c for b in blocks("console") for c in b.prompted if " pip install " in f" {c}"]
    assert installs
    for command in installs:
        assert "--index-url" in command
        assert "--extra-index-url" not in command  # two indexes: the public one could win
        assert "--require-hashes" in command


def test_every_name_version_and_extra_the_docs_mention_is_this_project() -> None:
    project = PYPROJECT["project"]
    docs = README.read_text() + (ROOT / "docs" / "versioning.md").read_text()
    pins = set(re.findall(r"cortexio-sdk==([0-9][\w.]*)", docs))
    assert pins == {project["version"]}
    extras = set(re.findall(r"cortexio-sdk\[(\w+)\]", docs))
    assert extras
    assert extras <= set(project["optional-dependencies"])
    assert project["name"] == "cortexio-sdk"
    # The first name, held on PyPI by an unrelated project, is gone: only CHANGELOG.md says why.
    assert not re.search(r"(?<![\w-])cortex[-_]sdk\b", docs)
