"""Progress while `cortex-query` waits: a bar on a terminal, plain lines when piped.

The bar is rich's (the `cli` extra); without rich installed, or when stderr is not a terminal,
each change of status or progress is one line on stderr. Between polls (up to 10 s apart) the
bar moves on at the speed the job has shown (`ProgressSpeed`, the same estimate the poll
schedule uses) and shows the time left; each poll puts it back on what the server says.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

from cortex_api_client.models import QueryStatus

from .._polling import ProgressSpeed, progress_percent

if TYPE_CHECKING:
    from types import TracebackType

    from cortex_api_client.models import QueryBuilderResult

__all__ = ["ProgressReporter"]

# How often the bar moves between polls.
TICK_SECONDS = 0.2


def time_left(seconds: float | None) -> str:
    """`about 1m05s left`, or "" when no end is predicted."""
    if seconds is None:
        return ""
    whole = max(0, round(seconds))
    minutes, secs = divmod(whole, 60)
    shown = f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
    return f"about {shown} left"


class ProgressReporter:
    """Use as `on_progress=`; a context manager that clears the bar on exit."""

    def __init__(
        self,
        job_id: str,
        stream: TextIO | None = None,
        *,
        bar: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
        tick: float = TICK_SECONDS,
    ):
        self.job_id = job_id
        self._clock = clock
        self._tick_seconds = tick
        self.stream = stream if stream is not None else sys.stderr
        wants_bar = self.stream.isatty() if bar is None else bar
        self._progress: Any = None
        self._task: Any = None
        self._speed = ProgressSpeed()
        self._status = "STARTING"
        self._ended = False  # a poll saw the job end: the estimate no longer moves the bar
        self._stop = threading.Event()
        self._lock = threading.Lock()  # the ticker thread and the poll's callback
        self._ticker: threading.Thread | None = None
        if wants_bar:
            self._start_bar()

    def _start_bar(self) -> None:
        try:
            from rich.console import Console  # noqa: PLC0415 - optional extra
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn  # noqa: PLC0415
        except ImportError:
            return
        console = Console(file=self.stream, force_terminal=True)
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>5.1f}%"),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[left]}"),
            console=console,
            transient=True,
            # Log lines written to stderr print above the bar; stdout is for results only,
            # so it is never redirected onto the terminal the bar is drawn on.
            redirect_stdout=False,
        )
        self._progress.start()
        self._task = self._progress.add_task(
            f"job {self.job_id}", total=100, status=self._status, left=""
        )
        self._ticker = threading.Thread(
            target=self._tick, name="cortex-query-progress", daemon=True
        )
        self._ticker.start()

    def _tick(self) -> None:
        while not self._stop.wait(self._tick_seconds):
            self._redraw(self._clock())

    def _redraw(self, now: float) -> None:
        """Put the bar where the job should be at `now`, with the time left."""
        # Under the lock to the end: a tick computed before a poll must not draw after it.
        with self._lock:
            progress = self._progress
            if progress is None or self._ended:
                return
            estimate = self._speed.estimate(now)
            end = self._speed.predicted_end()
            progress.update(
                self._task,
                completed=0 if estimate is None else estimate * 100,
                status=self._status,
                left=time_left(None if end is None else end - now),
            )

    def __call__(self, state: QueryBuilderResult) -> None:
        value = progress_percent(state.progress)
        if self._progress is not None:
            now = self._clock()
            with self._lock:
                self._status = str(state.status)
                # The speed is kept in fractions, whichever unit the job reported in.
                self._speed.observe(None if value is None else value / 100, now)
                self._ended = state.status == QueryStatus.DONE or (value or 0) >= 100
                if self._ended:
                    self._progress.update(
                        self._task, completed=value or 100, status=self._status, left=""
                    )
            if not self._ended:
                self._redraw(now)
            return
        shown = "" if value is None else f" {value:.0f}%"
        self.stream.write(f"job {self.job_id}: {state.status}{shown}\n")
        self.stream.flush()

    def close(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
            self._ticker = None
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def __enter__(self) -> ProgressReporter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
