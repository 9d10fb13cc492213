"""`python -m cortexio_sdk.testing`: serve the fake Cortex Queries API until Ctrl-C or SIGTERM.

`main(argv, prog=...)` is also what `cortex-query serve-fake` runs.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any

from ._catalog import load_catalog
from ._faults import RETRY_AFTER_IN, SHAPES, split_rate
from ._server import FakeCortex

__all__ = ["build_parser", "main"]


def _rate(text: str) -> tuple[float, float]:
    """(count, seconds of its unit): a window shape takes the unit as its window."""
    try:
        return split_rate(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _burst(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of requests: {text!r}") from None
    if not 1 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be at least 1 request, got {text}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0 seconds, got {text}")
    return value


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog or "python -m cortexio_sdk.testing",
        description=(
            "Serve a fake Cortex Queries API on 127.0.0.1 (POST /api/v1/queries, "
            "GET /api/v1/queries/{jobId}) with a sample catalog. Prints "
            "`export CORTEX_BASE_URL=...` and `export CORTEX_API_KEY=...` on stdout (for "
            'eval "$(...)"), then serves until Ctrl-C.'
        ),
    )
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0: any free one)")
    parser.add_argument("--api-key", default="test-key", help="the bearer token it accepts")
    parser.add_argument(
        "--job-seconds",
        type=_seconds,
        default=3.0,
        metavar="S",
        help="how long each job runs before it is DONE (default 3)",
    )
    parser.add_argument(
        "--rate-limit",
        type=_rate,
        metavar="RATE",
        help=(
            "a rate limit such as 10/s or 600/min; over it: 429 with Retry-After. For a window "
            "shape the unit is the window: 600/min is 600 per 60 s window"
        ),
    )
    parser.add_argument(
        "--burst",
        type=_burst,
        metavar="N",
        help="token bucket only: requests allowed at once (default: 1 s worth)",
    )
    parser.add_argument(
        "--rate-limit-shape",
        choices=SHAPES,
        help="how the limit counts (default token-bucket)",
    )
    parser.add_argument(
        "--retry-after-in",
        choices=RETRY_AFTER_IN,
        help=(
            "where a 429 says how long to wait: the Retry-After header (default) or only the "
            "problem+json body's retryAfter"
        ),
    )
    parser.add_argument(
        "--catalog", metavar="FILE", help="a JSON list of entities (name, tag, type, description)"
    )
    parser.add_argument(
        "--job-status",
        metavar="STATUS",
        help="every job ends with this status (FAILURE, CANCELLED, TIMED_OUT...) instead of DONE",
    )
    parser.add_argument(
        "--unknown-enums",
        action="store_true",
        help="send a status (PAUSED) and an error type the spec does not list",
    )
    parser.add_argument("--quiet", action="store_true", help="no request log on stderr")
    return parser


def main(argv: Sequence[str] | None = None, *, prog: str | None = None) -> int:
    """Run the fake until interrupted; returns the exit status (0, or 2 for bad arguments)."""
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    limit = _rate_limit_options(parser, args)
    try:
        catalog = load_catalog(args.catalog) if args.catalog else None
        fake = FakeCortex(
            api_key=args.api_key,
            port=args.port,
            job_seconds=args.job_seconds,
            catalog=catalog,
            **limit,
        )
    except (OSError, ValueError) as exc:
        parser.error(str(exc))
    if args.job_status:
        fake.faults.next_jobs(args.job_status, count=None)
    if args.unknown_enums:
        fake.faults.unknown_enums()
    handler: logging.Handler | None = None
    stop = threading.Event()
    restore = _on_sigterm(stop)
    try:
        try:
            fake.start()
        except OSError as exc:
            print(f"cannot listen on 127.0.0.1:{args.port}: {exc}", file=sys.stderr)
            return 1
        if not args.quiet:
            # After start(): the line below says where it listens, once.
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
            logging.getLogger("cortexio_sdk.testing").addHandler(handler)
            logging.getLogger("cortexio_sdk.testing").setLevel(logging.INFO)
        try:
            for name in ("CORTEX_BASE_URL", "CORTEX_API_KEY"):
                print(f"export {name}={shlex.quote(fake.env[name])}", flush=True)
            print(
                f"fake Cortex Queries API on {fake.base_url} "
                f"({fake.faults.describe_rate_limit()}); Ctrl-C to stop",
                file=sys.stderr,
            )
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            fake.stop()
        return 0
    finally:
        restore()
        if handler is not None:
            logging.getLogger("cortexio_sdk.testing").removeHandler(handler)


def _rate_limit_options(
    parser: argparse.ArgumentParser, args: argparse.Namespace
) -> dict[str, Any]:
    """FakeCortex's rate limit keywords from the flags; a usage error (exit 2) naming the flag
    for a combination that makes no sense."""
    if args.rate_limit is None:
        for flag, value in [
            ("--burst", args.burst),
            ("--rate-limit-shape", args.rate_limit_shape),
            ("--retry-after-in", args.retry_after_in),
        ]:
            if value is not None:
                parser.error(f"{flag} needs --rate-limit")
        return {}
    count, unit = args.rate_limit
    shape = args.rate_limit_shape or "token-bucket"
    options: dict[str, Any] = {
        "rate_limit": count / unit,
        "shape": shape,
        "retry_after_in": args.retry_after_in or "header",
    }
    if shape == "token-bucket":
        options["burst"] = args.burst
        return options
    if args.burst is not None:
        parser.error(f"--burst is for --rate-limit-shape token-bucket only, not {shape}")
    if not float(count).is_integer():
        parser.error(
            f"--rate-limit: a {shape} limit needs a whole number of requests per window "
            f"(the unit: /s, /min or /h), got {count:g}"
        )
    options["window"] = unit
    return options


def _on_sigterm(stop: threading.Event) -> Callable[[], None]:
    """SIGTERM sets `stop` (a clean exit, as for Ctrl-C); returns how to restore the old handler."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handle(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, handle)

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)

    return restore
