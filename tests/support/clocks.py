"""A fake monotonic clock for code that takes ``clock=`` and ``sleep=``: time moves only when
the code sleeps, so waits and pacing show as exact sleeps and no test waits for real."""

from __future__ import annotations


class FakeClock:
    def __init__(self, ndigits: int | None = None) -> None:
        self.now = 1000.0
        self.slept: list[float] = []
        self._ndigits = ndigits  # round what is recorded (pacing subtracts floats)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds if self._ndigits is None else round(seconds, self._ndigits))
        self.now += seconds
