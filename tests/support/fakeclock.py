"""A clock a test moves by hand (`clock.now += 2`): pass it wherever the SDK takes `clock=`."""

from __future__ import annotations


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now
