"""`cortex-query`: run Cortex CQL queries from the command line.

    cortex-query run "tag = 'payments'"            start, wait, print the entities
    echo "type = 'service'" | cortex-query run -   the query from stdin
    cortex-query run --no-wait "..."               start only; print the job id alone
    cortex-query get JOB_ID                        the job's state once (entities when DONE)
    cortex-query wait JOB_ID                       wait for a job started earlier
    cortex-query serve-fake                        the embedded fake Cortex server

Configuration: CORTEX_API_KEY and CORTEX_BASE_URL, as for the library and Cortex's own CLI;
CORTEX_RATE_LIMIT_REDIS_URL shares the key's rate limit with other processes through Redis
(with CORTEX_RATE_LIMIT_REDIS_CLUSTER=1 when it names a node of a Redis Cluster).
Results go to stdout (or --output) and nothing else does; progress and errors go to stderr.
The global options (--base-url, --allow-insecure-http, -v) go before or after the command.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, TextIO

from .._version import __version__
from ._output import FORMATS

# The client, its errors and the progress bar are imported once a command runs: `--help` and a
# mistyped option answer without loading httpx, attrs and the generated models.
if TYPE_CHECKING:
    from .._client import Cortex
    from .._exceptions import ConfigurationError

__all__ = ["EXIT_CODES", "main"]

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_JOB_FAILED = 3
EXIT_JOB_CANCELLED = 4
EXIT_JOB_TIMED_OUT = 5
EXIT_DEADLINE = 6
EXIT_API_ERROR = 7
EXIT_CONNECTION = 8
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141

EXIT_CODES = {
    EXIT_OK: "the job is DONE (or the command succeeded)",
    EXIT_ERROR: "an unexpected error (for example, the results could not be written)",
    EXIT_USAGE: "bad usage or configuration (no CORTEX_API_KEY, an --output folder missing...)",
    EXIT_JOB_FAILED: "the job ended FAILURE",
    EXIT_JOB_CANCELLED: "the job ended CANCELLED",
    EXIT_JOB_TIMED_OUT: "the job ended TIMED_OUT (Cortex's own limit)",
    EXIT_DEADLINE: "--timeout passed before the job ended (resume with `wait`)",
    EXIT_API_ERROR: "the API answered with an error (HTTP 4xx/5xx, or a body not in the spec)",
    EXIT_CONNECTION: "the API could not be reached, or did not answer in time",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C); the job id is printed to resume with `wait`",
    EXIT_BROKEN_PIPE: "stdout was closed early (for example, piped into `head`)",
}


def _global_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """The options every command takes; `suppress` for the copy after the command, so that
    one given there overrides the one before it and one not given there changes nothing."""

    def default(value: object) -> object:
        return argparse.SUPPRESS if suppress else value

    parser.add_argument(
        "--base-url",
        default=default(None),
        help="the API's base URL (default: $CORTEX_BASE_URL, else the US cloud)",
    )
    parser.add_argument(
        "--allow-insecure-http",
        action="store_true",
        default=default(False),
        help="allow a plain http base URL to a host other than this machine (sends the key "
        "unencrypted)",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=default(False),
        help="log each request, retry and wait to stderr",
    )


def build_parser() -> argparse.ArgumentParser:
    exits = "\n".join(f"  {code:>3}  {meaning}" for code, meaning in EXIT_CODES.items())
    parser = argparse.ArgumentParser(
        prog="cortex-query",
        description="Run Cortex CQL queries and print the entities they find.",
        epilog=(
            "environment: CORTEX_API_KEY (required), CORTEX_BASE_URL, CORTEX_RATE_LIMIT_REDIS_URL"
            " and CORTEX_RATE_LIMIT_REDIS_CLUSTER (need cortexio-sdk[redis])"
            f"\n\nexit codes:\n{exits}"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"cortex-query {__version__}")
    _global_options(parser, suppress=False)
    after = argparse.ArgumentParser(add_help=False)
    _global_options(after, suppress=True)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def output_options(sub: argparse.ArgumentParser, default_format: str) -> None:
        sub.add_argument("--format", choices=FORMATS, help=f"default: {default_format}")
        sub.add_argument("--output", "-o", metavar="FILE", help="write results here, not stdout")

    def wait_options(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--timeout", type=_seconds, default=600.0, help="seconds to wait (default: 600)"
        )

    run = commands.add_parser(
        "run", parents=[after], help="run a CQL query (and by default wait for it)"
    )
    run.add_argument("query", metavar="CQL", help="the query, or - to read it from stdin")
    run.add_argument(
        "--wait",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="wait for the job and print its entities (default), or only start it and print "
        "its job id (the whole job record with --format)",
    )
    wait_options(run)
    output_options(run, "table (with --no-wait: the job id alone)")

    get = commands.add_parser(
        "get", parents=[after], help="print a job's state once (its entities when DONE)"
    )
    get.add_argument("job_id", metavar="JOB_ID")
    output_options(get, "table")

    wait = commands.add_parser(
        "wait", parents=[after], help="wait for a job and print its entities"
    )
    wait.add_argument("job_id", metavar="JOB_ID")
    wait_options(wait)
    output_options(wait, "table")

    commands.add_parser(
        "serve-fake",
        help="run the embedded fake Cortex server (see serve-fake --help)",
        add_help=False,
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `cortex-query`; returns the exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["serve-fake"]:
        from ..testing import main as serve_fake  # only this command needs it

        return serve_fake(args_list[1:], prog="cortex-query serve-fake")
    parser = build_parser()
    args = parser.parse_args(args_list)
    from .._exceptions import CortexError

    _configure_logging(verbose=args.verbose)
    if args.command == "run":
        # From stdin, without the newline `echo` or a file ends with: the job's query (and the
        # server's check for the same query already running) sees the text as typed.
        args.query = sys.stdin.read().strip() if args.query == "-" else args.query
        if not args.query.strip():
            parser.error("the query is empty")
    if (problem := _unwritable(getattr(args, "output", None))) is not None:
        # Found now, not after a long wait whose results would then have nowhere to go.
        parser.error(problem)
    command = _Command(args)
    try:
        command.execute()
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, and keep Python's exit-time flush
        # of stdout from raising again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        resume = f"; resume with: cortex-query wait {command.job_id}" if command.job_id else ""
        sys.stderr.write(f"\ninterrupted{resume}\n")
        return EXIT_INTERRUPTED
    except (CortexError, ValueError, TypeError, OSError) as exc:
        sys.stderr.write(_one_line_error(exc, command.job_id) + "\n")
        return _exit_code(exc)
    return EXIT_OK


class _Command:
    """One parsed command; `job_id` is known as soon as there is a job to resume."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.job_id: str | None = getattr(args, "job_id", None)

    def execute(self) -> None:
        from .._client import Cortex

        args = self.args
        with Cortex(base_url=args.base_url, allow_insecure_http=args.allow_insecure_http) as client:
            if not args.verbose:
                self._execute(client)
                return
            # -v: what the run cost, said last (after an error too: the 429s may be why).
            tally = client._tally()
            try:
                self._execute(client)
            finally:
                sys.stderr.write(f"cortex-query: {tally.summary()}\n")

    def _execute(self, client: Cortex) -> None:
        from ._output import job_record, write_entities, write_record, write_state
        from ._progress import ProgressReporter

        args = self.args
        if args.command == "get":
            state = client.queries.get(args.job_id)
            with _output(args.output) as out:
                write_state(state, args.format or "table", out)
            return
        if args.command == "run":
            job = client.queries.run(args.query)
            self.job_id = job.job_id
            if not args.wait:
                with _output(args.output) as out:
                    if args.format is None:
                        out.write(job.job_id + "\n")  # for JOB=$(cortex-query run --no-wait)
                    else:
                        write_record(job_record(job), args.format, out)
                return
        assert self.job_id is not None
        with ProgressReporter(self.job_id) as progress:
            state = client.queries.wait(self.job_id, timeout=args.timeout, on_progress=progress)
        with _output(args.output) as out:
            write_entities(state, args.format or "table", out)


class _CurrentStderr:
    """Writes to whatever `sys.stderr` is at the time of the write.

    While the progress bar is shown, rich puts a proxy in `sys.stderr` that prints each line
    above the bar; a handler holding the original stream would write into the bar's line and
    leave the log line glued to a stale copy of the bar.
    """

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def _configure_logging(*, verbose: bool) -> None:
    """On stderr: with -v each request, retry and wait; without, warnings, and the first retry
    of a connection that could not be made (else a wrong address is seconds of silence)."""
    handler = logging.StreamHandler(_CurrentStderr())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
    if not verbose:
        handler.addFilter(_quiet_filter)
    logger = logging.getLogger("cortexio_sdk")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)


def _quiet_filter(record: logging.LogRecord) -> bool:
    if record.levelno >= logging.WARNING:
        return True
    return bool(getattr(record, "cortexio_connection_failed", False)) and (
        getattr(record, "cortexio_retry", 0) == 1
    )


# How the library's Python remedies read on the command line.
_CLI_REMEDIES = {
    "api_key": "set the CORTEX_API_KEY environment variable",
    "allow_insecure_http": "use https, or pass --allow-insecure-http",
}


def _cli_wording(exc: ConfigurationError) -> str:
    problem = exc.problem
    if problem.startswith("base_url "):
        problem = "--base-url " + problem.removeprefix("base_url ")
    remedy = _CLI_REMEDIES.get(exc.setting or "", exc.remedy)
    return f"{problem}; {remedy}" if remedy else problem


def _exit_code(exc: BaseException) -> int:
    from .._exceptions import (
        APIConnectionError,
        APIStatusError,
        ConfigurationError,
        CortexError,
        QueryCancelledError,
        QueryFailedError,
        QueryTimedOutError,
        UnexpectedResponseError,
        WaitTimeoutError,
    )

    error_exits: tuple[tuple[type[BaseException], int], ...] = (
        (QueryFailedError, EXIT_JOB_FAILED),
        (QueryCancelledError, EXIT_JOB_CANCELLED),
        (QueryTimedOutError, EXIT_JOB_TIMED_OUT),
        (WaitTimeoutError, EXIT_DEADLINE),
        (APIStatusError, EXIT_API_ERROR),
        (UnexpectedResponseError, EXIT_API_ERROR),
        (APIConnectionError, EXIT_CONNECTION),
        (ConfigurationError, EXIT_USAGE),
        (CortexError, EXIT_ERROR),
    )
    for kind, code in error_exits:
        if isinstance(exc, kind):
            return code
    return EXIT_USAGE if isinstance(exc, ValueError | TypeError) else EXIT_ERROR


def _one_line_error(exc: BaseException, job_id: str | None) -> str:
    from .._exceptions import ConfigurationError, WaitTimeoutError

    shown = _cli_wording(exc) if isinstance(exc, ConfigurationError) else str(exc)
    text = " ".join(shown.split())
    if isinstance(exc, WaitTimeoutError):
        # The library's hint is Python (`wait('...')`); say the command instead.
        text = text.replace(f"; resume with wait({exc.job_id!r})", "")
    line = f"error: {type(exc).__name__}: {text}"
    if isinstance(exc, WaitTimeoutError):
        line += f"; resume with: cortex-query wait {exc.job_id}"
    elif job_id and not isinstance(exc, ConfigurationError) and job_id not in line:
        line += f" (job {job_id})"
    return line


def _unwritable(path: str | None) -> str | None:
    """Why --output cannot be written (its folder is missing or read-only), or None."""
    if path is None or path == "-":
        return None
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        return f"--output {path}: the folder {folder} does not exist"
    if os.path.isdir(path):
        return f"--output {path}: is a folder"
    if not os.access(folder, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        return f"--output {path}: not writable"
    return None


@contextlib.contextmanager
def _output(path: str | None) -> Iterator[TextIO]:
    if path is None or path == "-":
        yield sys.stdout
        sys.stdout.flush()
        return
    with open(path, "w", encoding="utf-8", newline="") as handle:
        yield handle


def _seconds(text: str) -> float:
    from .._checks import check_number

    try:
        return check_number("seconds", float(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a positive number of seconds: {text!r}") from None
