"""A one-line progress display: step/total, named values, items/s and ETA."""
from __future__ import annotations

import sys
import time


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else \
        f"{seconds // 60}:{seconds % 60:02d}"


class RunClock:
    """Elapsed time and ETA of a whole run of ``total`` steps (across many Progress lines)."""

    def __init__(self, total: int):
        self.total, self.done = int(total), 0
        self.start = time.perf_counter()

    def describe(self) -> str:
        elapsed = time.perf_counter() - self.start
        eta = elapsed / self.done * (self.total - self.done) if self.done else 0.0
        return f"run {_clock(elapsed)} elapsed, ETA {_clock(eta)}"


class Progress:
    """Print ``label step/total  loss=...  1234 img/s  ETA 0:12`` on one updating line
    (and, given the ``run``'s clock, the whole run's elapsed time and ETA after it).

    On a terminal the line is redrawn in place (carriage return); otherwise
    (CI logs, files) a line is printed at the end and, for long loops, every
    ``every`` steps or every ``seconds`` seconds, whichever comes first --
    so a log holds about one line per epoch, not hundreds.
    """

    def __init__(self, total: int, label: str = "", every: int | None = None, stream=None,
                 seconds: float = 15.0, run: RunClock | None = None, unit: str = "img"):
        self.total = int(total)
        self.label = label
        self.stream = stream or sys.stdout
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.every = every or self.total
        self.seconds = seconds
        self.start = self.last = time.perf_counter()
        self.items = 0
        self.run, self.step = run, 0  # run: the whole run's clock, shown after this loop's ETA
        self.unit = unit  # what ``items`` counts: "img" (images), "char" (characters) ...

    def update(self, step: int, items: int = 0, **values) -> None:
        """Report that ``step`` (1-based) of ``total`` is done, having processed ``items`` more items."""
        self.items += items
        if self.run is not None:
            self.run.done += step - self.step
        self.step = step
        now = time.perf_counter()
        if not (self.tty or step % self.every == 0 or step == self.total or now - self.last >= self.seconds):
            return
        self.last = now
        elapsed = now - self.start
        rate = self.items / elapsed if elapsed > 0 else 0.0
        eta = elapsed / step * (self.total - step) if step else 0.0
        shown = "  ".join(f"{k}={v:.4g}" for k, v in values.items())
        line = (f"{self.label} {step}/{self.total}  {shown}  {rate:,.0f} {self.unit}/s  "
                f"ETA {_clock(eta)}" + (f"  ({self.run.describe()})" if self.run is not None else ""))
        end = "\n" if (not self.tty or step == self.total) else ""
        self.stream.write(("\r" if self.tty else "") + line + end)
        self.stream.flush()
