"""Progress lines for the stages that take a while: what is done out of how many, and an estimate of the time left.

They go through the standard `logging` module, so the core needs no Dagster: the instance's dagster.yaml names the
`instr_assets` loggers under `python_logs`, and Dagster copies their records into the run's log while a step runs.
"""
from __future__ import annotations

import logging
import time

# At most one line per this many seconds between the first and the last (read when a line is due, so tests can
# lower it).
EVERY_SECONDS = 10.0


def progress_line(what: str, done: int, total: int, unit: str, elapsed: float) -> str:
    """`cleaned_pairs: 1200/5000 pairs (24%), 31 s so far, about 98 s left`; no estimate before the first item."""
    share = f" ({100 * done // total}%)" if total else ""
    line = f"{what}: {done}/{total} {unit}{share}, {elapsed:.0f} s so far"
    if done >= total:
        return f"{what}: {done}/{total} {unit} done in {elapsed:.1f} s"
    if done == 0:
        return line
    return f"{line}, about {elapsed / done * (total - done):.0f} s left"


class Progress:
    """Counts work done and logs a progress line: at the start, then at most every EVERY_SECONDS, and at the end."""

    def __init__(self, log: logging.Logger, what: str, total: int, unit: str, clock=time.monotonic):
        self.log, self.what, self.total, self.unit, self.clock = log, what, total, unit, clock
        self.done = 0
        self.started = self.last = clock()
        self._emit(self.started)

    def advance(self, n: int = 1) -> None:
        self.done += n
        now = self.clock()
        if self.done >= self.total or now - self.last >= EVERY_SECONDS:
            self._emit(now)

    def _emit(self, now: float) -> None:
        self.last = now
        self.log.info(progress_line(self.what, self.done, self.total, self.unit, now - self.started))
