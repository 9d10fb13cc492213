"""The progress the CLI shows while it waits, on a fake clock: the estimate between polls."""

from __future__ import annotations

import io
import re

import pytest
from cortexio_sdk._polling import ProgressSpeed
from cortexio_sdk.cli._progress import ProgressReporter, time_left
from fakeclock import FakeClock
from harness import job_state


def test_the_speed_predicts_the_end_and_the_fraction_between_observations() -> None:
    speed = ProgressSpeed()
    assert speed.predicted_end() is None
    speed.observe(0.2, 10.0)
    assert speed.predicted_end() is None  # one point is no speed
    assert speed.estimate(11.0) == 0.2
    speed.observe(0.4, 12.0)

    assert speed.fraction_per_second() == pytest.approx(0.1)
    assert speed.predicted_end() == pytest.approx(18.0)
    assert speed.estimate(14.0) == pytest.approx(0.6)
    assert speed.estimate(60.0) == 0.99  # never done until a poll says so

    speed.observe(0.4, 13.0)  # no longer rising: no prediction
    assert speed.predicted_end() is None
    speed.observe(0.6, 14.0)  # rising again
    assert speed.predicted_end() is not None
    speed.observe(1.0, 15.0)  # 1.0 while not DONE: no prediction either
    assert speed.predicted_end() is None


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(None, ""), (0.2, "about 0s left"), (5.4, "about 5s left"), (65, "about 1m05s left")],
)
def test_time_left(seconds: float | None, shown: str) -> None:
    assert time_left(seconds) == shown


def rendered(reporter: ProgressReporter) -> str:
    """The bar's current line, as the terminal would show it."""
    stream = reporter.stream
    assert isinstance(stream, io.StringIO)
    stream.seek(0)
    stream.truncate()
    reporter._progress.refresh()
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", stream.getvalue())


def test_the_bar_moves_between_polls_and_shows_the_time_left() -> None:
    pytest.importorskip("rich")
    clock = FakeClock(100.0)
    with ProgressReporter("job-1", io.StringIO(), bar=True, clock=clock, tick=3600) as reporter:
        reporter(job_state("IN_PROGRESS", 0.2))
        clock.now += 2
        reporter(job_state("IN_PROGRESS", 0.4))  # 0.1 a second: done at 106
        assert " 40.0%" in rendered(reporter)
        assert "about 6s left" in rendered(reporter)

        clock.now += 3  # no poll in between; the ticker's redraw:
        reporter._redraw(clock.now)
        line = rendered(reporter)
        assert " 70.0%" in line
        assert "about 3s left" in line

        reporter(job_state("DONE", 1.0))
        reporter._redraw(clock.now + 10)  # a late tick must not pull a finished bar back
        line = rendered(reporter)
        assert "100.0%" in line
        assert "DONE" in line
        assert "left" not in line


def test_piped_progress_is_one_line_per_change_in_percent() -> None:
    out = io.StringIO()
    with ProgressReporter("job-1", out, bar=False) as reporter:
        reporter(job_state("IN_PROGRESS", 0.134))
        reporter(job_state("DONE", 1.0))
    assert out.getvalue() == "job job-1: IN_PROGRESS 13%\njob job-1: DONE 100%\n"


def test_a_job_reporting_a_percentage_shows_it_on_the_bar() -> None:
    pytest.importorskip("rich")
    clock = FakeClock(100.0)
    with ProgressReporter("job-1", io.StringIO(), bar=True, clock=clock, tick=3600) as reporter:
        reporter(job_state("IN_PROGRESS", 40))  # a percentage, not a fraction
        assert " 40.0%" in rendered(reporter)
        clock.now += 2
        reporter(job_state("IN_PROGRESS", 60))  # 10 points a second: 4 s left
        line = rendered(reporter)
        assert " 60.0%" in line
        assert "about 4s left" in line
