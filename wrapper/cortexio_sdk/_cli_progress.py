"""Progress while `cortex-query` waits: a bar on a terminal, plain lines when piped.

The bar is rich's (the `cli` extra); without rich installed, or when stderr is not a terminal,
each change of status or progress is one line on stderr.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, TextIO

from cortex_api_client.types import Unset

if TYPE_CHECKING:
    from types import TracebackType

    from cortex_api_client.models import QueryBuilderResult

__all__ = ["ProgressReporter", "percent"]


def percent(progress: float | Unset) -> float | None:
    """The job's progress as 0-100: Cortex reports a fraction; a value above 1 is a percentage."""
    if isinstance(progress, Unset | bool) or not isinstance(progress, int | float):
        return None
    value = progress * 100 if progress <= 1 else progress
    return max(0.0, min(100.0, float(value)))


class ProgressReporter:
    """Use as `on_progress=`; a context manager that clears the bar on exit."""

    def __init__(self, job_id: str, stream: TextIO | None = None, *, bar: bool | None = None):
        self.job_id = job_id
        self.stream = stream if stream is not None else sys.stderr
        wants_bar = self.stream.isatty() if bar is None else bar
        self._progress: Any = None
        self._task: Any = None
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
            console=console,
            transient=True,
            # Log lines written to stderr print above the bar; stdout is for results only,
            # so it is never redirected onto the terminal the bar is drawn on.
            redirect_stdout=False,
        )
        self._progress.start()
        self._task = self._progress.add_task(f"job {self.job_id}", total=100, status="STARTING")

    def __call__(self, state: QueryBuilderResult) -> None:
        value = percent(state.progress)
        if self._progress is not None:
            self._progress.update(
                self._task,
                completed=value if value is not None else 0,
                status=str(state.status),
            )
            return
        shown = "" if value is None else f" {value:.0f}%"
        self.stream.write(f"job {self.job_id}: {state.status}{shown}\n")
        self.stream.flush()

    def close(self) -> None:
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
