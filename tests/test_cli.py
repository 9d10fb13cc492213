"""`cortex-query` end to end: the command run as a subprocess against the fake Cortex server.

Every test starts the CLI as `python -m cortexio_sdk.cli` (so it works in any environment) with
CORTEX_BASE_URL and CORTEX_API_KEY pointing at a `FakeCortex` on 127.0.0.1 in this process, and
checks what a user sees: stdout, stderr, the exit code, and what the fake was asked. Expected
entities come from the fake's own catalog and CQL filter, not from lists written here.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import IO

import pytest
from cortexio_sdk import __version__
from cortexio_sdk.cli import EXIT_CODES
from cortexio_sdk.cli._output import FORMATS
from cortexio_sdk.testing import DEFAULT_CATALOG, Entity, FakeCortex, Job, parse_cql

pytest_plugins = ["cortexio_sdk.testing.pytest_plugin"]

# Unless a test says otherwise, jobs are DONE at once: most tests are about what is printed.
# Subprocess tests of the command line: slow-marked, so nox runs them on the first Python only.
pytestmark = [pytest.mark.cortex_fake(job_seconds=0), pytest.mark.slow]

CLI = (sys.executable, "-m", "cortexio_sdk.cli")
posix_only = pytest.mark.skipif(
    sys.platform == "win32", reason="POSIX signals and pseudo-terminals"
)
QUERY = "type in ('team', 'queue') or tag = 'payments-api'"
# Variables that would change what the child prints (colours, width, where it connects).
_CLEARED_ENV = (
    "CORTEX_API_KEY",
    "CORTEX_BASE_URL",
    "CORTEX_RATE_LIMIT_REDIS_URL",
    "NO_COLOR",
    "FORCE_COLOR",
    "TTY_COMPATIBLE",
    "TTY_INTERACTIVE",
    "COLUMNS",
    "LINES",
    "TERM",
    "COLORTERM",
)
# The one log line shown without -v: the first retry of a connection that could not be made.
CONNECT_RETRY_LINE = re.compile(
    r"\d\d:\d\d:\d\d INFO \S+ \S+ failed \(Connect\w+: .*; retrying in "
)
PROGRESS_LINE = re.compile(
    r"job (?P<job>[0-9a-f-]{36}): (?P<status>[A-Z_]+)(?: (?P<percent>\d+)%)?"
)


# --- running the command ---


def child_env(fake: FakeCortex | None = None, **variables: str) -> dict[str, str]:
    """This environment without the variables above, pointed at `fake`, plus `variables`."""
    env = {name: value for name, value in os.environ.items() if name not in _CLEARED_ENV}
    env["PYTHONUTF8"] = "1"  # the same encoding on every machine, whatever its locale
    if fake is not None:
        env.update(fake.env)
    env.update(variables)
    return env


def cortex_query(
    *args: str,
    fake: FakeCortex | None,
    stdin: str = "",
    env: dict[str, str] | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """Run the command to its end with stdin, stdout and stderr as pipes."""
    return subprocess.run(
        [*CLI, *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env if env is not None else child_env(fake),
        timeout=timeout,
        check=False,
    )


@contextlib.contextmanager
def sigint_reaches_children() -> Iterator[None]:
    """Make sure a child started inside can get KeyboardInterrupt from SIGINT.

    A shell starts background jobs with SIGINT ignored, and an ignored signal stays ignored
    across exec: Python would then leave it ignored in the child too. A handler in this process
    becomes the default action in the child, for which Python installs KeyboardInterrupt.
    """
    previous = signal.getsignal(signal.SIGINT)
    if previous is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        if previous is signal.SIG_IGN:
            signal.signal(signal.SIGINT, signal.SIG_IGN)


class _Lines:
    """The lines of a child's pipe, collected by a thread as they arrive."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: list[str] = []
        self._ended = False
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._thread.start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self._ended = True
            self._changed.notify_all()

    def wait_for(self, pattern: str, timeout: float = 20) -> re.Match[str]:
        """The first line matching `pattern`, waiting for it to arrive."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.lines:
                    if found := re.search(pattern, line):
                        return found
                remaining = deadline - time.monotonic()
                if self._ended or remaining <= 0:
                    why = "ended" if self._ended else f"said nothing more for {timeout} s"
                    raise AssertionError(
                        f"the child {why} without a line matching {pattern!r}: {self.lines!r}"
                    )
                self._changed.wait(remaining)

    def text(self) -> str:
        """Everything, once the pipe has ended."""
        self._thread.join(20)
        return "".join(self.lines)

    def close(self, stream: IO[str]) -> None:
        self._thread.join(20)
        stream.close()


class Background:
    """A command left running while the test acts; killed at the end if still alive."""

    def __init__(self, argv: Sequence[str], env: dict[str, str]) -> None:
        with sigint_reaches_children():
            self.process = subprocess.Popen(
                argv,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        assert self.process.stdout is not None
        assert self.process.stderr is not None
        self.stdout = _Lines(self.process.stdout)
        self.stderr = _Lines(self.process.stderr)

    def finish(self, timeout: float = 30) -> int:
        """Wait for the command to end; its exit code."""
        return self.process.wait(timeout)

    def __enter__(self) -> Background:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)
        assert self.process.stdout is not None
        assert self.process.stderr is not None
        self.stdout.close(self.process.stdout)
        self.stderr.close(self.process.stderr)


# --- reading what it printed ---


def as_row(entity: Entity) -> dict[str, str]:
    """An entity as the CLI prints it (a missing description is empty)."""
    return {
        "name": entity.name,
        "tag": entity.tag,
        "type": entity.type,
        "description": entity.description or "",
    }


def selected(catalog: Sequence[Entity], query: str) -> list[dict[str, str]]:
    """What the fake's CQL filter selects from `catalog`, in catalog order, as CLI rows."""
    predicate = parse_cql(query)
    return [as_row(entity) for entity in catalog if predicate.matches(entity)]


def parse_table(text: str) -> list[dict[str, str]]:
    """The aligned table: each column starts where its heading does."""
    header, *lines = text.splitlines()
    assert header.split() == ["NAME", "TAG", "TYPE", "DESCRIPTION"], header
    starts = [match.start() for match in re.finditer(r"\S+", header)]
    ends = [*starts[1:], None]
    keys = [name.lower() for name in header.split()]
    return [
        {key: line[start:end].strip() for key, start, end in zip(keys, starts, ends, strict=True)}
        for line in lines
    ]


def parse_json(text: str) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = json.loads(text)
    return rows


def parse_jsonl(text: str) -> list[dict[str, str]]:
    assert text == "" or text.endswith("\n")
    return [json.loads(line) for line in text.split("\n")[:-1]]


def parse_csv(text: str) -> list[dict[str, str]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    assert reader.fieldnames == ["name", "tag", "type", "description"]
    return list(reader)


PARSERS: dict[str, Callable[[str], list[dict[str, str]]]] = {
    "table": parse_table,
    "json": parse_json,
    "jsonl": parse_jsonl,
    "csv": parse_csv,
}


def only_job(fake: FakeCortex) -> Job:
    jobs = fake.jobs()
    assert len(jobs) == 1, jobs
    return jobs[0]


def error_line(stderr: str) -> str:
    """The one `error: ...` line; every other stderr line must be a progress line."""
    assert "Traceback" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    others = [line for line in stderr.splitlines() if not line.startswith("error: ")]
    assert len(errors) == 1, stderr
    assert all(PROGRESS_LINE.fullmatch(x) or CONNECT_RETRY_LINE.match(x) for x in others), stderr
    return errors[0]


def test_there_is_a_parser_for_every_format() -> None:
    assert set(PARSERS) == set(FORMATS)


# --- results ---


# Values a format could mangle: quotes, commas, a tab, a newline, non-ASCII, no description.
ODD_ENTITIES = (
    Entity("Zoë's «Ledger»", "zoe-ledger", "odd", 'Says "hi", then waits ✓'),
    Entity("Comma, Inc", "comma", "odd", "a,b;c\ttab"),
    Entity("Two Lines", "two-lines", "odd", "first line\nsecond line"),
    Entity("Bare", "bare", "odd"),
)
FORMAT_QUERY = "type in ('team', 'odd') or tag = 'payments-api'"


@pytest.mark.parametrize("fmt", [*FORMATS, None], ids=[*FORMATS, "default"])
def test_run_prints_the_entities_the_query_selects(
    cortex_fake: FakeCortex, fmt: str | None
) -> None:
    cortex_fake.catalog = (*DEFAULT_CATALOG, *ODD_ENTITIES)

    options = [] if fmt is None else ["--format", fmt]
    done = cortex_query("run", FORMAT_QUERY, *options, fake=cortex_fake)

    assert done.returncode == 0, done.stderr
    expected = selected(cortex_fake.catalog, FORMAT_QUERY)
    assert 1 < len(expected) < len(cortex_fake.catalog)  # the filter matters
    assert all(as_row(entity) in expected for entity in ODD_ENTITIES)
    job = only_job(cortex_fake)
    assert job.query == FORMAT_QUERY
    assert [as_row(entity) for entity in job.entities] == expected
    if fmt in (None, "table"):  # one line per entity: whitespace inside a value is collapsed
        expected = [{k: " ".join(v.split()) for k, v in row.items()} for row in expected]
    assert PARSERS[fmt or "table"](done.stdout) == expected


@pytest.mark.parametrize(("option", "fmt"), [("--output", "json"), ("-o", "csv")])
def test_output_file_gets_the_results_and_stdout_stays_empty(
    cortex_fake: FakeCortex, tmp_path: Path, option: str, fmt: str
) -> None:
    target = tmp_path / f"entities.{fmt}"

    done = cortex_query("run", QUERY, "--format", fmt, option, str(target), fake=cortex_fake)

    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert PARSERS[fmt](target.read_text(encoding="utf-8")) == selected(cortex_fake.catalog, QUERY)


@pytest.mark.cortex_fake(job_seconds=60)
def test_no_wait_prints_the_job_then_get_and_wait_use_its_id(cortex_fake: FakeCortex) -> None:
    started = cortex_query("run", "--no-wait", QUERY, "--format", "json", fake=cortex_fake)

    assert started.returncode == 0, started.stderr
    assert started.stderr == ""  # nothing to wait for, so no progress
    record = json.loads(started.stdout)
    job = only_job(cortex_fake)
    assert record["jobId"] == job.job_id
    assert record["query"] == QUERY
    assert set(record) == {"jobId", "query", "initiatedAt"}

    # `get` while it runs: the state, no entities yet.
    running = cortex_query("get", job.job_id, "--format", "json", fake=cortex_fake)
    assert running.returncode == 0, running.stderr
    state = json.loads(running.stdout)
    assert state["jobId"] == job.job_id
    assert state["status"] == "IN_PROGRESS"
    assert 0 <= state["progress"] < 100  # percent, as on the bar and in errors
    assert state["entities"] is None

    # `wait` follows it; the job ends while it waits.
    with Background([*CLI, "wait", job.job_id, "--format", "jsonl"], child_env(cortex_fake)) as bg:
        bg.stderr.wait_for(rf"job {job.job_id}: IN_PROGRESS")
        cortex_fake.end_job(job.job_id, "DONE")
        assert bg.finish() == 0, bg.stderr.text()
        assert parse_jsonl(bg.stdout.text()) == selected(cortex_fake.catalog, QUERY)
        assert re.search(rf"job {job.job_id}: DONE 100%", bg.stderr.text())

    # `get` once it is DONE: the same state record, with the entities.
    finished = cortex_query("get", job.job_id, "--format", "json", fake=cortex_fake)
    assert finished.returncode == 0, finished.stderr
    state = json.loads(finished.stdout)
    assert (state["jobId"], state["status"], state["progress"]) == (job.job_id, "DONE", 100)
    assert state["entities"] == selected(cortex_fake.catalog, QUERY)
    assert len(cortex_fake.jobs()) == 1  # get and wait started nothing


@pytest.mark.cortex_fake(job_seconds=60)
def test_no_wait_prints_the_job_id_alone_for_a_shell_variable(cortex_fake: FakeCortex) -> None:
    started = cortex_query("run", "--no-wait", QUERY, fake=cortex_fake)

    assert started.returncode == 0, started.stderr
    assert started.stdout == f"{only_job(cortex_fake).job_id}\n"  # JOB=$(cortex-query ...)


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv", "table"])
def test_get_prints_the_job_state_in_one_shape_before_and_after_done(
    cortex_fake: FakeCortex, fmt: str
) -> None:
    cortex_fake.faults.next_jobs("DONE", seconds=60)
    with cortex_fake.client() as client:
        job_id = client.queries.run(QUERY).job_id
    running = cortex_query("get", job_id, "--format", fmt, fake=cortex_fake)
    cortex_fake.end_job(job_id, "DONE")
    done = cortex_query("get", job_id, "--format", fmt, fake=cortex_fake)

    assert running.returncode == done.returncode == 0, running.stderr + done.stderr
    expected = selected(cortex_fake.catalog, QUERY)
    if fmt in ("json", "jsonl"):
        before, after = json.loads(running.stdout), json.loads(done.stdout)
        assert set(before) == set(after)  # `jq .status` works whatever the status
        assert (before["status"], before["entities"]) == ("IN_PROGRESS", None)
        assert (after["status"], after["progress"], after["entities"]) == ("DONE", 100, expected)
    elif fmt == "csv":
        before_rows = list(csv.DictReader(io.StringIO(running.stdout)))
        after_rows = list(csv.DictReader(io.StringIO(done.stdout)))
        assert before_rows[0].keys() == after_rows[0].keys()
        assert [(r["jobId"], r["status"], r["name"]) for r in before_rows] == [
            (job_id, "IN_PROGRESS", "")
        ]
        assert {r["status"] for r in after_rows} == {"DONE"}
        entity_columns = ("name", "tag", "type", "description")
        assert [{k: r[k] for k in entity_columns} for r in after_rows] == expected
    else:
        state_header = ["JOBID", "STATUS", "PROGRESS", "QUERY", "INITIATEDAT"]
        assert running.stdout.splitlines()[0].split() == state_header
        assert len(running.stdout.splitlines()) == 2  # no entities yet
        job_table, entity_table = done.stdout.split("\n\n")
        assert job_table.splitlines()[0].split() == state_header
        assert job_table.splitlines()[1].split()[:3] == [job_id, "DONE", "100"]
        assert parse_table(entity_table) == expected


def test_get_on_a_running_job_prints_a_one_row_table(cortex_fake: FakeCortex) -> None:
    cortex_fake.faults.next_jobs("DONE", seconds=600)  # under 1 % for 6 s: "0.x" on a slow start
    with cortex_fake.client() as client:
        job_id = client.queries.run(QUERY).job_id

    done = cortex_query("get", job_id, fake=cortex_fake)

    assert done.returncode == 0, done.stderr
    header, row = done.stdout.splitlines()
    assert header.split() == ["JOBID", "STATUS", "PROGRESS", "QUERY", "INITIATEDAT"]
    assert row.startswith(f"{job_id}  IN_PROGRESS  0")
    assert QUERY in row


def test_run_dash_reads_the_query_from_stdin(cortex_fake: FakeCortex) -> None:
    text = "type = 'cache'\n  or type = 'bucket'\n"
    done = cortex_query("run", "-", "--format", "json", fake=cortex_fake, stdin=text)

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == selected(cortex_fake.catalog, text)
    assert only_job(cortex_fake).query == text.strip()  # without the trailing newline


# --- piped output and progress ---


@pytest.mark.cortex_fake(job_seconds=1.0)
def test_piped_progress_is_plain_lines_on_stderr(cortex_fake: FakeCortex) -> None:
    done = cortex_query("run", QUERY, "--format", "json", fake=cortex_fake)

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == selected(cortex_fake.catalog, QUERY)  # results only
    job = only_job(cortex_fake)
    assert "\x1b" not in done.stderr
    assert "\x1b" not in done.stdout
    lines = done.stderr.splitlines()
    progress = [PROGRESS_LINE.fullmatch(line) for line in lines]
    assert all(progress), lines
    seen = [(m["job"], m["status"], int(m["percent"])) for m in progress if m]
    assert {job_id for job_id, _, _ in seen} == {job.job_id}
    assert [status for _, status, _ in seen[:-1]] == ["IN_PROGRESS"] * (len(seen) - 1)
    assert len(seen) >= 2  # running (usually more than once), then done
    assert seen[-1][1:] == ("DONE", 100)
    percents = [percent for _, _, percent in seen]
    assert percents == sorted(percents)


def test_verbose_logs_a_rate_limit_being_waited_out(cortex_fake: FakeCortex) -> None:
    cortex_fake.faults.rate_limit(per_second=1, burst=1)

    done = cortex_query("-v", "run", QUERY, "--format", "jsonl", fake=cortex_fake)

    assert done.returncode == 0, done.stderr
    assert parse_jsonl(done.stdout) == selected(cortex_fake.catalog, QUERY)
    assert cortex_fake.counters.rate_limited >= 1
    assert re.search(
        r"^\d\d:\d\d:\d\d INFO GET \S+ answered 429 \(Retry-After\); retrying in 1\.00 s",
        done.stderr,
        re.MULTILINE,
    ), done.stderr
    assert "\x1b" not in done.stderr
    # Last, what the run cost, as the server counted it.
    summary = re.search(
        r"^cortex-query: (\d+) requests \((\d+) answered 429, (\d+) retried\), held off "
        r"(\d+\.\d) s, waited (\d+\.\d) s for the rate limiter, (\d+) polls$",
        done.stderr,
        re.MULTILINE,
    )
    assert summary is not None, done.stderr
    assert done.stderr.rstrip().endswith(summary.group(0))
    requests, limited, retried, held, waited, polls = summary.groups()
    assert int(requests) == cortex_fake.counters.requests
    assert int(limited) == int(retried) == cortex_fake.counters.rate_limited
    assert float(held) >= 0.9 * int(limited)  # each 429 asked for 1 s of quiet
    assert float(waited) >= 0.9 * int(limited)  # and the limiter made the callers wait it
    assert 1 <= int(polls) < int(requests)


@pytest.mark.cortex_fake(job_seconds=0.8)
@pytest.mark.parametrize("where", ["before", "after"])
def test_global_options_go_before_or_after_the_command(cortex_fake: FakeCortex, where: str) -> None:
    options = ["-v", "--base-url", cortex_fake.base_url]
    command = ["run", QUERY, "--format", "jsonl"]
    args = [*options, *command] if where == "before" else [*command, *options]
    env = child_env(cortex_fake, CORTEX_BASE_URL="http://127.0.0.1:9")  # the option must win

    done = cortex_query(*args, fake=cortex_fake, env=env)

    assert done.returncode == 0, done.stderr
    assert parse_jsonl(done.stdout) == selected(cortex_fake.catalog, QUERY)
    # -v: each request, each wait between polls.
    log = [line for line in done.stderr.splitlines() if not PROGRESS_LINE.fullmatch(line)]
    requests = [line for line in log if re.search(r" DEBUG (GET|POST) \S+ answered 200", line)]
    assert len(requests) == cortex_fake.counters.requests >= 2, done.stderr
    assert any(re.search(r" DEBUG query job \S+: next poll in \d+\.\d\d s", x) for x in log)


def test_without_verbose_retries_are_not_logged(cortex_fake: FakeCortex) -> None:
    cortex_fake.faults.errors(503, method="GET")  # retried after a short backoff

    done = cortex_query("run", QUERY, "--format", "jsonl", fake=cortex_fake)

    assert done.returncode == 0, done.stderr
    assert parse_jsonl(done.stdout) == selected(cortex_fake.catalog, QUERY)
    assert cortex_fake.counters.injected_errors == 1
    assert all(PROGRESS_LINE.fullmatch(line) for line in done.stderr.splitlines()), done.stderr


# --- exit codes ---


def test_every_exit_code_is_in_the_help() -> None:
    # Each of these is produced by a test in this file; a new one needs a test too.
    assert set(EXIT_CODES) == {0, 1, 2, 3, 4, 5, 6, 7, 8, 130, 141}
    done = cortex_query("--help", fake=None)
    assert done.returncode == 0
    for code, meaning in EXIT_CODES.items():
        assert f"{code:>3}  {meaning}" in done.stdout


@pytest.mark.parametrize(
    ("args", "stdin", "env", "says"),
    [
        pytest.param(["run", QUERY, "--format", "xml"], "", {}, "invalid choice", id="format"),
        pytest.param(["run", ""], "", {}, "the query is empty", id="empty-query"),
        pytest.param(["run", "-"], " \n\n", {}, "the query is empty", id="empty-stdin"),
        pytest.param(["run", QUERY, "--timeout", "0"], "", {}, "positive", id="timeout"),
        pytest.param([], "", {}, "required", id="no-command"),
        pytest.param(
            ["run", QUERY],
            "",
            {"CORTEX_API_KEY": None},
            "error: ConfigurationError: no Cortex API key; set the CORTEX_API_KEY environment "
            "variable",
            id="no-key",
        ),
        pytest.param(
            ["get", "some-job", "--base-url", "http://cortex.example"],
            "",
            {},
            "error: ConfigurationError: --base-url 'http://cortex.example' uses plain http to a "
            "host that is not this machine, which would send the API key unencrypted; use "
            "https, or pass --allow-insecure-http",
            id="insecure-http",
        ),
        pytest.param(
            ["get", "some-job"],
            "",
            {"CORTEX_API_KEY": ""},
            "error: ConfigurationError: the Cortex API key from CORTEX_API_KEY is empty",
            id="empty-key",
        ),
    ],
)
def test_bad_usage_exits_2_before_any_request(
    cortex_fake: FakeCortex,
    args: list[str],
    stdin: str,
    env: dict[str, str | None],
    says: str,
) -> None:
    variables = child_env(cortex_fake)
    for name, value in env.items():
        if value is None:
            del variables[name]
        else:
            variables[name] = value

    done = cortex_query(*args, fake=cortex_fake, stdin=stdin, env=variables)

    assert done.returncode == 2, done.stderr
    assert says in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""
    assert cortex_fake.counters.requests == 0


@pytest.mark.parametrize(
    ("command", "status", "code", "error"),
    [
        ("run", "FAILURE", 3, "QueryFailedError"),
        ("run", "CANCELLED", 4, "QueryCancelledError"),
        ("run", "TIMED_OUT", 5, "QueryTimedOutError"),
        ("wait", "FAILURE", 3, "QueryFailedError"),
    ],
)
def test_a_job_that_does_not_end_done(
    cortex_fake: FakeCortex, command: str, status: str, code: int, error: str
) -> None:
    cortex_fake.faults.next_jobs(status, seconds=0)
    if command == "run":
        done = cortex_query("run", QUERY, fake=cortex_fake)
    else:
        with cortex_fake.client() as client:
            job_id = client.queries.run(QUERY).job_id
        done = cortex_query("wait", job_id, fake=cortex_fake)

    job = only_job(cortex_fake)
    assert done.returncode == code, done.stderr
    assert done.stdout == ""
    assert error_line(done.stderr) == f"error: {error}: query job {job.job_id} ended {status}"


def test_our_deadline_exits_6_naming_the_job_to_wait_on(cortex_fake: FakeCortex) -> None:
    cortex_fake.faults.next_jobs("DONE", seconds=60)

    started = time.monotonic()
    done = cortex_query("run", QUERY, "--timeout", "1", fake=cortex_fake)
    elapsed = time.monotonic() - started

    job = only_job(cortex_fake)
    assert done.returncode == 6, done.stderr
    assert done.stdout == ""
    line = error_line(done.stderr)
    assert line.startswith(f"error: WaitTimeoutError: query job {job.job_id}: still IN_PROGRESS")
    assert re.search(r"IN_PROGRESS, \d+% done after 1 s", line), line  # percent, as elsewhere
    assert line.endswith(f"; resume with: cortex-query wait {job.job_id}")
    assert line.count("resume with") == 1
    assert 1 <= elapsed < 15

    # The hint works: `wait` on that id gets the entities once the job is done.
    cortex_fake.end_job(job.job_id, "DONE")
    resumed = cortex_query("wait", job.job_id, "--format", "json", fake=cortex_fake)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout) == selected(cortex_fake.catalog, QUERY)


def test_unknown_job_exits_7_with_one_line_and_the_request_id(cortex_fake: FakeCortex) -> None:
    done = cortex_query("get", "nope", fake=cortex_fake)

    assert done.returncode == 7, done.stderr
    assert done.stdout == ""
    (request,) = cortex_fake.requests
    assert request.status == 404
    assert done.stderr == (
        "error: NotFoundError: HTTP 404 NOT_FOUND: No query job with id 'nope' "
        f"[request id {request.request_id}]\n"
    )


def test_bad_cql_exits_7_with_the_server_message(cortex_fake: FakeCortex) -> None:
    done = cortex_query("run", "type = ", fake=cortex_fake)

    assert done.returncode == 7, done.stderr
    assert done.stdout == ""
    (request,) = cortex_fake.requests
    assert request.status == 400
    line = error_line(done.stderr)
    assert line.startswith("error: BadRequestError: HTTP 400 ILLEGAL_ARGUMENT_ERROR: Invalid CQL")
    assert line.endswith(f"[request id {request.request_id}]")
    assert cortex_fake.jobs() == []


def test_wrong_key_exits_7(cortex_fake: FakeCortex) -> None:
    done = cortex_query(
        "run", QUERY, fake=cortex_fake, env=child_env(cortex_fake, CORTEX_API_KEY="wrong-key")
    )
    assert done.returncode == 7, done.stderr
    assert error_line(done.stderr).startswith("error: AuthenticationError: HTTP 401")
    assert "wrong-key" not in done.stderr


def test_a_proxy_error_page_exits_7(cortex_fake: FakeCortex) -> None:
    cortex_fake.faults.errors(502, html=True, method="POST")
    done = cortex_query("run", QUERY, fake=cortex_fake)
    assert done.returncode == 7, done.stderr
    line = error_line(done.stderr)
    assert line.startswith("error: UnexpectedResponseError: ")
    assert "HTTP 502" in line


@pytest.fixture(scope="module", autouse=True)
def refused_run() -> Iterator[tuple[str, Background]]:
    """`cortex-query get` against a port that refuses connections, started with this module's
    first test: the CLI retries a refused connection with backoff for about 6 s, and that
    wait then overlaps the other tests instead of adding to them.

    The port is a bound socket that does not listen: connections to it are refused, and
    nothing else can take the port while the socket is held.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as closed:
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}"
        env = child_env(None, CORTEX_BASE_URL=url, CORTEX_API_KEY="test-key")
        with Background([*CLI, "get", "some-job"], env) as run:
            yield url, run


def test_a_closed_port_exits_8(refused_run: tuple[str, Background]) -> None:
    url, run = refused_run

    code = run.finish(timeout=60)

    stderr = run.stderr.text()
    assert code == 8, stderr
    assert run.stdout.text() == ""
    line = error_line(stderr)
    assert line.startswith(f"error: APIConnectionError: GET {url}/api/v1/queries/some-job: ")
    assert "refused" in line
    assert line.endswith("after 5 attempts")  # the first and max_retries (4) more
    # Not seconds of silence: the first retry of a connection that failed is said at once,
    # and the others (without -v) are not.
    warned = [x for x in stderr.splitlines() if "failed (ConnectError" in x and "retrying" in x]
    assert len(warned) == 1, stderr
    assert "(retry 1 of 4)" in warned[0]


def test_a_dropped_connection_exits_8(cortex_fake: FakeCortex) -> None:
    cortex_fake.faults.drop_connections(method="POST")
    done = cortex_query("run", QUERY, fake=cortex_fake)
    assert done.returncode == 8, done.stderr
    assert error_line(done.stderr).startswith("error: APIConnectionError: POST ")
    assert cortex_fake.counters.dropped == 1


def test_an_output_file_in_a_missing_folder_exits_2_before_any_request(
    cortex_fake: FakeCortex, tmp_path: Path
) -> None:
    target = tmp_path / "no-such-dir" / "out.json"
    done = cortex_query("run", QUERY, "--output", str(target), fake=cortex_fake)

    assert done.returncode == 2, done.stderr
    assert "does not exist" in done.stderr
    assert cortex_fake.counters.requests == 0
    assert not target.exists()


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
def test_an_output_that_fails_while_writing_exits_1_with_the_job_id(
    cortex_fake: FakeCortex,
) -> None:
    done = cortex_query("run", QUERY, "--output", "/dev/full", fake=cortex_fake)

    assert done.returncode == 1, done.stderr
    job = only_job(cortex_fake)
    line = error_line(done.stderr)
    assert line.startswith("error: OSError: ")
    assert line.endswith(f"(job {job.job_id})")  # the job ran: its id, to get the results


@posix_only
def test_ctrl_c_while_waiting_exits_130_with_the_job_id(cortex_fake: FakeCortex) -> None:
    cortex_fake.faults.next_jobs("DONE", seconds=60)
    with Background([*CLI, "run", QUERY], child_env(cortex_fake)) as bg:
        bg.stderr.wait_for(r": IN_PROGRESS ")
        job = only_job(cortex_fake)
        sent = time.monotonic()
        bg.process.send_signal(signal.SIGINT)
        code = bg.finish()
        elapsed = time.monotonic() - sent
        stderr = bg.stderr.text()
        stdout = bg.stdout.text()

    assert code == 130, stderr
    assert elapsed < 5  # promptly: not after the next poll, nor the job's end
    assert stdout == ""
    assert "Traceback" not in stderr
    assert stderr.splitlines()[-1] == f"interrupted; resume with: cortex-query wait {job.job_id}"


@posix_only
@pytest.mark.parametrize("reader", ["reads one line", "reads nothing"])
def test_stdout_closed_early_exits_141_quietly(cortex_fake: FakeCortex, reader: str) -> None:
    # Far more output than a pipe holds, so the CLI is still writing when the reader goes:
    # it must meet the closed pipe whatever the timing.
    cortex_fake.catalog = [
        Entity(f"Service {i}", f"svc-{i:05}", "service", f"service number {i} " + "x" * 150)
        for i in range(3000)
    ]
    process = subprocess.Popen(
        [*CLI, "run", "type = 'service'", "--format", "jsonl"],
        env=child_env(cortex_fake),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        if reader == "reads one line":
            first = json.loads(process.stdout.readline())
            assert first["tag"] == "svc-00000"
        process.stdout.close()
        _, stderr_bytes = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    stderr = stderr_bytes.decode()
    assert process.returncode == 141, stderr
    assert "Traceback" not in stderr
    assert "error" not in stderr
    assert all(PROGRESS_LINE.fullmatch(line) for line in stderr.splitlines()), stderr


# --- a real terminal ---


@dataclass
class TerminalRun:
    returncode: int
    stdout: str
    terminal: str  # everything the command wrote to its terminal (its stderr), escapes included


def run_on_terminal(
    args: Sequence[str], fake: FakeCortex, *, interrupt_on: str | None = None, timeout: float = 30
) -> TerminalRun:
    """Run the command with a pseudo-terminal (200 columns) as stdin and stderr, stdout a pipe.

    With `interrupt_on`, send SIGINT once the terminal shows that text.
    """
    import fcntl  # POSIX only, as are pseudo-terminals
    import termios

    master, slave = os.openpty()
    try:
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 200, 0, 0))
        env = child_env(fake, TERM="xterm-256color")
        with sigint_reaches_children():
            process = subprocess.Popen(
                [*CLI, *args], env=env, stdin=slave, stderr=slave, stdout=subprocess.PIPE
            )
    finally:
        os.close(slave)
    received: list[bytes] = []
    shown = threading.Event()

    def pump() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: every copy of the terminal's other end is closed
                return
            if not data:
                return
            received.append(data)
            if interrupt_on is not None and interrupt_on.encode() in b"".join(received):
                shown.set()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        if interrupt_on is not None:
            assert shown.wait(timeout), b"".join(received)
            process.send_signal(signal.SIGINT)
        stdout, _ = process.communicate(timeout=timeout)
        reader.join(timeout)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(master)
    return TerminalRun(process.returncode, stdout.decode(), b"".join(received).decode())


_CSI = re.compile(r"\x1b\[(\??)([0-9;]*)([@-~])")


class _Screen:
    """Just enough of a terminal for rich's progress bar: carriage return, newline, cursor
    up/down/to a column, erase line, colours and cursor visibility (ignored)."""

    def __init__(self) -> None:
        self.rows: list[list[str]] = [[]]
        self.row = self.col = 0

    def feed(self, output: str) -> None:
        i = 0
        while i < len(output):
            if output[i] == "\x1b":
                escape = _CSI.match(output, i)
                assert escape is not None, f"an escape this test does not know: {output[i:]!r}"
                self._escape(*escape.groups())
                i = escape.end()
            else:
                self._char(output[i])
                i += 1

    def lines(self) -> list[str]:
        return ["".join(line).rstrip() for line in self.rows]

    def _line(self) -> list[str]:
        while len(self.rows) <= self.row:
            self.rows.append([])
        return self.rows[self.row]

    def _escape(self, private: str, params: str, final: str) -> None:
        count = int(params) if params.isdigit() else 1
        if private or final == "m":
            return  # cursor shown or hidden; colours
        if final == "A":
            self.row = max(0, self.row - count)
        elif final == "B":
            self.row += count
        elif final == "G":
            self.col = count - 1
        elif final == "K" and params == "2":
            self._line().clear()
        elif final == "K" and params in ("", "0"):
            del self._line()[self.col :]
        else:
            raise AssertionError(f"an escape this test does not know: ESC[{private}{params}{final}")

    def _char(self, char: str) -> None:
        if char == "\r":
            self.col = 0
        elif char == "\n":
            self.row += 1
        else:
            line = self._line()
            line.extend(" " * (self.col - len(line)))
            if self.col < len(line):
                line[self.col] = char
            else:
                line.append(char)
            self.col += 1


def screen(output: str) -> list[str]:
    """The lines a terminal shows after `output`."""
    terminal = _Screen()
    terminal.feed(output)
    return terminal.lines()


def visible(output: str) -> list[str]:
    return [line for line in screen(output) if line]


def test_the_screen_reader_of_these_tests() -> None:
    assert visible("bar 1\r\x1b[2Kbar 2") == ["bar 2"]
    assert visible("log\r\nbar\r\n\x1b[?25h\r\x1b[1A\x1b[2K") == ["log"]
    assert visible("\x1b[1mab\x1b[0mcd\rX") == ["Xbcd"]


needs_rich = pytest.mark.skipif(
    find_spec("rich") is None, reason="the progress bar needs rich (the `cli` extra)"
)


@posix_only
@needs_rich
@pytest.mark.cortex_fake(job_seconds=0.6)
def test_a_terminal_shows_a_progress_bar_and_stdout_has_only_results(
    cortex_fake: FakeCortex,
) -> None:
    run = run_on_terminal(["run", QUERY, "--format", "jsonl"], cortex_fake)

    assert run.returncode == 0, run.terminal
    assert parse_jsonl(run.stdout) == selected(cortex_fake.catalog, QUERY)
    job = only_job(cortex_fake)
    assert "\x1b[" in run.terminal  # drawn with escapes
    assert f"job {job.job_id}" in run.terminal  # the bar's label
    assert "\u2501" in run.terminal  # the bar itself
    assert "IN_PROGRESS" in run.terminal
    assert not PROGRESS_LINE.search(run.terminal)  # no plain progress lines
    assert visible(run.terminal) == []  # and it is gone when done


@posix_only
@needs_rich
def test_log_lines_print_above_the_bar(cortex_fake: FakeCortex) -> None:
    cortex_fake.faults.rate_limit(per_second=1, burst=1)

    run = run_on_terminal(["-v", "run", QUERY, "--format", "json"], cortex_fake)

    assert run.returncode == 0, run.terminal
    assert json.loads(run.stdout) == selected(cortex_fake.catalog, QUERY)
    assert "\u2501" in run.terminal
    lines = visible(run.terminal)
    assert lines, run.terminal
    # Whole log lines, none glued to a stale copy of the bar, and no bar left; last, -v's
    # summary of what the run cost, whole too.
    *logs, summary = lines
    assert all(re.match(r"\d\d:\d\d:\d\d (INFO|DEBUG) ", line) for line in logs), lines
    assert any("answered 429" in line for line in logs), lines
    assert re.fullmatch(r"cortex-query: \d+ requests \(\d+ answered 429, .* polls", summary), lines


@posix_only
@needs_rich
def test_ctrl_c_on_a_terminal_clears_the_bar_and_prints_the_job_id(
    cortex_fake: FakeCortex,
) -> None:
    cortex_fake.faults.next_jobs("DONE", seconds=60)

    run = run_on_terminal(["run", QUERY], cortex_fake, interrupt_on="IN_PROGRESS")

    job = only_job(cortex_fake)
    assert run.returncode == 130, run.terminal
    assert run.stdout == ""
    assert visible(run.terminal) == [f"interrupted; resume with: cortex-query wait {job.job_id}"]


# --- serve-fake and the installed script ---


@posix_only
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_serve_fake_serves_until_a_signal(stop: signal.Signals) -> None:
    argv = [*CLI, "serve-fake", "--port", "0", "--job-seconds", "0", "--api-key", "served"]
    with Background(argv, child_env()) as server:
        url_line = server.stdout.wait_for(r"^export CORTEX_BASE_URL=(http://127\.0\.0\.1:\d+)$")
        key_line = server.stdout.wait_for(r"^export CORTEX_API_KEY=(\S+)$")
        url = url_line[1]
        assert key_line[1] == "served"

        # What the help says to do: eval the lines, then run the next command in that shell.
        query = "type = 'domain'"
        script = 'eval "$EXPORTS" && exec "$@"'
        exports = f"{url_line[0]}\n{key_line[0]}\n"
        done = subprocess.run(
            ["sh", "-c", script, "sh", *CLI, "run", query, "--format", "json"],
            capture_output=True,
            text=True,
            env=child_env(None, EXPORTS=exports),
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == selected(DEFAULT_CATALOG, query)

        server.process.send_signal(stop)
        assert server.finish(timeout=10) == 0
        log = server.stderr.text()
    assert "POST /api/v1/queries -> 200" in log
    assert "GET /api/v1/queries/" in log
    assert "Traceback" not in log
    port = int(url.rsplit(":", 1)[1])
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


def test_the_console_script_is_installed(cortex_fake: FakeCortex) -> None:
    bin_dir = Path(sys.executable).parent  # the environment's scripts, without resolving links
    script = shutil.which("cortex-query", path=str(bin_dir))
    if script is None:
        pytest.skip(f"cortex-query is not installed as a script in {bin_dir}")

    version = subprocess.run(
        [script, "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    assert version.returncode == 0, version.stderr
    assert version.stdout == f"cortex-query {__version__}\n"
    done = subprocess.run(
        [script, "run", QUERY, "--format", "csv"],
        capture_output=True,
        text=True,
        env=child_env(cortex_fake),
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert parse_csv(done.stdout) == selected(cortex_fake.catalog, QUERY)
